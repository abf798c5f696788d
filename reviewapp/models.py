"""The data, in the order it flows: Experiment -> Pair -> Assignment -> Judgment.

Choices are stored in content terms (A/B/tie); the screen side lives only on the
Assignment (`left_is_a`), so the clicked side can always be reconstructed.
"""

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.urls import reverse

DEFAULT_DIMENSIONS = ["overall", "accuracy", "relevance", "style", "usefulness"]


def new_seed() -> int:
    # Fits a signed 64-bit column on every database.
    return secrets.randbelow(2**62)


def new_review_key() -> str:
    # The web review pages' URLs carry this instead of the slug, which owners often
    # write with model names in it.
    return secrets.token_urlsafe(9)


class Experiment(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    class RenderMode(models.TextChoices):
        MARKDOWN = "markdown", "Markdown (GitHub-style, line breaks kept)"
        PLAIN = "plain", "Plain text (shown as written)"

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    # What reviewers see instead of the name (which may name the models); empty means
    # a neutral "Comparison <id>".
    reviewer_title = models.CharField(max_length=200, blank=True)
    review_key = models.CharField(max_length=20, unique=True, default=new_review_key)
    render_mode = models.CharField(
        max_length=10, choices=RenderMode.choices, default=RenderMode.MARKDOWN
    )
    instructions = models.TextField(blank=True, help_text="Markdown shown to reviewers.")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_experiments"
    )
    reviewers = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="review_experiments",
        through="Membership",
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    reviews_per_pair = models.PositiveSmallIntegerField(default=3)
    allow_ties = models.BooleanField(default=True)
    require_rationale = models.BooleanField(default=False)
    ask_strength = models.BooleanField(
        default=False, help_text="Also ask whether the preference is slight or clear."
    )
    baseline_model = models.CharField(max_length=200, blank=True)
    seed = models.BigIntegerField(default=new_seed)
    # Other owners who may see and manage this experiment.
    shared_with = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="shared_experiments"
    )
    gold_rate = models.FloatField(
        default=0.1, help_text="Share of each reviewer's pairs drawn from the gold pairs."
    )
    too_fast_seconds = models.FloatField(
        default=5.0, help_text="Reviewers whose median seconds per pair is lower are flagged."
    )
    # Regular and gold pairs, counted by the upload stage when an import commits, so the
    # review screen does not count the experiment's pairs on every request.
    pair_count = models.PositiveIntegerField(default=0, editable=False)
    gold_pair_count = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["draft", "open", "closed"]),
                name="experiment_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(render_mode__in=["markdown", "plain"]),
                name="experiment_render_mode_valid",
            ),
            models.CheckConstraint(
                condition=Q(reviews_per_pair__gte=1) & Q(reviews_per_pair__lte=100),
                name="experiment_reviews_per_pair_1_to_100",
            ),
            models.CheckConstraint(
                condition=Q(gold_rate__gte=0) & Q(gold_rate__lte=1),
                name="experiment_gold_rate_0_to_1",
            ),
            models.CheckConstraint(
                condition=Q(too_fast_seconds__gte=0), name="experiment_too_fast_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("owner-experiment", args=[self.slug])

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.OPEN

    @property
    def title_for_reviewers(self) -> str:
        """The only name of the experiment a reviewer ever sees (page titles, headings,
        their home list, invite pages): the owner's reviewer-facing title, or a neutral
        "Comparison <id>". Never the name or slug, which tend to name the models."""
        return self.reviewer_title or f"Comparison {self.pk}"


def new_invite_token() -> str:
    return secrets.token_urlsafe(24)


def new_completion_code() -> str:
    return secrets.token_hex(4).upper()


class InviteLink(models.Model):
    """A secret link that lets external reviewers (crowd workers) join without an account."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="invites")
    label = models.CharField(max_length=100, blank=True)
    token = models.CharField(max_length=64, unique=True, default=new_invite_token)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    max_reviewers = models.PositiveIntegerField(
        null=True, blank=True, help_text="How many reviewers may join through this link."
    )
    quota = models.PositiveIntegerField(
        null=True, blank=True, help_text="Pairs each reviewer from this link reviews."
    )
    completion_code = models.CharField(max_length=40, default=new_completion_code)
    completion_url = models.URLField(
        max_length=500, blank=True, help_text="Where finished reviewers are sent, e.g. Prolific's."
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(max_reviewers__isnull=True) | Q(max_reviewers__gte=1),
                name="invite_max_reviewers_positive",
            ),
            models.CheckConstraint(
                condition=Q(quota__isnull=True) | Q(quota__gte=1), name="invite_quota_positive"
            ),
        ]

    def __str__(self) -> str:
        return self.label or f"Invite link {self.pk}"


class Membership(models.Model):
    """A reviewer's place in one experiment: invited, human or automatic, excluded or not."""

    class Kind(models.TextChoices):
        HUMAN = "human", "Human"
        AUTOMATIC = "automatic", "Automatic judge"

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.HUMAN)
    # Excluded reviewers' judgments stay stored and exported but leave the statistics.
    excluded = models.BooleanField(default=False)
    joined_at = models.DateTimeField(auto_now_add=True)
    # External reviewers: who they are on the crowd platform, how they came, how much to do.
    participant_id = models.CharField(max_length=200, blank=True)
    invite = models.ForeignKey(
        InviteLink, null=True, blank=True, on_delete=models.SET_NULL, related_name="members"
    )
    quota = models.PositiveIntegerField(null=True, blank=True)
    # What the crowd platform passed along (e.g. STUDY_ID, SESSION_ID, hitId), for the audit.
    platform_data = models.JSONField(default=dict, blank=True)
    # Removed by the owner: gets no more pairs; their judgments stay (counted unless excluded).
    removed_at = models.DateTimeField(null=True, blank=True)
    # Pairs the review queue has given this member (any outcome). It seeds where each
    # claim starts and paces the gold pairs (assignment.py): read with the member's row
    # lock, so a claim never counts the member's history.
    claims = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["experiment", "user"]
        constraints = [
            models.UniqueConstraint(fields=["experiment", "user"], name="membership_once"),
            # The same participant coming back is the same reviewer, never a second one.
            models.UniqueConstraint(
                fields=["experiment", "participant_id"],
                condition=~Q(participant_id=""),
                name="membership_one_per_participant",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=["human", "automatic"]), name="membership_kind_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.experiment}"


class Dimension(models.Model):
    """A rubric dimension; judgments point here, so renaming keeps them attached."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="dimensions")
    name = models.CharField(max_length=60)
    position = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["experiment", "position"]
        constraints = [
            models.UniqueConstraint(fields=["experiment", "name"], name="dimension_unique_name"),
            models.UniqueConstraint(
                fields=["experiment", "position"], name="dimension_unique_position"
            ),
            models.CheckConstraint(condition=~Q(name=""), name="dimension_name_not_empty"),
        ]

    def __str__(self) -> str:
        return self.name


class Pair(models.Model):
    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="pairs")
    external_id = models.CharField(max_length=200)
    prompt = models.TextField()
    model_a = models.CharField(max_length=200)
    output_a = models.TextField(blank=True)
    model_b = models.CharField(max_length=200)
    output_b = models.TextField(blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    # Gold pairs are attention checks with a known answer: {dimension name: "A"|"B"|"tie"}.
    # Every reviewer may get them; they never count in the preference statistics.
    is_gold = models.BooleanField(default=False)
    gold = models.JSONField(default=dict, blank=True)
    # Assignments currently holding a slot (submitted, or shown with a live lease).
    # Kept by assignment.py under a row lock; it orders "fewest reviews first".
    slots_taken = models.PositiveIntegerField(default=0)
    # Possible identity leaks found in the prompt or outputs (a model's name, a
    # self-identification), as leaks.Leak.as_dict() gives them: [{"field": "output_a",
    # "match": "...", "context": "...", "kind": "model", "model": "..."}].
    leak_flags = models.JSONField(default=list, blank=True)
    # The owner saw this pair's flags and chose to keep it in review; new flags (after a
    # later upload adds a model) ask again.
    leak_kept = models.BooleanField(default=False)
    # Kept out of review by the owner (e.g. a flagged leak); never assigned.
    excluded = models.BooleanField(default=False)
    # The owner's own note (e.g. why reviewers disagree here); never shown to reviewers.
    owner_note = models.TextField(blank=True)
    # Random per pair (from the experiment seed); mixed with the reviewer to give
    # each reviewer its own reproducible order.
    shuffle_key = models.BigIntegerField(default=0)

    # The fields a pair upload fills from the file. The upload parser's row type, the
    # import's written columns (both writers) and the "uploaded again: same pair?"
    # comparison all derive from this list, so a new upload column is one more name here
    # (and the parser reading it); every column left out keeps its field default.
    UPLOAD_FIELDS = (
        "external_id", "prompt", "model_a", "output_a", "model_b", "output_b", "metadata",
        "is_gold", "gold",
    )  # fmt: skip

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["experiment", "external_id"], name="pair_unique_external_id"
            ),
            models.CheckConstraint(condition=~Q(model_a=F("model_b")), name="pair_models_differ"),
            models.CheckConstraint(
                condition=~Q(model_a="") & ~Q(model_b=""), name="pair_model_names_not_empty"
            ),
            models.CheckConstraint(condition=~Q(external_id=""), name="pair_external_id_not_empty"),
        ]
        indexes = [
            models.Index(
                fields=["experiment", "is_gold", "slots_taken", "shuffle_key"], name="pair_queue"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.experiment.slug}/{self.external_id}"


class Assignment(models.Model):
    """One pair shown to one reviewer, with the side each output was shown on."""

    class Status(models.TextChoices):
        SHOWN = "shown", "Shown"
        SUBMITTED = "submitted", "Submitted"
        SKIPPED = "skipped", "Skipped"
        EXPIRED = "expired", "Lease expired"

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="assignments")
    pair = models.ForeignKey(Pair, on_delete=models.CASCADE, related_name="assignments")
    # No index of its own: (experiment, reviewer, status) and the unique (pair, reviewer)
    # serve every lookup, and a reviewer-only index tempts PostgreSQL into scanning all of
    # a reviewer's assignments for every candidate pair.
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="assignments",
        db_index=False,
    )
    # True when output A was shown on the left; null only for judgments imported from
    # elsewhere whose screen side is unknown.
    left_is_a = models.BooleanField(null=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SHOWN)
    shown_at = models.DateTimeField()
    submitted_at = models.DateTimeField(null=True, blank=True)
    rationale = models.TextField(blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            # A reviewer never gets the same pair twice.
            models.UniqueConstraint(
                fields=["pair", "reviewer"], name="assignment_once_per_reviewer"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["shown", "submitted", "skipped", "expired"]),
                name="assignment_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(status="submitted", submitted_at__isnull=False)
                | ~Q(status="submitted"),
                name="assignment_submitted_has_time",
            ),
        ]
        indexes = [
            models.Index(
                fields=["experiment", "reviewer", "status"], name="assignment_by_reviewer"
            ),
            models.Index(fields=["experiment", "status", "shown_at"], name="assignment_leases"),
        ]

    def __str__(self) -> str:
        return f"{self.reviewer} on {self.pair}"

    def shown_outputs(self) -> tuple[str, str]:
        """The pair's outputs as this reviewer saw them: (left text, right text)."""
        return left_and_right(self.left_is_a, self.pair.output_a, self.pair.output_b)

    @property
    def left_model(self) -> str:
        """The model whose output was on the left; "" when the side is unknown."""
        return left_and_right(self.left_is_a, self.pair.model_a, self.pair.model_b)[0] or ""

    @property
    def seconds_on_pair(self) -> float | None:
        if self.submitted_at is None:
            return None
        return (self.submitted_at - self.shown_at).total_seconds()


class Judgment(models.Model):
    class Choice(models.TextChoices):
        A = "A", "Output A"
        B = "B", "Output B"
        TIE = "tie", "Tie"

    class Strength(models.TextChoices):
        NONE = "", "Not asked"
        SLIGHT = "slight", "Slightly better"
        CLEAR = "clear", "Clearly better"

    assignment = models.ForeignKey(Assignment, on_delete=models.CASCADE, related_name="judgments")
    dimension = models.ForeignKey(Dimension, on_delete=models.PROTECT, related_name="judgments")
    choice = models.CharField(max_length=3, choices=Choice.choices)
    strength = models.CharField(max_length=6, choices=Strength.choices, blank=True, default="")

    class Meta:
        ordering = ["assignment", "dimension__position"]
        constraints = [
            models.UniqueConstraint(
                fields=["assignment", "dimension"], name="judgment_once_per_dimension"
            ),
            models.CheckConstraint(
                condition=Q(choice__in=["A", "B", "tie"]), name="judgment_choice_valid"
            ),
            models.CheckConstraint(
                condition=Q(strength__in=["", "slight", "clear"]), name="judgment_strength_valid"
            ),
            models.CheckConstraint(
                condition=~Q(choice="tie") | Q(strength=""), name="judgment_tie_has_no_strength"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.assignment} {self.dimension}: {self.choice}"


def left_and_right(left_is_a: bool | None, a, b) -> tuple:
    """Which output is on the left, defined once: a pair's A and B values (outputs, model
    names, choices) in screen order, (left, right). (None, None) when the side is unknown
    (judgments imported from a tool that did not record it)."""
    if left_is_a is None:
        return None, None
    return (a, b) if left_is_a else (b, a)


def pair_shuffle_key(seed: int, external_id: str) -> int:
    """A reproducible random key per pair, from the experiment seed (56 bits, non-negative)."""
    digest = hashlib.blake2b(f"{seed}:{external_id}".encode(), digest_size=7).digest()
    return int.from_bytes(digest, "big")


class ApiToken(models.Model):
    """A bearer token for the JSON API. Only its SHA-256 is stored; the token itself is
    shown once, when it is created."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100, blank=True)
    key_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(
        max_length=12, help_text="The token's first characters, to tell tokens apart."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"


class UploadJob(models.Model):
    """A pairs upload checked or imported in the background (upload_jobs.py). Its live
    progress is in a file beside the upload, not here: an import is one transaction, and
    rows written inside it are invisible to anyone else until it commits."""

    class Kind(models.TextChoices):
        CHECK = "check", "Check"
        IMPORT = "import", "Import"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="upload_jobs")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    token = models.CharField(max_length=64)  # the pending upload's file
    file_name = models.CharField(max_length=255, blank=True)
    file_bytes = models.BigIntegerField(default=0)
    pairing = models.CharField(max_length=10, default="all")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The preview (check) or what was imported (import): ImportResult's figures.
    result = models.JSONField(default=dict, blank=True)
    # The refusal: the first problems in full ({"row", "column", "message"}), all counted.
    errors = models.JSONField(default=list, blank=True)
    total_errors = models.PositiveIntegerField(default=0)
    message = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=["check", "import"]), name="upload_job_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["queued", "running", "done", "failed"]),
                name="upload_job_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of {self.file_name} ({self.status})"
