"""Judgments out as CSV, streamed row by row (never the whole table in memory)."""

import csv
import io
import json
from collections.abc import Iterable, Iterator
from contextlib import closing
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.http import StreamingHttpResponse
from django.utils.http import content_disposition_header

from .judgments import screen_choice
from .models import (
    Assignment,
    Dimension,
    Experiment,
    Judgment,
    Membership,
    Pair,
    left_and_right,
)

JUDGMENT_COLUMNS = [
    "experiment", "pair_id", "reviewer", "dimension", "model_a", "model_b", "left_model",
    "choice", "winner", "submitted_at", "seconds_on_pair", "rationale", "strength",
    # Appended later; columns are only ever added at the end, so readers can rely on order.
    "excluded", "repeat", "a_acceptable", "b_acceptable",
]  # fmt: skip

# An acceptability answer (Assignment.a_acceptable / b_acceptable) as the export writes it.
ACCEPTABLE_TEXT = {True: "yes", False: "no", None: ""}

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


def seconds_between(start, end) -> float:
    """Seconds from start to end, to the millisecond, halves away from zero: decimal
    rounding of the whole microseconds, as PostgreSQL's round(numeric) does (rounding the
    float instead would depend on its binary digits: round(1.0005, 3) == 1.0)."""
    micro = (end - start) // timedelta(microseconds=1)
    milli = (abs(micro) + 500) // 1000
    return (milli if micro >= 0 else -milli) / 1000


def judgment_rows(experiment: Experiment, *, neutralise: bool = True) -> Iterator[list]:
    """One row per (pair, reviewer, showing, dimension), ordered by pair, reviewer, showing
    (the first, then its swapped repeat), dimension.

    `excluded` says whether the owner excluded the reviewer from the results (their
    judgments are still exported, so the choice can be revisited); `repeat` whether the
    row is the reviewer's second answer to the pair (a swapped repeat). `a_acceptable`,
    `b_acceptable`: yes / no, empty when not asked (the same on every row of a review)."""
    excluded = set(
        Membership.objects.filter(experiment=experiment, excluded=True).values_list(
            "user__username", flat=True
        )
    )
    judgments = (
        Judgment.objects.filter(assignment__experiment=experiment)
        .order_by(
            "assignment__pair_id",
            "assignment__reviewer_id",
            "assignment__repeat",
            "dimension__position",
        )
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
            "assignment__repeat",
            "assignment__a_acceptable",
            "assignment__b_acceptable",
        )
    )
    cell = neutralise_cell if neutralise else _as_is
    last_key, names = None, {}
    slug = cell(experiment.slug)
    for (
        pair_id, reviewer, dimension, model_a, model_b, left_is_a,
        choice, submitted_at, shown_at, rationale, strength, repeat, a_acceptable, b_acceptable,
    ) in judgments.iterator(chunk_size=10_000):  # fmt: skip
        # The rows of one assignment (one per dimension) come together: work out what
        # they share once.
        # Every text cell is neutralised here, once per assignment where it can be, so
        # the rows go to the CSV writer as they are (stream_csv(..., neutralised=True)).
        if (pair_id, reviewer, repeat) != last_key:
            last_key = (pair_id, reviewer, repeat)
            left_model = left_and_right(left_is_a, model_a, model_b)[0] or ""
            shared = [
                cell(pair_id), cell(reviewer), cell(model_a),
                cell(model_b), cell(left_model),
            ]  # fmt: skip
            tail = [
                submitted_at.isoformat(),
                seconds_between(shown_at, submitted_at),
                cell(rationale),
            ]
            appended = [
                "true" if reviewer in excluded else "false",
                "true" if repeat else "false",
                ACCEPTABLE_TEXT[a_acceptable],
                ACCEPTABLE_TEXT[b_acceptable],
            ]
            winners = {
                Judgment.Choice.A: shared[2],
                Judgment.Choice.B: shared[3],
                Judgment.Choice.TIE: "tie",
            }
            sides = {
                Judgment.Choice.TIE: "tie",
                Judgment.Choice.A: screen_choice(Judgment.Choice.A, left_is_a),
                Judgment.Choice.B: screen_choice(Judgment.Choice.B, left_is_a),
            }
        if dimension not in names:
            names[dimension] = cell(dimension)
        yield [
            slug, *shared[:2], names[dimension], *shared[2:], sides[choice], winners[choice],
            *tail, strength, *appended,
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


CSV_CONTENT_TYPE = "text/csv; charset=utf-8"


def streamed_download(
    chunks: Iterable[str | bytes], filename: str, content_type: str = CSV_CONTENT_TYPE
) -> StreamingHttpResponse:
    """Every export's response (pages and API): an attachment streamed from `chunks`
    (stream_csv or judgment_csv_chunks for CSV, whose cells are neutralised there). Exports
    hold reviewers' names and their answers, so no cache may keep a copy. The server closes
    the chunks' generator when it is done, or when the client goes away, and that ends any
    database work behind them."""
    response = StreamingHttpResponse(chunks, content_type=content_type)
    response["Content-Disposition"] = content_disposition_header(True, filename)
    response["Cache-Control"] = "private, no-store"
    return response


def judgment_csv_chunks(experiment: Experiment) -> Iterator[str | bytes]:
    """The judgments CSV in chunks, as the downloads serve it. On PostgreSQL the database
    writes it (copied_judgment_lines, the one hand-written statement of the export);
    elsewhere judgment_rows + stream_csv, the reference the COPY output is tested against
    byte for byte (tests/test_exports_copy.py).

    Why the hand-written COPY: at 1,000,000 judgments it served 228,500 rows/s against
    81,300 for the Python path (medians of 3 runs; earlier 196,000-210,000 against
    64,000-71,000), about three times faster, with memory flat both ways
    (`.venv/bin/python bench/bench_export.py --runs 3`; bench/README.md, Export)."""
    if connection.vendor != "postgresql":
        yield from stream_csv(JUDGMENT_COLUMNS, judgment_rows(experiment), neutralised=True)
        return
    # Closing this generator (a client that went away) closes the COPY, its cursor and
    # its transaction.
    with closing(copied_judgment_lines(experiment)) as lines:
        yield from crlf_chunks(lines)


def write_judgments_csv(experiment: Experiment, out) -> int:
    """Write the judgments CSV to a text file; returns the number of data rows."""
    counted = 0

    def counting(rows):
        nonlocal counted
        for row in rows:
            counted += 1
            yield row

    if connection.vendor != "postgresql":
        rows = counting(judgment_rows(experiment))
        for chunk in stream_csv(JUDGMENT_COLUMNS, rows, neutralised=True):
            out.write(chunk)
        return counted
    with closing(copied_judgment_lines(experiment)) as lines:
        for chunk in crlf_chunks(counting(lines)):
            out.write(chunk.decode())
    return counted - 1  # the header line


# -- the same CSV, written by PostgreSQL ------------------------------------------------------
# Python's csv writer and COPY's CSV quote the same cells (those holding a comma, a quote,
# CR or LF) the same way, with two differences made up for here: COPY quotes an empty
# string ("") where Python leaves it bare, so empty text goes out as NULL (bare); and COPY
# ends lines with LF where Python's writer ends them with CRLF (crlf_chunks).

# ascii() is the code point of the first character (0 for ''), cheaper than a substring.
_FORMULA_CODES = ", ".join(str(ord(c)) for c in FORMULA_PREFIXES)


def _cell_sql(expr: str) -> str:
    """SQL for neutralise_cell(expr), with '' as NULL."""
    return (
        f"CASE WHEN {expr} = '' THEN NULL WHEN ascii({expr}) IN ({_FORMULA_CODES}) "
        f"THEN '''' || {expr} ELSE {expr} END"
    )


def _judgment_select_sql() -> str:
    """A SELECT giving judgment_rows' cells as CSV-ready text, one column per header name."""
    # models.left_and_right and judgments.screen_choice, in SQL.
    left_model = "CASE WHEN a.left_is_a THEN p.model_a WHEN NOT a.left_is_a THEN p.model_b END"
    columns = {
        "experiment": "NULLIF(%s, '')",  # the slug, neutralised in Python
        "pair_id": _cell_sql("p.external_id"),
        "reviewer": _cell_sql("u.username"),
        "dimension": _cell_sql("d.name"),
        "model_a": _cell_sql("p.model_a"),
        "model_b": _cell_sql("p.model_b"),
        "left_model": _cell_sql(left_model),
        # Screen terms; NULL (empty) when the side is unknown.
        "choice": "CASE WHEN j.choice = 'tie' THEN 'tie' WHEN a.left_is_a = (j.choice = 'A')"
        " THEN 'left' WHEN a.left_is_a IS NOT NULL THEN 'right' END",
        "winner": f"CASE j.choice WHEN 'A' THEN {_cell_sql('p.model_a')}"
        f" WHEN 'B' THEN {_cell_sql('p.model_b')} ELSE 'tie' END",
        # datetime.isoformat() in UTC: no fraction when the microseconds are 0.
        "submitted_at": "replace(to_char(a.submitted_at AT TIME ZONE 'UTC',"
        """ 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'), '.000000+', '+')""",
        # repr() of seconds_between(): no trailing zeros, but at least one decimal.
        "seconds_on_pair": "trim_scale(s.seconds)::text"
        " || CASE WHEN s.seconds = trunc(s.seconds) THEN '.0' ELSE '' END",
        "rationale": _cell_sql("a.rationale"),
        "strength": "NULLIF(j.strength, '')",
        "excluded": "CASE WHEN m.excluded THEN 'true' ELSE 'false' END",
        "repeat": "CASE WHEN a.repeat THEN 'true' ELSE 'false' END",
        "a_acceptable": "CASE WHEN a.a_acceptable THEN 'yes' WHEN NOT a.a_acceptable THEN 'no' END",
        "b_acceptable": "CASE WHEN a.b_acceptable THEN 'yes' WHEN NOT a.b_acceptable THEN 'no' END",
    }
    assert list(columns) == JUDGMENT_COLUMNS
    select = ",\n    ".join(f'{expr} AS "{name}"' for name, expr in columns.items())
    models = {
        "judgment": Judgment, "assignment": Assignment, "pair": Pair,
        "user": get_user_model(), "dimension": Dimension, "membership": Membership,
    }  # fmt: skip
    table = {key: connection.ops.quote_name(m._meta.db_table) for key, m in models.items()}
    # The seconds: extract() gives exact numeric seconds, rounded as seconds_between() does.
    return f"""SELECT
    {select}
FROM {table["judgment"]} j
JOIN {table["assignment"]} a ON a.id = j.assignment_id
JOIN {table["pair"]} p ON p.id = a.pair_id
JOIN {table["user"]} u ON u.id = a.reviewer_id
JOIN {table["dimension"]} d ON d.id = j.dimension_id
LEFT JOIN {table["membership"]} m
    ON m.experiment_id = a.experiment_id AND m.user_id = a.reviewer_id
CROSS JOIN LATERAL (
    SELECT round(extract(epoch FROM a.submitted_at) - extract(epoch FROM a.shown_at), 3)
        AS seconds
) s
WHERE a.experiment_id = %s
ORDER BY a.pair_id, a.reviewer_id, a.repeat, d.position"""


def copied_judgment_lines(experiment: Experiment) -> Iterator[memoryview]:
    """The header, then one CSV line (ending in LF) per judgment, from COPY ... TO STDOUT.
    PostgreSQL sends each row of a COPY in a message of its own, which psycopg hands over
    as one block, so a block is always one whole line."""
    sql = f"COPY ({_judgment_select_sql()}) TO STDOUT (FORMAT csv, HEADER)"
    params = [neutralise_cell(experiment.slug), experiment.pk]
    # If the reader stops early, psycopg cancels the COPY, which breaks the transaction
    # around it: atomic() rolls back that transaction (a savepoint inside another one).
    with transaction.atomic(), connection.cursor() as cursor:
        with cursor.cursor.copy(sql, params) as copy:
            yield from copy


def crlf_chunks(lines: Iterable[memoryview], batch: int = 2000) -> Iterator[bytes]:
    """Lines ending in LF, in chunks of `batch` lines ending in CRLF."""
    chunk = []
    for line in lines:
        chunk.append(line)
        if len(chunk) == batch:
            yield _crlf(chunk)
            chunk = []
    yield _crlf(chunk)


def _crlf(lines: list[memoryview]) -> bytes:
    data = b"".join(lines)
    if data.count(b"\n") == len(lines):
        # No LF inside a quoted cell: swap them all at C speed.
        return data.replace(b"\n", b"\r\n")
    return b"".join(bytes(line[:-1]) + b"\r\n" for line in lines)


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
        left_model = left_and_right(left_is_a, model_a, model_b)[0] or ""
        seconds = round((submitted_at - shown_at).total_seconds(), 3) if submitted_at else ""
        yield [
            experiment.slug, pk, pair_id, "true" if is_gold else "false", reviewer,
            participant_id, kind, model_a, model_b, left_model, status, shown_at.isoformat(),
            submitted_at.isoformat() if submitted_at else "", seconds,
            json.dumps(platform_data, sort_keys=True) if platform_data else "",
        ]  # fmt: skip
