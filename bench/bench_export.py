"""Benchmark: exporting 1,000,000 judgments as CSV (exports.judgment_csv_chunks, what the
download serves) against PostgreSQL's own COPY (SELECT ...) TO STDOUT of the same joined rows.

    .venv/bin/python bench/bench_export.py                  # 1,000,000 judgments, 3 runs
    .venv/bin/python bench/bench_export.py --judgments 200000 --runs 3 --sides copy,served

Uses the database `reviewapp_bench_export` (created if missing). The data are generated
once with INSERT ... SELECT generate_series (pairs x reviewers assignments, 5 dimensions
each) and reused while the count matches. Per run, each side runs in a child process
(so its peak RSS is its own), writing to a counting sink (no disk):
- served: `judgment_csv_chunks`, what the download view streams on PostgreSQL: a COPY
  whose SELECT does the screen terms, neutralising and formatting, its LF line ends
  turned into CRLF in chunks of 2,000 lines;
- python: `stream_csv(judgment_rows(...))`, the Python path (what SQLite serves, and the
  reference the served CSV is tested against byte for byte): the ORM query streamed with a
  server-side cursor, each row turned into screen terms and CSV in Python;
- copy: the raw join and ordering as `COPY (SELECT ...) TO STDOUT (FORMAT csv)`, read
  through psycopg's `cursor.copy()` with no formatting at all: the database writes plain
  columns, Python only receives bytes. It is the ceiling; the target is >= 25 % of its
  rows/s for the served side.
Memory: RSS is sampled every 100,000 rows; "flat" means the samples do not grow with the
number of rows written. Prints a markdown table of medians. Every child is killed after
--timeout seconds. Loopback only.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DB_NAME = "reviewapp_bench_export"
SLUG = "bench-export"
REVIEWERS = 10
DIMENSIONS = 5
SIDES = ("copy", "served", "python")

COPY_SQL = """
COPY (
    SELECT e.slug, p.external_id, u.username, d.name, p.model_a, p.model_b,
           CASE WHEN a.left_is_a IS NULL THEN ''
                WHEN a.left_is_a THEN p.model_a ELSE p.model_b END,
           j.choice, a.submitted_at, a.shown_at, a.rationale, j.strength
    FROM reviewapp_judgment j
    JOIN reviewapp_assignment a ON a.id = j.assignment_id
    JOIN reviewapp_pair p ON p.id = a.pair_id
    JOIN reviewapp_experiment e ON e.id = a.experiment_id
    JOIN auth_user u ON u.id = a.reviewer_id
    JOIN reviewapp_dimension d ON d.id = j.dimension_id
    WHERE a.experiment_id = %s
    ORDER BY a.pair_id, a.reviewer_id, d.position
) TO STDOUT (FORMAT csv, HEADER)
"""


def setup_django() -> None:
    os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{DB_NAME}"
    os.environ.setdefault("SECRET_KEY", "bench-export")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reviewapp.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class CountingSink:
    """A text/bytes file that keeps nothing: counts lines and samples memory."""

    def __init__(self):
        self.lines = 0
        self.bytes = 0
        self.samples = []

    def write(self, data):
        self.bytes += len(data)
        newlines = data.count("\n" if isinstance(data, str) else b"\n")
        before = self.lines // 100_000
        self.lines += newlines
        if self.lines // 100_000 != before:
            self.samples.append(round(rss_mb(), 1))
        return len(data)


def ensure_data(n_judgments: int) -> None:
    import psycopg

    with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as c:
        if not c.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB_NAME]).fetchone():
            c.execute(f'CREATE DATABASE "{DB_NAME}"')
    setup_django()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection

    from reviewapp.experiments import create_experiment
    from reviewapp.models import Experiment, Judgment

    call_command("migrate", verbosity=0)
    experiment = Experiment.objects.filter(slug=SLUG).first()
    if experiment is not None:
        if Judgment.objects.filter(assignment__experiment=experiment).count() == n_judgments:
            return
        experiment.delete()
    n_pairs = -(-n_judgments // (REVIEWERS * DIMENSIONS))
    User = get_user_model()
    owner, _ = User.objects.get_or_create(username="bench-export-owner")
    experiment = create_experiment(
        owner=owner, name="Bench export", slug=SLUG, status="closed", reviews_per_pair=REVIEWERS
    )
    reviewers = [
        User.objects.get_or_create(username=f"bench-export-r{i:02d}")[0] for i in range(REVIEWERS)
    ]
    print(f"generating {n_judgments:,} judgments ...", file=sys.stderr)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO reviewapp_pair (experiment_id, external_id, prompt, model_a, output_a,"
            " model_b, output_b, metadata, is_gold, gold, slots_taken, shuffle_key,"
            " leak_flags, excluded, leak_kept, owner_note)"
            " SELECT %s, 'p' || lpad(i::text, 7, '0'), 'Prompt ' || i, 'alpha-7b', 'A',"
            " 'beta-13b', 'B', '{}', false, '{}', %s, i, '[]', false, false, ''"
            " FROM generate_series(1, %s) i",
            [experiment.pk, REVIEWERS, n_pairs],
        )
        cursor.execute(
            "INSERT INTO reviewapp_assignment (experiment_id, pair_id, reviewer_id, left_is_a,"
            " status, shown_at, submitted_at, rationale)"
            " SELECT %s, p.id, r, (p.id + r) %% 2 = 0, 'submitted',"
            " now() - interval '1 hour', now() - interval '1 hour' + (p.id %% 90) * interval '1 s',"
            " CASE WHEN p.id %% 7 = 0 THEN 'Clearer, and it answers the question.' ELSE '' END"
            " FROM reviewapp_pair p, unnest(%s::bigint[]) r WHERE p.experiment_id = %s",
            [experiment.pk, [r.pk for r in reviewers], experiment.pk],
        )
        cursor.execute(
            "INSERT INTO reviewapp_judgment (assignment_id, dimension_id, choice, strength)"
            " SELECT a.id, d.id, (ARRAY['A', 'B', 'tie'])[1 + (a.id + d.position) %% 3], ''"
            " FROM reviewapp_assignment a JOIN reviewapp_dimension d"
            " ON d.experiment_id = a.experiment_id WHERE a.experiment_id = %s"
            " ORDER BY a.id, d.position LIMIT %s",
            [experiment.pk, n_judgments],
        )
        cursor.execute("VACUUM ANALYZE")


def child(kind: str) -> None:
    setup_django()
    from django.db import connection

    from reviewapp.exports import (
        JUDGMENT_COLUMNS,
        judgment_csv_chunks,
        judgment_rows,
        stream_csv,
    )
    from reviewapp.models import Experiment

    experiment = Experiment.objects.get(slug=SLUG)
    connection.ensure_connection()
    start_rss = rss_mb()
    sink = CountingSink()
    began = time.perf_counter()
    if kind == "served":
        for chunk in judgment_csv_chunks(experiment):
            sink.write(chunk)
    elif kind == "python":
        rows = judgment_rows(experiment)
        for chunk in stream_csv(JUDGMENT_COLUMNS, rows, neutralised=True):
            sink.write(chunk)
    else:
        with connection.connection.cursor() as cursor:
            with cursor.copy(COPY_SQL.replace("%s", str(experiment.pk))) as copy:
                for block in copy:
                    sink.write(bytes(block))
    rows = sink.lines - 1  # the header; no cell of these data holds a line break
    seconds = time.perf_counter() - began
    print(
        json.dumps(
            {
                "rows": rows,
                "seconds": seconds,
                "mb": sink.bytes / 2**20,
                "start_rss": start_rss,
                "peak_rss": peak_rss_mb(),
                "samples": sink.samples,
            }
        )
    )


def run_child(kind: str, timeout: float) -> dict:
    result = subprocess.run(
        [sys.executable, __file__, "--child", kind],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--judgments", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=600, help="seconds per child")
    parser.add_argument(
        "--sides", default=",".join(SIDES), help=f"comma-separated, of {', '.join(SIDES)}"
    )
    parser.add_argument("--child", choices=SIDES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    sides = [side for side in SIDES if side in args.sides.split(",")]
    if "copy" not in sides:
        parser.error("--sides needs copy, the baseline")
    ensure_data(args.judgments)
    results = {side: [] for side in sides}
    for run in range(args.runs):
        for kind in sides:  # the baseline in the same run, alternating
            results[kind].append(run_child(kind, args.timeout))
            r = results[kind][-1]
            print(
                f"# run {run + 1} {kind}: {r['rows']:,} rows in {r['seconds']:.2f} s, "
                f"RSS start {r['start_rss']:.0f} MB, peak {r['peak_rss']:.0f} MB, "
                f"samples every 100k rows {r['samples']}",
                file=sys.stderr,
            )
    print()
    print(f"Medians of {args.runs} runs; {args.judgments:,} judgments.")
    print()
    print("| side | rows/s | MB/s | seconds | start RSS MB | peak RSS MB | RSS growth MB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for kind in sides:
        rs = results[kind]
        rows_s = statistics.median(r["rows"] / r["seconds"] for r in rs)
        mb_s = statistics.median(r["mb"] / r["seconds"] for r in rs)
        secs = statistics.median(r["seconds"] for r in rs)
        start = statistics.median(r["start_rss"] for r in rs)
        peak = statistics.median(r["peak_rss"] for r in rs)
        growth = statistics.median(
            (r["samples"][-1] - r["samples"][0]) if r["samples"] else 0 for r in rs
        )
        print(
            f"| {kind} | {rows_s:,.0f} | {mb_s:.1f} | {secs:.2f} | {start:.0f} | {peak:.0f} "
            f"| {growth:.1f} |"
        )
    print()
    for kind in sides[1:]:
        ratios = [
            (e["rows"] / e["seconds"]) / (c["rows"] / c["seconds"])
            for e, c in zip(results[kind], results["copy"], strict=True)
        ]
        target = " (target >= 0.25)" if kind == "served" else ""
        print(
            f"{kind} / COPY rows/s: median {statistics.median(ratios):.2f}, "
            f"runs {', '.join(f'{r:.2f}' for r in ratios)}{target}"
        )


if __name__ == "__main__":
    main()
