"""Experiments and who takes part in them: Experiment, its invites, memberships and rubric."""

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
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
    # The Tulu 1 protocol (Wang et al. 2023): beside the preference, is each output usable
    # at all? A tie cannot tell "both good" from "both unusable"; this can.
    ask_acceptable = models.BooleanField(
        default=False, help_text="Also ask, for each output, whether it is acceptable."
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
    margin = models.FloatField(
        default=0.05,
        help_text="Non-inferiority margin (0 to 0.25): X counts as not worse than Y when its "
        "win rate is shown to be above 50 % minus this.",
    )
    tag_field = models.CharField(
        max_length=200,
        blank=True,
        help_text="Optional: a pair metadata field (e.g. category) to break results down by.",
    )

    class Strategy(models.TextChoices):
        SPREAD = "spread", "Spread: fewest reviews first"
        COMPLETE = "complete", "Complete pairs first: most reviews (below k) first"

    # Which slot level the queue serves first (assignment.py states the rule).
    assignment_strategy = models.CharField(
        max_length=10, choices=Strategy.choices, default=Strategy.SPREAD
    )
    calibration_pairs = models.PositiveIntegerField(
        default=0,
        help_text="The first N pairs uploaded go to every reviewer before anything else.",
    )
    repeat_rate = models.FloatField(
        default=0.0,
        help_text="Share of each reviewer's pairs shown to them again later, sides swapped "
        "(0 to 0.5); repeats measure consistency and never count in the results.",
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
            models.CheckConstraint(
                condition=Q(margin__gte=0) & Q(margin__lte=0.25), name="experiment_margin_0_to_0_25"
            ),
            models.CheckConstraint(
                condition=Q(assignment_strategy__in=["spread", "complete"]),
                name="experiment_assignment_strategy_valid",
            ),
            models.CheckConstraint(
                condition=Q(repeat_rate__gte=0) & Q(repeat_rate__lte=0.5),
                name="experiment_repeat_rate_0_to_half",
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
    # An invited participant resumes with the code they were given on joining (invites.py),
    # never with their id alone: ids are often guessable. Stored as its SHA-256.
    resume_code_hash = models.CharField(max_length=64, blank=True, editable=False)
    # Removed by the owner: gets no more pairs; their judgments stay (counted unless excluded).
    removed_at = models.DateTimeField(null=True, blank=True)
    # Pairs the review queue has given this member (any outcome). It seeds where each
    # claim starts and paces the gold pairs (assignment.py): read with the member's row
    # lock, so a claim never counts the member's history.
    claims = models.PositiveIntegerField(default=0, editable=False)
    # Of those, regular pairs given for the first time (not gold, not a repeat): they pace
    # the swapped repeats (repeats.py), as `claims` paces the gold pairs.
    originals = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        # By the columns, not through the relations: "experiment" would order by the
        # experiment's own ordering, joining (and, under select_for_update, locking) its
        # row in every membership query. Newest experiment first, as that ordering gave.
        ordering = ["-experiment_id", "user_id"]
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
        ordering = ["-experiment_id", "position"]  # the columns: no join (see Membership)
        constraints = [
            models.UniqueConstraint(fields=["experiment", "name"], name="dimension_unique_name"),
            models.UniqueConstraint(
                fields=["experiment", "position"], name="dimension_unique_position"
            ),
            models.CheckConstraint(condition=~Q(name=""), name="dimension_name_not_empty"),
        ]

    def __str__(self) -> str:
        return self.name
