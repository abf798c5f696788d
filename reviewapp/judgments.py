"""Recording a reviewer's answer for one assignment, idempotently.

The reviewer answers in screen terms (left / right / tie); it is stored in content
terms (A / B / tie) using the side recorded on the assignment.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from .access import (
    ReviewerMembership,
    get_membership,
    member_columns,
    member_filter,
    rubric_columns,
    rubric_of,
)
from .models import Assignment, Dimension, Experiment, Judgment, Pair, left_and_right
from .slots import take_slot

SCREEN_CHOICES = ("left", "right", "tie")


class SubmissionRefused(Exception):
    """A submission that cannot be recorded; the message is meant for the reviewer.
    `errors` (code "invalid") are the field errors of validate_answers."""

    def __init__(self, code: str, message: str, errors: dict[str, str] | None = None):
        super().__init__(message)
        self.code = code
        self.errors = errors or {}


@dataclass(frozen=True)
class Answer:
    choice: str  # left / right / tie
    strength: str = ""  # "", slight, clear


@dataclass(frozen=True)
class Acceptability:
    """Whether each output, as shown (left / right), is acceptable; None: not answered."""

    left: bool | None = None
    right: bool | None = None


@dataclass(frozen=True)
class SubmitOutcome:
    assignment: Assignment
    already_recorded: bool


def content_choice(screen_choice: str, left_is_a: bool) -> str:
    """The content side (A / B / tie) of a choice made on screen (left / right / tie)."""
    if screen_choice == "tie":
        return Judgment.Choice.TIE
    left, right = left_and_right(left_is_a, Judgment.Choice.A, Judgment.Choice.B)
    return left if screen_choice == "left" else right


def screen_choice(content: str, left_is_a: bool | None) -> str:
    """The screen side (left / right / tie) of a stored choice; "" when the side is unknown."""
    if content == Judgment.Choice.TIE:
        return "tie"
    left, _ = left_and_right(left_is_a, Judgment.Choice.A, Judgment.Choice.B)
    if left is None:
        return ""
    return "left" if content == left else "right"


def content_acceptable(
    acceptable: Acceptability, left_is_a: bool | None
) -> tuple[bool | None, bool | None]:
    """(A acceptable, B acceptable) of answers given on screen (left / right): putting the
    left and right values back in A, B order is the same swap as the other way round."""
    return left_and_right(left_is_a, acceptable.left, acceptable.right)


def validate_answers(
    experiment: Experiment,
    dimensions: list[Dimension],
    answers: dict[int, Answer],
    rationale: str,
    acceptable: Acceptability | None = None,
) -> dict[str, str]:
    """Field errors keyed by dimension name (or "rationale", "acceptable"); empty when
    answers are complete."""
    errors = {}
    for dimension in dimensions:
        answer = answers.get(dimension.pk)
        if answer is None or answer.choice not in SCREEN_CHOICES:
            errors[dimension.name] = "Choose left, right" + (
                " or tie." if experiment.allow_ties else "."
            )
        elif answer.choice == "tie" and not experiment.allow_ties:
            errors[dimension.name] = "Ties are not allowed in this experiment."
        elif answer.choice == "tie" and answer.strength:
            errors[dimension.name] = "A tie has no strength."
        elif answer.strength not in ("", "slight", "clear"):
            errors[dimension.name] = "Strength must be slight or clear."
        elif experiment.ask_strength and answer.choice != "tie" and not answer.strength:
            errors[dimension.name] = "Say whether it is slightly or clearly better."
    if experiment.require_rationale and not rationale.strip():
        errors["rationale"] = "This experiment asks for a short rationale."
    if experiment.ask_acceptable:
        given = acceptable or Acceptability()
        sides = (("left", given.left), ("right", given.right))
        unanswered = [side for side, value in sides if value is None]
        if unanswered:
            errors["acceptable"] = (
                f"Say whether the {' and the '.join(unanswered)} output "
                f"{'is' if len(unanswered) == 1 else 'are'} acceptable."
            )
    return errors


def record_submission(
    assignment_id: int,
    reviewer,
    answers: dict[int, Answer],
    rationale: str = "",
    now: datetime | None = None,
    acceptable: Acceptability | None = None,
) -> SubmitOutcome:
    """Store one set of judgments for the assignment, or recognise that it was stored already.

    One transaction, the same on every database: lock the reviewer's assignment (a
    double-clicked submit waits here for the first and then finds it submitted), check
    it, validate the answers (the only place they are validated), take the slot back if
    the lease had run out, insert the judgments and mark the assignment submitted.

    Sent twice (double click, a retry after a lost response), the second call returns
    `already_recorded=True` without writing: the first answer stands. Raises
    SubmissionRefused for answers that cannot count. (The review page and the API use
    submit_as_member, whose lock reads the membership and rubric too.)
    `acceptable` (screen terms) is required when the experiment asks it, else ignored;
    it is stored on the assignment in content terms, in the same UPDATE.
    """
    _check_id(assignment_id)
    with transaction.atomic():
        try:  # get(), not first(): no ORDER BY to build on every submit
            assignment = Assignment.objects.select_for_update().get(
                pk=assignment_id, reviewer_id=reviewer.pk
            )
        except Assignment.DoesNotExist:
            assignment = None
        if assignment is None:
            raise SubmissionRefused("not_found", NOT_YOURS)
        experiment = Experiment.objects.get(pk=assignment.experiment_id)
        dimensions = ()
        if assignment.status != Assignment.Status.SUBMITTED:
            dimensions = list(experiment.dimensions.all())
        return _record_locked(
            assignment, experiment, dimensions, answers, rationale, now, acceptable
        )


def submit_as_member(
    user,
    assignment_id: int,
    read_answers: Callable[[tuple[Dimension, ...]], dict[int, Answer]],
    rationale: str = "",
    acceptable: Acceptability | None = None,
    now: datetime | None = None,
    **experiment_lookup,
) -> tuple[ReviewerMembership, SubmitOutcome]:
    """record_submission for a member of the experiment found by `experiment_lookup`
    (review_key=... or slug=...), their answers read from the rubric by `read_answers`.

    The statement that locks the assignment also reads the membership, the experiment and
    the rubric, so a submit is one statement shorter than get_membership_* followed by
    record_submission (bench/README.md). Raises Http404 for a non-member and
    SubmissionRefused("not_found") for an assignment that is not theirs."""
    _check_id(assignment_id)
    with transaction.atomic():
        rows = list(
            Assignment.objects.select_for_update(of=("self",))
            .filter(
                pk=assignment_id,
                reviewer=user,
                **member_filter(
                    user, "experiment__memberships__", "experiment__", **experiment_lookup
                ),
            )
            .select_related("experiment")
            .annotate(
                **member_columns("experiment__memberships__"), **rubric_columns("experiment__")
            )
            .order_by()
        )
        if not rows:
            get_membership(user, **experiment_lookup)  # Http404 for a non-member
            raise SubmissionRefused("not_found", NOT_YOURS)
        assignment = rows[0]
        experiment = assignment.experiment
        membership = ReviewerMembership(
            experiment=experiment,
            user=user,
            invite_id=assignment.member_invite_id,
            quota=assignment.member_quota,
            rubric=rubric_of(rows, experiment.pk),
            member_id=assignment.member_id,
        )
        outcome = _record_locked(
            assignment,
            experiment,
            membership.rubric,
            read_answers(membership.rubric),
            rationale,
            now,
            acceptable,
        )
    return membership, outcome


NOT_YOURS = "This pair is not assigned to you."


def _check_id(assignment_id: int) -> None:
    if not 0 < assignment_id < 2**63:  # no such id in a bigint column (and no overflow)
        raise SubmissionRefused("not_found", NOT_YOURS)


def _record_locked(
    assignment, experiment, dimensions, answers, rationale, now, acceptable
) -> SubmitOutcome:
    """record_submission's checks and writes, the assignment locked by the caller."""
    now = now or timezone.now()
    rationale = rationale.strip()
    if assignment.status == Assignment.Status.SUBMITTED:
        return SubmitOutcome(assignment, already_recorded=True)
    if experiment.status != Experiment.Status.OPEN:
        raise SubmissionRefused(
            "closed", "This experiment is closed; answers are no longer recorded."
        )
    if assignment.status == Assignment.Status.SKIPPED:
        raise SubmissionRefused("skipped", "You skipped this pair; it cannot be answered now.")

    errors = validate_answers(experiment, dimensions, answers, rationale, acceptable)
    if errors:
        raise SubmissionRefused(
            "invalid", "; ".join(f"{k}: {v}" for k, v in errors.items()), errors
        )

    if assignment.status == Assignment.Status.EXPIRED and not assignment.repeat:
        # The lease ran out and the slot went back to the pool: take it again if
        # nobody else has, otherwise say so (gold and calibration pairs have no
        # slot limit; a repeat holds no slot).
        pair = Pair.objects.select_for_update().get(pk=assignment.pair_id)
        unlimited = pair.is_gold or pair.calibration
        if pair.slots_taken >= experiment.reviews_per_pair and not unlimited:
            raise SubmissionRefused(
                "lease_lost",
                "You took too long on this pair and it was given to other reviewers; "
                "your answer was not recorded.",
            )
        take_slot(pair.pk)

    _store(assignment, experiment, dimensions, answers, rationale, now, acceptable)
    return SubmitOutcome(assignment, already_recorded=False)


def _store(assignment, experiment, dimensions, answers, rationale, now, acceptable) -> None:
    """Insert the checked answers in content terms and mark the assignment submitted
    (inside record_submission's transaction, holding the assignment's row lock)."""
    Judgment.objects.bulk_create(
        Judgment(
            assignment=assignment,
            dimension_id=dimension.pk,
            choice=content_choice(answers[dimension.pk].choice, assignment.left_is_a),
            strength=answers[dimension.pk].strength if experiment.ask_strength else "",
        )
        for dimension in dimensions
    )
    changes = {
        "status": Assignment.Status.SUBMITTED,
        "submitted_at": now,
        "rationale": rationale,
    }
    if experiment.ask_acceptable:
        changes["a_acceptable"], changes["b_acceptable"] = content_acceptable(
            acceptable, assignment.left_is_a
        )
    # update() rather than save(): the same UPDATE, without the model's save machinery.
    Assignment.objects.filter(pk=assignment.pk).update(**changes)
    for field, value in changes.items():
        setattr(assignment, field, value)
