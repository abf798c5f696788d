"""Judgments out as CSV, streamed row by row (never the whole table in memory)."""

import csv
import io
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
FORMULA_STARTS = frozenset(FORMULA_PREFIXES)


def _as_is(value):
    return value


def neutralise_cell(value):
    """Prefix text that a spreadsheet would evaluate with an apostrophe, so it stays text."""
    if value.__class__ is str and value and value[0] in FORMULA_STARTS:
        return "'" + value
    return value


def judgment_rows(experiment: Experiment, *, neutralise: bool = True) -> Iterator[list]:
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
    cell = neutralise_cell if neutralise else _as_is
    last_key, names = None, {}
    slug = cell(experiment.slug)
    for (
        pair_id, reviewer, dimension, model_a, model_b, left_is_a,
        choice, submitted_at, shown_at, rationale, strength,
    ) in judgments.iterator(chunk_size=10_000):  # fmt: skip
        # The rows of one assignment (one per dimension) come together: work out what
        # they share once.
        # Every text cell is neutralised here, once per assignment where it can be, so
        # the rows go to the CSV writer as they are (stream_csv(..., neutralised=True)).
        if (pair_id, reviewer) != last_key:
            last_key = (pair_id, reviewer)
            left_model = "" if left_is_a is None else (model_a if left_is_a else model_b)
            shared = [
                cell(pair_id), cell(reviewer), cell(model_a),
                cell(model_b), cell(left_model),
            ]  # fmt: skip
            tail = [
                submitted_at.isoformat(),
                round((submitted_at - shown_at).total_seconds(), 3),
                cell(rationale),
            ]
            excluded_text = "true" if reviewer in excluded else "false"
            winners = {
                Judgment.Choice.A: shared[2],
                Judgment.Choice.B: shared[3],
                Judgment.Choice.TIE: "tie",
            }
            sides = {
                Judgment.Choice.TIE: "tie",
                Judgment.Choice.A: "" if left_is_a is None else ("left" if left_is_a else "right"),
                Judgment.Choice.B: "" if left_is_a is None else ("right" if left_is_a else "left"),
            }
        if dimension not in names:
            names[dimension] = cell(dimension)
        yield [
            slug, *shared[:2], names[dimension], *shared[2:], sides[choice], winners[choice],
            *tail, strength, excluded_text,
        ]  # fmt: skip


def stream_csv(
    header: list[str], rows: Iterable[list], batch: int = 2000, *, neutralised: bool = False
) -> Iterator[str]:
    """CSV text in chunks of `batch` rows: one small string per row would make the
    response (and the socket) handle a million pieces. Cells are neutralised here unless
    the rows come `neutralised` already."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for n, row in enumerate(rows, start=1):
        writer.writerow(row if neutralised else [neutralise_cell(cell) for cell in row])
        if n % batch == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def write_judgments_csv(experiment: Experiment, out) -> int:
    """Write the judgments CSV to a text file; returns the number of data rows."""
    counted = 0

    def counting(rows):
        nonlocal counted
        for row in rows:
            counted += 1
            yield row

    rows = counting(judgment_rows(experiment))
    for chunk in stream_csv(JUDGMENT_COLUMNS, rows, neutralised=True):
        out.write(chunk)
    return counted


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
