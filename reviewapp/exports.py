"""Judgments out as CSV, streamed row by row (never the whole table in memory)."""

import csv
import json
from collections.abc import Iterable, Iterator

from .models import Assignment, Experiment, Judgment, Membership

JUDGMENT_COLUMNS = [
    "experiment", "pair_id", "reviewer", "dimension", "model_a", "model_b", "left_model",
    "choice", "winner", "submitted_at", "seconds_on_pair", "rationale", "strength",
    # Appended later; columns are only ever added at the end, so readers can rely on order.
    "excluded",
]  # fmt: skip

# A spreadsheet runs a cell starting with these as a formula (OWASP "CSV injection").
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise_cell(value):
    """Prefix text that a spreadsheet would evaluate with an apostrophe, so it stays text."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def judgment_rows(experiment: Experiment) -> Iterator[list]:
    """One row per (pair, reviewer, dimension), ordered by pair, reviewer, dimension.

    `excluded` says whether the owner excluded the reviewer from the results (their
    judgments are still exported, so the choice can be revisited)."""
    excluded = set(
        Membership.objects.filter(experiment=experiment, excluded=True).values_list(
            "user__username", flat=True
        )
    )
    judgments = (
        Judgment.objects.filter(assignment__experiment=experiment)
        .order_by("assignment__pair_id", "assignment__reviewer_id", "dimension__position")
        .values_list(
            "assignment__pair__external_id",
            "assignment__reviewer__username",
            "dimension__name",
            "assignment__pair__model_a",
            "assignment__pair__model_b",
            "assignment__left_is_a",
            "choice",
            "assignment__submitted_at",
            "assignment__shown_at",
            "assignment__rationale",
            "strength",
        )
    )
    for (
        pair_id, reviewer, dimension, model_a, model_b, left_is_a,
        choice, submitted_at, shown_at, rationale, strength,
    ) in judgments.iterator(chunk_size=5000):  # fmt: skip
        left_model = "" if left_is_a is None else (model_a if left_is_a else model_b)
        if choice == Judgment.Choice.TIE:
            screen, winner = "tie", "tie"
        else:
            winner = model_a if choice == Judgment.Choice.A else model_b
            screen = "" if not left_model else ("left" if winner == left_model else "right")
        seconds = round((submitted_at - shown_at).total_seconds(), 3)
        yield [
            experiment.slug, pair_id, reviewer, dimension, model_a, model_b, left_model,
            screen, winner, submitted_at.isoformat(), seconds, rationale, strength,
            "true" if reviewer in excluded else "false",
        ]  # fmt: skip


class _Echo:
    def write(self, value):
        return value


def stream_csv(header: list[str], rows: Iterable[list]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow([neutralise_cell(cell) for cell in row])


def write_judgments_csv(experiment: Experiment, out) -> int:
    """Write the judgments CSV to a text file; returns the number of data rows."""
    lines = 0
    for line in stream_csv(JUDGMENT_COLUMNS, judgment_rows(experiment)):
        out.write(line)
        lines += 1
    return lines - 1  # minus the header


ASSIGNMENT_COLUMNS = [
    "experiment", "assignment", "pair_id", "gold", "reviewer", "participant_id", "kind",
    "model_a", "model_b", "left_model", "status", "shown_at", "submitted_at", "seconds_on_pair",
    "platform_data",
]  # fmt: skip


def assignment_rows(experiment: Experiment) -> Iterator[list]:
    """The audit trail: every assignment (shown, submitted, skipped, expired), who had it,
    which model's output was on the left, and when."""
    members = {
        user_id: (participant_id, kind, platform_data)
        for user_id, participant_id, kind, platform_data in Membership.objects.filter(
            experiment=experiment
        ).values_list("user_id", "participant_id", "kind", "platform_data")
    }
    assignments = (
        Assignment.objects.filter(experiment=experiment)
        .order_by("pk")
        .values_list(
            "pk",
            "pair__external_id",
            "pair__is_gold",
            "reviewer_id",
            "reviewer__username",
            "pair__model_a",
            "pair__model_b",
            "left_is_a",
            "status",
            "shown_at",
            "submitted_at",
        )  # fmt: skip
    )
    for (
        pk, pair_id, is_gold, reviewer_id, reviewer, model_a, model_b, left_is_a, status,
        shown_at, submitted_at,
    ) in assignments.iterator(chunk_size=5000):  # fmt: skip
        participant_id, kind, platform_data = members.get(reviewer_id, ("", "", {}))
        left_model = "" if left_is_a is None else (model_a if left_is_a else model_b)
        seconds = round((submitted_at - shown_at).total_seconds(), 3) if submitted_at else ""
        yield [
            experiment.slug, pk, pair_id, "true" if is_gold else "false", reviewer,
            participant_id, kind, model_a, model_b, left_model, status, shown_at.isoformat(),
            submitted_at.isoformat() if submitted_at else "", seconds,
            json.dumps(platform_data, sort_keys=True) if platform_data else "",
        ]  # fmt: skip
