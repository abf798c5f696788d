"""The judgments CSV that PostgreSQL writes (COPY, what the download serves there) is byte
for byte the CSV that Python writes (judgment_rows + stream_csv, what SQLite serves)."""

import io
import re
from datetime import UTC, datetime, timedelta
from itertools import cycle

import pandas as pd
import pytest
from django.core.management import call_command
from django.db import connection
from django.urls import reverse

from reviewapp.exports import (
    JUDGMENT_COLUMNS,
    copied_judgment_lines,
    crlf_chunks,
    judgment_csv_chunks,
    judgment_rows,
    seconds_between,
    stream_csv,
)
from reviewapp.models import Assignment, Judgment, Membership, Pair
from tests.conftest import make_experiment, make_user

# Every kind of cell a spreadsheet or a CSV reader could trip over.
HOSTILE = [
    "=1+1", "+1", "-1", "@SUM(A1)", "\t=tab", "\r=cr", "=", "-", "'quoted already",
    'say "hi", then', "two\nlines", "crlf\r\nend", "ends in LF\n", "\n", "\r", "\r\n", ",",
    '"', '""', " ", " leading space", "trailing space ", "ünïcödé €", "😀 emoji",
    "line\u2028separator", "NULL", "\\N", "\\.", "0", "1e5", "true", "a" * 150,
]  # fmt: skip
REVIEWER_NAMES = [
    "=eq", "+ben", "-dash", "@at", "tab\tname", 'q"uote', "com,ma", "new\nline", "plain",
    "ünï",
]  # fmt: skip
DIMENSIONS = ["=overall", "-accuracy", 'style, "quoted"', "two\nlines", "usefulness"]
# Microseconds on the pair: halves of a millisecond either way, exact and inexact in
# binary (1.0005 s is 1.000499... as a float), none at all, negative, days.
DURATIONS = [
    0, 1, 499, 500, 1_500, 62_500, 1_000_500, 2_675_500, 12_000_000, 90_123_456, -400, -500,
    -2_500_500, 400 * 86_400_000_000 + 500,
]  # fmt: skip
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def build_hostile(owner, slug="-hostile", n_pairs=None):
    """Judgments with hostile text in every text column, every side (left, right, unknown),
    every acceptability answer (yes, no, not asked), ties and strengths, excluded and
    automatic reviewers, one reviewer without a membership, gold pairs, swapped repeats,
    and timestamps with and without microseconds."""
    experiment = make_experiment(owner, slug=slug, dimensions=DIMENSIONS, ask_strength=True)
    n_pairs = len(HOSTILE) if n_pairs is None else n_pairs
    texts = cycle(HOSTILE)
    pairs = Pair.objects.bulk_create(
        Pair(
            experiment=experiment,
            external_id=f"{HOSTILE[i % len(HOSTILE)]}{i // len(HOSTILE) or ''}",
            prompt=next(texts),
            model_a=HOSTILE[i % len(HOSTILE)],
            model_b=HOSTILE[(i + 1) % len(HOSTILE)],
            is_gold=i % 7 == 3,
        )
        for i in range(n_pairs)
    )
    reviewers = [make_user(f"{name}{slug}") for name in REVIEWER_NAMES]
    for i, user in enumerate(reviewers[:-1]):  # the last one has no membership
        Membership.objects.create(
            experiment=experiment, user=user, excluded=i % 3 == 1,
            kind="automatic" if i == 2 else "human",
        )  # fmt: skip
    sides, durations = cycle([True, False, None]), cycle(DURATIONS)
    offsets = cycle([0, 250_000, 0, 999_999, 1])  # microseconds of shown_at
    rationales = cycle(["", *HOSTILE, "", ""])
    acceptable = cycle([True, False, None, True])  # a_acceptable; b_acceptable is the next
    assignments = []
    for i, pair in enumerate(pairs):
        for j, reviewer in enumerate(reviewers):
            if (i + j) % 3 == 0:
                continue
            shown_at = T0 + timedelta(seconds=i, microseconds=next(offsets))
            submitted_at = shown_at + timedelta(microseconds=next(durations))
            assignments.append(
                Assignment(
                    experiment=experiment, pair=pair, reviewer=reviewer, left_is_a=next(sides),
                    status="submitted", shown_at=shown_at, submitted_at=submitted_at,
                    rationale=next(rationales), a_acceptable=next(acceptable),
                    b_acceptable=next(acceptable),
                )
            )  # fmt: skip
    # Swapped repeats of some of them: rows of their own, right after the first answer's.
    assignments += [
        Assignment(
            experiment=experiment, pair=a.pair, reviewer=a.reviewer, repeat=True,
            left_is_a=None if a.left_is_a is None else not a.left_is_a, status="submitted",
            shown_at=a.shown_at + timedelta(minutes=9), submitted_at=a.submitted_at,
            rationale=a.rationale,
        )
        for a in assignments[::5]
    ]  # fmt: skip
    Assignment.objects.bulk_create(assignments)
    dimensions = list(experiment.dimensions.all())
    choices = cycle(
        [("A", "slight"), ("B", ""), ("tie", ""), ("A", "clear"), ("B", "clear"), ("A", ""),
         ("tie", "")]
    )  # fmt: skip
    Judgment.objects.bulk_create(
        Judgment(assignment=a, dimension=d, choice=choice, strength=strength)
        for a in assignments
        for d, (choice, strength) in zip(dimensions, choices, strict=False)
    )
    return experiment


def python_csv(experiment) -> bytes:
    chunks = stream_csv(JUDGMENT_COLUMNS, judgment_rows(experiment), neutralised=True)
    return "".join(chunks).encode()


def copy_csv(experiment, batch=2000) -> bytes:
    return b"".join(crlf_chunks(copied_judgment_lines(experiment), batch=batch))


@pytest.mark.parametrize(
    "micro,expected",
    [(0, 0.0), (62_500, 0.063), (1_000_500, 1.001), (2_675_500, 2.676), (12_000_000, 12.0),
     (1_499, 0.001), (-400, 0.0), (-500, -0.001), (-2_500_500, -2.501)],
)  # fmt: skip
def test_seconds_between_rounds_the_decimal_value(micro, expected):
    seconds = seconds_between(T0, T0 + timedelta(microseconds=micro))
    assert repr(seconds) == repr(expected)


@pytest.mark.django_db
def test_served_csv_is_the_python_csv_elsewhere(owner):
    """On SQLite the download is the Python path itself (on PostgreSQL, the tests below)."""
    experiment = build_hostile(owner, n_pairs=10)
    chunks = judgment_csv_chunks(experiment)
    served = b"".join(c if isinstance(c, bytes) else c.encode() for c in chunks)
    assert served == python_csv(experiment)


@pytest.mark.postgres
@pytest.mark.django_db
def test_copy_is_byte_identical_to_python(owner):
    experiment = build_hostile(owner)
    other = build_hostile(owner, slug="other", n_pairs=5)  # never in the first export
    expected = python_csv(experiment)
    assert Judgment.objects.filter(assignment__experiment=experiment).count() > 1000
    # Timestamps with and without a fraction.
    assert re.search(rb"T12:\d\d:\d\d\+00:00,", expected)
    assert re.search(rb"T12:\d\d:\d\d\.\d{6}\+00:00,", expected)
    assert copy_csv(experiment) == expected
    # Chunk borders anywhere, including chunks with an LF inside a quoted cell or none.
    for batch in (1, 2, 7):
        assert copy_csv(experiment, batch=batch) == expected
    assert copy_csv(other) == python_csv(other)
    # Both paths neutralise the slug.
    header = ",".join(JUDGMENT_COLUMNS).encode()
    assert expected.startswith(header + b"\r\n'-hostile,")


@pytest.mark.postgres
@pytest.mark.django_db
def test_pandas_reads_back_every_cell(owner):
    experiment = build_hostile(owner)
    frame = pd.read_csv(io.BytesIO(copy_csv(experiment)), dtype=str, keep_default_na=False)
    assert list(frame.columns) == JUDGMENT_COLUMNS
    expected = [["" if c is None else str(c) for c in row] for row in judgment_rows(experiment)]
    assert frame.values.tolist() == expected


@pytest.mark.postgres
@pytest.mark.django_db
def test_download_and_command_serve_the_copy(client, owner, tmp_path):
    experiment = build_hostile(owner, slug="hostile")  # "-hostile" would read as an option
    expected = python_csv(experiment)
    client.force_login(owner)
    response = client.get(reverse("export-judgments", args=[experiment.slug]))
    assert response.streaming
    assert b"".join(response.streaming_content) == expected
    out, said = tmp_path / "j.csv", io.StringIO()
    call_command("export_judgments", experiment.slug, "-o", str(out), stderr=said)
    assert out.read_bytes() == expected
    assert f"Wrote {Judgment.objects.filter(assignment__experiment=experiment).count()} " in (
        said.getvalue()
    )


def many_judgments(owner, n_pairs=600):
    """More rows than one chunk of the download (2,000)."""
    experiment = make_experiment(owner, slug="many", n_pairs=n_pairs)
    reviewer = make_user("many-reviewer")
    assignments = Assignment.objects.bulk_create(
        Assignment(experiment=experiment, pair=pair, reviewer=reviewer, left_is_a=True,
                   status="submitted", shown_at=T0, submitted_at=T0 + timedelta(seconds=3))
        for pair in experiment.pairs.all()
    )  # fmt: skip
    dimensions = list(experiment.dimensions.all())
    Judgment.objects.bulk_create(
        Judgment(assignment=a, dimension=d, choice="A") for a in assignments for d in dimensions
    )
    return experiment


def no_copy_running() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY (SELECT%'"
            " AND state = 'active' AND datname = current_database()"
            " AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0] == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_client_going_away_ends_the_copy(client, owner):
    """A download abandoned after its first chunk: the server closes the response, which
    ends the COPY and its transaction, and the connection is ready for the next request."""
    experiment = many_judgments(owner)
    client.force_login(owner)
    response = client.get(reverse("export-judgments", args=[experiment.slug]))
    first = next(iter(response.streaming_content))
    assert first.count(b"\r\n") == 2000
    assert connection.in_atomic_block  # the COPY is under way
    response.close()
    assert not connection.in_atomic_block
    assert connection.connection.info.transaction_status.name == "IDLE"
    assert no_copy_running()
    assert Judgment.objects.count() == 600 * 5


@pytest.mark.postgres
@pytest.mark.django_db
def test_stopping_inside_a_transaction_leaves_it_usable(owner):
    """Inside an outer transaction (a management command, a test) only the COPY's
    savepoint is rolled back."""
    experiment = many_judgments(owner)
    chunks = judgment_csv_chunks(experiment)
    next(chunks)
    chunks.close()
    assert no_copy_running()
    assert Judgment.objects.count() == 600 * 5
    assert b"".join(judgment_csv_chunks(experiment)) == python_csv(experiment)
