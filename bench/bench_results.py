"""Benchmark: compute_results on PostgreSQL at 10k, 100k and 1M judgments.

    DEBUG=1 DATABASE_URL=postgres://postgres@127.0.0.1:5432/reviewapp_bench_results \\
        .venv/bin/python bench/bench_results.py [--sizes 10000 100000 1000000] [--repeat 3]

Shape of the data: 8 models (28 model pairs, both A/B orders), 12 reviewers, 3 reviewers
per pair, 5 dimensions, ties about 20 %, screen sides random; so N judgments are N / 5
assignments on N / 15 pairs. The data are generated inside PostgreSQL (INSERT ... SELECT
generate_series) once per size and kept between runs (experiments `bench-results-N`).

Each measurement runs in a fresh child process: the first call of compute_results (1,000
bootstrap resamples) is reported on its own (cold: nothing memoised yet), then the median
of `--repeat` more calls; "of which SQL" is the last call's time in the database. Memory
is the child's peak RSS
(VmHWM, which includes Python, Django and numpy themselves: the last column is the peak
before the first call). `--profile` prints each query's time.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reviewapp.settings")

MODELS = [f"model-{c}" for c in "abcdefgh"]
N_REVIEWERS = 12
PER_PAIR = 3


def setup_django():
    import django

    ensure_database()
    django.setup()
    from django.core.management import call_command
    from django.db import connection

    if connection.vendor != "postgresql":
        sys.exit("This benchmark needs PostgreSQL: set DATABASE_URL=postgres://...")
    call_command("migrate", verbosity=0)


def ensure_database():
    """Create DATABASE_URL's database if it does not exist yet (loopback PostgreSQL)."""
    import dj_database_url
    import psycopg

    settings = dj_database_url.parse(os.environ.get("DATABASE_URL", ""))
    if "postgresql" not in settings.get("ENGINE", ""):
        return
    server = f"host={settings['HOST'] or '127.0.0.1'} port={settings['PORT'] or 5432}"
    with psycopg.connect(f"{server} user={settings['USER']} dbname=postgres", autocommit=True) as c:
        if not c.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [settings["NAME"]]
        ).fetchone():
            c.execute(f'CREATE DATABASE "{settings["NAME"]}"')


def other_columns(model, given: set[str]) -> tuple[tuple[str, str], list]:
    """(", col1, col2", ", %s, %s") and the default values of every other column, so the
    generated rows satisfy NOT NULL columns added to the models later."""
    import json as json_module

    from django.db import models as m

    columns, values = [], []
    for field in model._meta.concrete_fields:
        if field.name in given:
            continue
        default = field.get_default()
        if isinstance(field, m.JSONField):
            default = json_module.dumps(default)
        columns.append(field.column)
        values.append(default)
    marks = "".join(
        ", %s::jsonb" if isinstance(model._meta.get_field(f.name), m.JSONField) else ", %s"
        for f in model._meta.concrete_fields
        if f.name not in given
    )
    return ("".join(f", {c}" for c in columns), marks), values


def slug_for(size: int, varied: bool) -> str:
    return f"bench-results-{size}-varied" if varied else f"bench-results-{size}"


def ensure_data(size: int, regenerate: bool = False, varied: bool = False):
    """The experiment with `size` judgments, generated in the database if missing. With
    `varied`, each output is 50-2,000 characters long (uniformly), so the length-adjusted
    win rate is fitted and bootstrapped; else every output is one character long and the
    length figures stop at "no length difference" (s = 0)."""
    from itertools import combinations

    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from reviewapp.experiments import create_experiment
    from reviewapp.models import Assignment, Experiment, Judgment, Membership, Pair

    slug = slug_for(size, varied)
    n_pairs = size // (5 * PER_PAIR)
    experiment = Experiment.objects.filter(slug=slug).first()
    if experiment is not None:
        found = Judgment.objects.filter(assignment__experiment=experiment).count()
        if found == n_pairs * PER_PAIR * 5 and not regenerate:
            return experiment
        # Judgments protect their dimensions: delete from the bottom up.
        Judgment.objects.filter(assignment__experiment=experiment).delete()
        experiment.delete()
    User = get_user_model()
    owner, _ = User.objects.get_or_create(username="bench-owner")
    reviewers = [
        User.objects.get_or_create(username=f"bench-reviewer-{i:02d}")[0]
        for i in range(N_REVIEWERS)
    ]
    combos = list(combinations(MODELS, 2))
    quality = {m: i * 0.15 for i, m in enumerate(MODELS)}  # model-h best
    # Both A/B orders; P(A wins | not a tie) from the quality difference.
    model_a = [a if i % 2 == 0 else b for i, (a, b) in enumerate(combos)]
    model_b = [b if i % 2 == 0 else a for i, (a, b) in enumerate(combos)]
    p_a = [1 / (1 + 10 ** (quality[b] - quality[a])) for a, b in zip(model_a, model_b, strict=True)]
    pair_extra, pair_extra_params = other_columns(
        Pair, {"id", "experiment", "external_id", "prompt", "model_a", "output_a", "model_b",
               "output_b", "slots_taken", "shuffle_key"},
    )  # fmt: skip
    assignment_extra, assignment_extra_params = other_columns(
        Assignment, {"id", "experiment", "pair", "reviewer", "left_is_a", "status", "shown_at",
                     "submitted_at"},
    )  # fmt: skip
    judgment_extra, judgment_extra_params = other_columns(
        Judgment, {"id", "assignment", "dimension", "choice"}
    )
    started = time.perf_counter()
    with transaction.atomic():
        experiment = create_experiment(
            owner=owner, name=slug, slug=slug, baseline_model=MODELS[0], seed=12345
        )
        Membership.objects.bulk_create(Membership(experiment=experiment, user=r) for r in reviewers)
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                INSERT INTO reviewapp_pair (experiment_id, external_id, prompt, model_a,
                    output_a, model_b, output_b, slots_taken, shuffle_key{pair_extra[0]})
                SELECT %s, 'p' || g, 'prompt ' || g, (%s::text[])[1 + g %% %s],
                       repeat('a', CASE WHEN %s THEN 50 + (random() * 1950)::int ELSE 1 END),
                       (%s::text[])[1 + g %% %s],
                       repeat('b', CASE WHEN %s THEN 50 + (random() * 1950)::int ELSE 1 END),
                       %s, g{pair_extra[1]}
                FROM generate_series(0, %s - 1) AS g
                """,
                [
                    experiment.pk,
                    model_a,
                    len(combos),
                    varied,
                    model_b,
                    len(combos),
                    varied,
                    PER_PAIR,
                    *pair_extra_params,
                    n_pairs,
                ],  # fmt: skip
            )
            # Fresh statistics before each join, or PostgreSQL plans for empty tables
            # (nested loops) and the generation turns quadratic.
            cursor.execute("ANALYZE reviewapp_pair")
            cursor.execute(
                f"""
                INSERT INTO reviewapp_assignment (experiment_id, pair_id, reviewer_id,
                    left_is_a, status, shown_at, submitted_at{assignment_extra[0]})
                SELECT p.experiment_id, p.id, (%s::bigint[])[1 + ((p.id + k * 5) %% %s)],
                       random() < 0.5, 'submitted', s.shown,
                       s.shown + (5 + random() * 120) * interval '1 second'{assignment_extra[1]}
                FROM reviewapp_pair p
                CROSS JOIN generate_series(0, %s - 1) AS k,
                LATERAL (SELECT now() - random() * interval '30 days' AS shown) AS s
                WHERE p.experiment_id = %s
                """,
                [
                    [r.pk for r in reviewers],
                    N_REVIEWERS,
                    *assignment_extra_params,
                    PER_PAIR,
                    experiment.pk,
                ],  # fmt: skip
            )
            cursor.execute("ANALYZE reviewapp_assignment")
            cursor.execute(
                f"""
                INSERT INTO reviewapp_judgment
                    (assignment_id, dimension_id, choice{judgment_extra[0]})
                SELECT a.id, d.id,
                       CASE WHEN x.r < 0.2 THEN 'tie'
                            WHEN (x.r - 0.2) / 0.8 < (%s::float8[])[1 + (p.external_id_n %% %s)]
                            THEN 'A' ELSE 'B' END{judgment_extra[1]}
                FROM reviewapp_assignment a
                JOIN (SELECT id, substr(external_id, 2)::int AS external_id_n
                      FROM reviewapp_pair WHERE experiment_id = %s) p ON p.id = a.pair_id
                CROSS JOIN reviewapp_dimension d,
                LATERAL (SELECT random() + 0 * a.id + 0 * d.id AS r) AS x
                WHERE a.experiment_id = %s AND d.experiment_id = %s
                """,
                [
                    p_a,
                    len(combos),
                    *judgment_extra_params,
                    experiment.pk,
                    experiment.pk,
                    experiment.pk,
                ],  # fmt: skip
            )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE reviewapp_pair, reviewapp_assignment, reviewapp_judgment")
    print(
        f"  generated {size:,} judgments in {time.perf_counter() - started:.1f} s",
        file=sys.stderr,
    )
    return experiment


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM). Not ru_maxrss: Linux carries that over
    from the parent through fork and exec, so a child would report the parent's peak."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(size: int, repeat: int, profile: bool, varied: bool) -> dict:
    """Runs in the child: time compute_results, report peak RSS."""
    setup_django()
    from django.db import connection

    from reviewapp.models import Experiment
    from reviewapp.results import compute_results

    experiment = Experiment.objects.get(slug=slug_for(size, varied))
    baseline_mb = peak_rss_mb()
    times, query_times = [], []

    def timed(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            query_times.append((time.perf_counter() - started, " ".join(sql.split())[:90]))

    # The first call is cold: nothing memoised in this process (see results/pairs.py).
    for _ in range(repeat + 1):
        query_times.clear()
        started = time.perf_counter()
        with connection.execute_wrapper(timed):
            results = compute_results(experiment)
        times.append(time.perf_counter() - started)
    n = sum(d["n_judgments"] for d in results["dimensions"].values())
    return {
        "size": size,
        "judgments": n,
        "cold_seconds": times[0],
        "seconds": statistics.median(times[1:]),
        "all_seconds": times,
        "query_seconds": sum(t for t, _ in query_times),
        "queries": [(round(t, 3), sql) for t, sql in query_times] if profile else [],
        "baseline_mb": baseline_mb,
        "peak_mb": peak_rss_mb(),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="print each query's time")
    parser.add_argument(
        "--regenerate", action="store_true", help="generate the data again even if present"
    )
    parser.add_argument(
        "--lengths",
        choices=["constant", "varied"],
        default="constant",
        help="outputs of one character (default) or of 50-2,000 characters",
    )
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        varied = args.lengths == "varied"
        print(json.dumps(measure(args.child, args.repeat, args.profile, varied)))
        return
    setup_django()
    for size in args.sizes:
        ensure_data(size, args.regenerate, args.lengths == "varied")
    rows = []
    for size in args.sizes:
        command = [sys.executable, __file__, "--child", str(size), "--repeat", str(args.repeat)]
        command += ["--lengths", args.lengths]
        if args.profile:
            command.append("--profile")
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        rows.append(json.loads(output.strip().splitlines()[-1]))
    print(
        f"| judgments | first call (cold) | median of next {args.repeat} | of which SQL "
        "| peak RSS | RSS before the first call |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['judgments']:,} | {r['cold_seconds']:.2f} s | {r['seconds']:.2f} s "
            f"| {r['query_seconds']:.2f} s | {r['peak_mb']:.0f} MB | {r['baseline_mb']:.0f} MB |"
        )
    if args.profile:
        for r in rows:
            print(f"\n{r['judgments']:,} judgments, last run:")
            for seconds, sql in r["queries"]:
                print(f"  {seconds:7.3f} s  {sql}")


if __name__ == "__main__":
    main()
