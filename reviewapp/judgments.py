"""Recording a reviewer's answer for one assignment, idempotently.

The reviewer answers in screen terms (left / right / tie); it is stored in content
terms (A / B / tie) using the side recorded on the assignment.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from .models import Assignment, Dimension, Experiment, Judgment, Pair
from .rawsql import columns, instance

SCREEN_CHOICES = ("left", "right", "tie")


class SubmissionRefused(Exception):
    """A submission that cannot be recorded; the message is meant for the reviewer."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Answer:
    choice: str  # left / right / tie
    strength: str = ""  # "", slight, clear


@dataclass(frozen=True)
class SubmitOutcome:
    assignment: Assignment
    already_recorded: bool


def content_choice(screen_choice: str, left_is_a: bool) -> str:
    if screen_choice == "tie":
        return Judgment.Choice.TIE
    shown_left = screen_choice == "left"
    return Judgment.Choice.A if shown_left == left_is_a else Judgment.Choice.B


def screen_choice(content: str, left_is_a: bool) -> str:
    if content == Judgment.Choice.TIE:
        return "tie"
    return "left" if (content == Judgment.Choice.A) == left_is_a else "right"


def validate_answers(
    experiment: Experiment, dimensions: list[Dimension], answers: dict[int, Answer], rationale: str
) -> dict[str, str]:
    """Field errors keyed by dimension name (or "rationale"); empty when answers are complete."""
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
    return errors


def record_submission(
    assignment_id: int,
    reviewer,
    answers: dict[int, Answer],
    rationale: str = "",
    now: datetime | None = None,
    dimensions: list[Dimension] | None = None,
    experiment: Experiment | None = None,
) -> SubmitOutcome:
    """Store one set of judgments for the assignment, or recognise that it was stored already.

    Sent twice (double click, a retry after a lost response), the second call finds the
    assignment submitted and returns `already_recorded=True` without writing: the
    first answer stands. Raises SubmissionRefused for answers that cannot count.
    The caller may pass the experiment (and its dimensions) it has loaded already: the
    assignment must then belong to it.
    """
    if not 0 < assignment_id < 2**63:  # no such id in a bigint column (and no overflow)
        raise SubmissionRefused("not_found", "This pair is not assigned to you.")
    now = now or timezone.now()
    rationale = rationale.strip()
    if (
        experiment is not None
        and dimensions is not None
        and experiment.status == Experiment.Status.OPEN
        and not validate_answers(experiment, dimensions, answers, rationale)
    ):
        # The usual case, a valid first answer to a live assignment: the conditional
        # UPDATE takes the row lock and checks the status at once. If it matches nothing,
        # the full checks below say why.
        stored = _store_live(
            _Submission(assignment_id, reviewer, experiment, dimensions, answers, rationale, now)
        )
        if stored is not None:
            return SubmitOutcome(stored, already_recorded=False)

    with transaction.atomic():
        assignment = _lock_assignment(assignment_id, reviewer)
        if assignment is None or (
            experiment is not None and assignment.experiment_id != experiment.pk
        ):
            raise SubmissionRefused("not_found", "This pair is not assigned to you.")
        if experiment is None:
            experiment = Experiment.objects.get(pk=assignment.experiment_id)
        if assignment.status == Assignment.Status.SUBMITTED:
            return SubmitOutcome(assignment, already_recorded=True)
        if experiment.status != Experiment.Status.OPEN:
            raise SubmissionRefused(
                "closed", "This experiment is closed; answers are no longer recorded."
            )
        if assignment.status == Assignment.Status.SKIPPED:
            raise SubmissionRefused("skipped", "You skipped this pair; it cannot be answered now.")

        if dimensions is None:
            dimensions = list(experiment.dimensions.all())
        errors = validate_answers(experiment, dimensions, answers, rationale)
        if errors:
            raise SubmissionRefused("invalid", "; ".join(f"{k}: {v}" for k, v in errors.items()))

        if assignment.status == Assignment.Status.EXPIRED:
            # The lease ran out and the slot went back to the pool: take it again if
            # nobody else has, otherwise say so.
            pair = Pair.objects.select_for_update().get(pk=assignment.pair_id)
            if pair.slots_taken >= experiment.reviews_per_pair:
                raise SubmissionRefused(
                    "lease_lost",
                    "You took too long on this pair and it was given to other reviewers; "
                    "your answer was not recorded.",
                )
            Pair.objects.filter(pk=pair.pk).update(slots_taken=F("slots_taken") + 1)

        stored = _store(
            _Submission(assignment.pk, reviewer, experiment, dimensions, answers, rationale, now),
            from_status=assignment.status,
        )
    return SubmitOutcome(stored, already_recorded=False)


# The submit is the other half of every pair a reviewer sees: its statements are written
# out by hand (the ORM takes longer to build them than the database to run them).


def _lock_assignment(assignment_id: int, reviewer) -> Assignment | None:
    """The reviewer's assignment, locked (FOR UPDATE on PostgreSQL) until the transaction
    ends, so a double-clicked submit waits for the first and then finds it submitted."""
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {columns(Assignment, 'a')} FROM reviewapp_assignment a"
            f" WHERE a.id = %s AND a.reviewer_id = %s{lock}",
            [assignment_id, reviewer.pk],
        )
        row = cursor.fetchone()
    return None if row is None else instance(Assignment, row)


# The reviewer's assignment in the experiment marked submitted, if its status is the
# expected one (parameters: _Submission.mark_submitted_params).
MARK_SUBMITTED_SQL = """UPDATE reviewapp_assignment
    SET status = %s, submitted_at = %s, rationale = %s
    WHERE id = %s AND reviewer_id = %s AND experiment_id = %s AND status = %s
    RETURNING {columns}"""

# One statement: mark the live assignment submitted and insert its judgments, choosing
# each judgment's content-side choice by the side the assignment recorded.
STORE_LIVE_SQL = (
    "WITH submitted AS ("
    + MARK_SUBMITTED_SQL
    + """
), stored AS (
    INSERT INTO reviewapp_judgment (assignment_id, dimension_id, choice, strength)
    SELECT s.id, v.dimension_id,
           CASE WHEN s.left_is_a THEN v.if_left_is_a ELSE v.if_left_is_b END, v.strength
    FROM submitted s,
         (VALUES {values}) AS v (dimension_id, if_left_is_a, if_left_is_b, strength)
)
SELECT * FROM submitted"""
)


@dataclass(frozen=True)
class _Submission:
    """One reviewer's answers to one assignment, checked, on their way to the database."""

    assignment_id: int
    reviewer: object
    experiment: Experiment
    dimensions: list[Dimension]
    answers: dict[int, Answer]
    rationale: str
    now: datetime

    def mark_submitted_params(self, from_status: str) -> list:
        """MARK_SUBMITTED_SQL's parameters."""
        return [
            Assignment.Status.SUBMITTED,
            connection.ops.adapt_datetimefield_value(self.now),
            self.rationale,
            self.assignment_id,
            self.reviewer.pk,
            self.experiment.pk,
            from_status,
        ]


def _store_live(submission: _Submission) -> Assignment | None:
    """_store for an assignment still shown, in one transaction. On PostgreSQL that is one
    statement (STORE_LIVE_SQL: the UPDATE and the INSERT as data-modifying CTEs), atomic
    by itself: no BEGIN and COMMIT round trips around it. Both content-side readings of
    each choice go in, and the statement keeps the one for the side the assignment
    recorded."""
    dimensions = submission.dimensions
    if connection.vendor != "postgresql" or not dimensions:
        with transaction.atomic():
            return _store(submission, from_status=Assignment.Status.SHOWN)
    params = submission.mark_submitted_params(Assignment.Status.SHOWN)
    for dimension in dimensions:
        answer = submission.answers[dimension.pk]
        params += [
            dimension.pk,
            content_choice(answer.choice, left_is_a=True),
            content_choice(answer.choice, left_is_a=False),
            answer.strength if submission.experiment.ask_strength else "",
        ]
    values = ", ".join(["(%s::bigint, %s, %s, %s)"] * len(dimensions))
    with connection.cursor() as cursor:
        cursor.execute(
            STORE_LIVE_SQL.format(columns=columns(Assignment, ""), values=values), params
        )
        row = cursor.fetchone()
    return None if row is None else instance(Assignment, row)


def _store(submission: _Submission, *, from_status: str) -> Assignment | None:
    """Mark the reviewer's assignment in this experiment submitted if its status is
    `from_status`, and insert one judgment per dimension. None (nothing written) if there
    is no such assignment."""
    with connection.cursor() as cursor:
        cursor.execute(
            MARK_SUBMITTED_SQL.format(columns=columns(Assignment, "")),
            submission.mark_submitted_params(from_status),
        )
        row = cursor.fetchone()
        if row is None:
            return None
        assignment = instance(Assignment, row)
        answers, ask_strength = submission.answers, submission.experiment.ask_strength
        judgments = [
            (
                assignment.pk,
                dimension.pk,
                content_choice(answers[dimension.pk].choice, assignment.left_is_a),
                answers[dimension.pk].strength if ask_strength else "",
            )
            for dimension in submission.dimensions
        ]
        if judgments:
            placeholders = ", ".join(["(%s, %s, %s, %s)"] * len(judgments))
            cursor.execute(
                "INSERT INTO reviewapp_judgment (assignment_id, dimension_id, choice, strength)"
                f" VALUES {placeholders}",
                [value for judgment in judgments for value in judgment],
            )
    return assignment
