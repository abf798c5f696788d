"""Benchmark: importing a large wide CSV through uploads.import_upload, against PostgreSQL COPY.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/reviewapp_bench DEBUG=1 \\
        .venv/bin/python bench/bench_import.py --pairs 100000 --runs 3

Generates a deterministic CSV of N pairs (outputs of 200-2,000 characters of lorem-like
text, some with paragraphs; about 2.4 KiB a pair) in a temporary folder, after checking
that the disk has room for it, then per run:
- imports it into a fresh experiment with uploads.import_upload (one pass: validation and
  the batched write), in a child process so that its peak RSS is the import's own; with
  --bulk-create also with the import's other writer, bulk_create (what every database but
  PostgreSQL uses), to show what the COPY writer buys;
- as the baseline, COPYs the same rows into a plain temporary table through psycopg's
  cursor.copy(): the file read with Python's csv module and each row sent with
  copy.write_row() (the target: the import should reach half of this rate); for reference
  also the raw file streamed to `COPY ... (FORMAT csv)`, which leaves even the CSV
  parsing to the server. Each in a child process as well.
Prints a markdown table of the medians. Every child is killed after --timeout seconds;
the benchmark's experiment and user are removed afterwards, even after a failure.
"""

import argparse
import csv
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODELS = ["alpha-7b", "beta-13b", "gamma-70b", "delta-8x7b"]
WORDS = (
    "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt "
    "ut labore et dolore magna aliqua enim ad minim veniam quis nostrud exercitation ullamco "
    "laboris nisi aliquip ex ea commodo consequat duis aute irure in reprehenderit voluptate "
    "velit esse cillum fugiat nulla pariatur excepteur sint occaecat cupidatat non proident "
    "sunt culpa qui officia deserunt mollit anim id est laborum"
).split()
OWNER = "bench-import-owner"


def setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reviewapp.settings")
    import django

    django.setup()


def lorem_pool(rng: random.Random, size: int = 2_000_000) -> str:
    """A long text of random words and paragraphs; outputs are slices of it (fast)."""
    parts, length = [], 0
    while length < size:
        sentence = " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 18)))
        sentence = sentence.capitalize() + rng.choice([". ", ". ", "? ", ".\n\n", ", 'quoted', "])
        parts.append(sentence)
        length += len(sentence)
    return "".join(parts)


def generate_csv(path: Path, n_pairs: int, seed: int) -> None:
    rng = random.Random(seed)
    pool = lorem_pool(rng)

    def text(low: int, high: int) -> str:
        length = rng.randint(low, high)
        start = rng.randrange(len(pool) - length)
        return pool[start : start + length]

    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(
            ["pair_id", "prompt", "model_a", "output_a", "model_b", "output_b", "topic"]
        )
        for i in range(n_pairs):
            model_a, model_b = rng.sample(MODELS, 2)
            writer.writerow(
                [
                    f"bench-{i:07d}",
                    text(40, 400),
                    model_a,
                    text(200, 2000),
                    model_b,
                    text(200, 2000),
                    rng.choice(["maths", "writing", "coding", "advice"]),
                ]
            )


# -- children ------------------------------------------------------------------------------


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def cpu_seconds(connection) -> tuple[float, float]:
    """(this process's CPU seconds, its PostgreSQL backend's), read from /proc: on a shared
    machine a side's wall time depends on who else runs, its CPU much less."""
    import resource

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()  # from field 3 (state) on
    server = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime, server


def child_import(path: str, bulk_create: bool = False) -> dict:
    # From 250,000 pairs the file is over the default upload limit (512 MiB): lift it.
    os.environ["REVIEWAPP_MAX_UPLOAD_BYTES"] = str(Path(path).stat().st_size)
    setup_django()
    from django.contrib.auth import get_user_model
    from django.db import connection

    from reviewapp import uploads
    from reviewapp.models import Experiment, Pair
    from reviewapp.uploads import import_upload

    if bulk_create:
        uploads._copy_available = lambda: False  # the writer every other database uses

    owner, _ = get_user_model().objects.get_or_create(username=OWNER)
    slug = f"bench-import-{os.getpid()}"
    experiment = Experiment.objects.create(owner=owner, name="Import benchmark", slug=slug)
    vacuum_pairs()
    rss_before = peak_rss_mb()
    try:
        cpu_before = cpu_seconds(connection)
        start = time.perf_counter()
        result = import_upload(experiment, path)
        seconds = time.perf_counter() - start
        cpu_after = cpu_seconds(connection)
        return {
            "seconds": seconds,
            "cpu": [after - before for before, after in zip(cpu_before, cpu_after, strict=True)],
            "pairs": result.pairs_created,
            "peak_rss_mb": peak_rss_mb(),
            "rss_before_mb": rss_before,
        }
    finally:
        # A raw delete: the ORM's cascade would first load every pair id. Then VACUUM, or
        # the next run inserts into indexes bloated by dead rows (much slower).
        with connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {Pair._meta.db_table} WHERE experiment_id = %s", [experiment.pk]
            )
        experiment.delete()
        vacuum_pairs()


def vacuum_pairs() -> None:
    from django.db import connection

    from reviewapp.models import Pair

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM ANALYZE {Pair._meta.db_table}")


def child_copy(path: str, raw_file: bool) -> dict:
    setup_django()
    from django.db import connection

    if connection.vendor != "postgresql":
        raise SystemExit("The COPY baseline needs DATABASE_URL=postgres://...")
    connection.ensure_connection()
    pg = connection.connection
    with pg.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE bench_copy (pair_id text, prompt text, model_a text, "
            "output_a text, model_b text, output_b text, topic text)"
        )
        cpu_before = cpu_seconds(connection)
        start = time.perf_counter()
        if raw_file:
            with (
                open(path, "rb") as source,
                cursor.copy("COPY bench_copy FROM STDIN (FORMAT csv, HEADER true)") as copy,
            ):
                while chunk := source.read(1 << 20):
                    copy.write(chunk)
        else:
            csv.field_size_limit(16 * 1024 * 1024)
            with (
                open(path, newline="", encoding="utf-8") as source,
                cursor.copy("COPY bench_copy FROM STDIN") as copy,
            ):
                rows = csv.reader(source)
                next(rows)
                for row in rows:
                    copy.write_row(row)
        pg.commit()
        seconds = time.perf_counter() - start
        cpu_after = cpu_seconds(connection)
        cursor.execute("SELECT count(*) FROM bench_copy")
        count = cursor.fetchone()[0]
    cpu = [after - before for before, after in zip(cpu_before, cpu_after, strict=True)]
    return {"seconds": seconds, "cpu": cpu, "pairs": count, "peak_rss_mb": peak_rss_mb()}


CHILDREN = {
    "import": child_import,
    "import-bulk-create": lambda path: child_import(path, bulk_create=True),
    "copy-rows": lambda path: child_copy(path, raw_file=False),
    "copy-file": lambda path: child_copy(path, raw_file=True),
}
LABELS = {
    "import": "uploads.import_upload (validate and write, one pass)",
    "import-bulk-create": "the same, with the bulk_create writer instead of COPY",
    "copy-rows": "COPY rows into a temp table (csv.reader + write_row)",
    "copy-file": "COPY the raw file into a temp table (server parses CSV)",
}


def run_child(kind: str, path: Path, timeout: float) -> dict:
    command = [sys.executable, __file__, "--child", kind, "--file", str(path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"{kind} run failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def check_schema() -> None:
    """Creates DATABASE_URL's database if missing and migrates it; then fails early (before
    minutes of work) when it still does not match the models (a rewritten migration)."""
    from bench_results import ensure_database  # the sibling bench: loopback PostgreSQL

    ensure_database()
    setup_django()
    from django.apps import apps
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)

    problems = []
    with connection.cursor() as cursor:
        tables = set(connection.introspection.table_names(cursor))
        for model in apps.get_app_config("reviewapp").get_models():
            table = model._meta.db_table
            if table not in tables:
                problems.append(f"table {table} is missing")
                continue
            description = connection.introspection.get_table_description(cursor, table)
            columns = {column.name for column in description}
            problems += [
                f"column {table}.{f.column} is missing"
                for f in model._meta.concrete_fields
                if f.column not in columns
            ]
    if problems:
        raise SystemExit(
            "The database does not match the models ("
            + "; ".join(problems[:5])
            + "). Run manage.py migrate, or recreate the database if a migration was rewritten."
        )


def cleanup_owner() -> None:
    """Removes what a failed child may have left; reports instead of hiding the results."""
    setup_django()
    from django.contrib.auth import get_user_model

    from reviewapp.models import Experiment

    try:
        Experiment.objects.filter(owner__username=OWNER).delete()
        get_user_model().objects.filter(username=OWNER).delete()
    except Exception as error:  # noqa: BLE001 - a benchmark report matters more
        print(f"Cleanup failed ({error}); remove user {OWNER!r} and its experiments by hand.")


def check_disk(folder: str, n_pairs: int) -> None:
    """Refuses to start when the CSV (about 2.5 KB a pair) would fill the disk."""
    needed = n_pairs * 2_500 * 2  # the file, and as much again for the database's tables
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise SystemExit(
            f"{n_pairs:,} pairs need about {needed / 1e9:.1f} GB free in {folder} and the "
            f"database's disk; {free / 1e9:.1f} GB are free."
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--timeout", type=float, default=900, help="Seconds per child run.")
    parser.add_argument(
        "--bulk-create",
        action="store_true",
        help="Also import with the bulk_create writer (several times slower than COPY).",
    )
    parser.add_argument("--child", choices=list(CHILDREN), help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        print(json.dumps(CHILDREN[args.child](args.file)))
        return

    check_schema()
    check_disk(tempfile.gettempdir(), args.pairs)
    with tempfile.TemporaryDirectory(prefix="reviewapp-bench-") as folder:
        path = Path(folder) / "pairs.csv"
        start = time.perf_counter()
        generate_csv(path, args.pairs, args.seed)
        size_mb = path.stat().st_size / 1024 / 1024
        took = time.perf_counter() - start
        print(f"Generated {args.pairs:,} pairs, {size_mb:,.1f} MiB, in {took:.1f} s.")
        kinds = [k for k in CHILDREN if args.bulk_create or k != "import-bulk-create"]
        runs: dict[str, list[dict]] = {kind: [] for kind in kinds}
        deadline = time.monotonic() + args.timeout * 3
        try:
            for i in range(args.runs):
                for kind in kinds:
                    runs[kind].append(run_child(kind, path, args.timeout))
                print(
                    f"run {i + 1}: "
                    + ", ".join(f"{kind} {r[-1]['seconds']:.2f} s" for kind, r in runs.items()),
                    flush=True,
                )
                if time.monotonic() > deadline:
                    print("Stopping early: over the time budget.")
                    break
        finally:
            cleanup_owner()

    done = [r for results in runs.values() for r in results]
    assert all(r["pairs"] == args.pairs for r in done), done
    rates = {kind: statistics.median(args.pairs / r["seconds"] for r in results)
             for kind, results in runs.items()}  # fmt: skip
    print()
    print(f"{args.pairs:,} pairs ({size_mb:,.1f} MiB CSV), median of {len(runs['import'])} runs")
    print()
    print("| method | pairs/s | seconds | CPU s: Python + PostgreSQL | peak RSS (MiB) |")
    print("|---|---:|---:|---:|---:|")
    cpu = {}
    for kind, results in runs.items():
        seconds = statistics.median(r["seconds"] for r in results)
        client, server = (statistics.median(r["cpu"][i] for r in results) for i in (0, 1))
        cpu[kind] = client + server
        peak = max(r["peak_rss_mb"] for r in results)
        print(
            f"| {LABELS[kind]} | {rates[kind]:,.0f} | {seconds:.2f} | "
            f"{client:.2f} + {server:.2f} | {peak:,.0f} |"
        )
    print()
    print(f"import / COPY rows rate: {rates['import'] / rates['copy-rows']:.0%} (target: 50%)")
    print(f"COPY rows CPU / import CPU: {cpu['copy-rows'] / cpu['import']:.0%}")
    print(f"import / COPY raw file rate: {rates['import'] / rates['copy-file']:.0%}")
    if "import-bulk-create" in rates:
        bulk = rates["import-bulk-create"] / rates["copy-rows"]
        print(f"import with bulk_create / COPY rows rate: {bulk:.0%}")
        bulk = cpu["copy-rows"] / cpu["import-bulk-create"]
        print(f"COPY rows CPU / import with bulk_create CPU: {bulk:.0%}")
    before = max(r["rss_before_mb"] for r in runs["import"])
    print(f"import child's RSS before importing (Python + Django): {before:,.0f} MiB")


if __name__ == "__main__":
    main()
