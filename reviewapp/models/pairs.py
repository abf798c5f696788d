"""Pair -> Assignment -> Judgment, and which output is on the left."""

import hashlib

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from reviewapp.models.experiments import Dimension, Experiment


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
    # In the calibration set: every reviewer gets it first, beyond reviews_per_pair. Kept
    # by experiments.recount_pairs from the experiment's `calibration_pairs`.
    # A database default too, so rows written by hand-written SQL (COPY imports, benches,
    # tests) need not name the column.
    calibration = models.BooleanField(default=False, db_default=False, editable=False)

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
            models.Index(
                fields=["experiment"], condition=Q(calibration=True), name="pair_calibration"
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
    # No index of its own: (experiment, reviewer, status) and the unique (pair, reviewer,
    # repeat) serve every lookup, and a reviewer-only index tempts PostgreSQL into scanning all of
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
    # A swapped repeat (repeats.py): the same reviewer's second showing of a pair they
    # answered, sides swapped. Takes no slot and never counts in the results.
    repeat = models.BooleanField(default=False, db_default=False)
    # On an original picked to come back: the reviewer's claim number from which its
    # repeat is due; cleared when the repeat is given (or the original is not answered).
    repeat_due_at = models.PositiveIntegerField(null=True, blank=True)
    # Was output A (B) acceptable, in content terms like the choices; null when the
    # experiment did not ask. One answer per output, so here rather than per dimension.
    a_acceptable = models.BooleanField(null=True)
    b_acceptable = models.BooleanField(null=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            # A reviewer never gets the same pair twice, except once on purpose (a repeat).
            models.UniqueConstraint(
                fields=["pair", "reviewer", "repeat"], name="assignment_once_per_reviewer"
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
            models.Index(
                fields=["experiment", "reviewer", "repeat_due_at"],
                condition=Q(repeat_due_at__isnull=False),
                name="assignment_repeats_due",
            ),
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
