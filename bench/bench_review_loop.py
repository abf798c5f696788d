"""Benchmark: the review loop (next pair + submit) through gunicorn on PostgreSQL, against
a baseline under the same gunicorn in the same run.

    .venv/bin/python bench/bench_review_loop.py                      # 1, 8, 32 reviewers
    .venv/bin/python bench/bench_review_loop.py --configs 2,4,8,2x4,4x2 --levels 8,32 \\
        --runs 1 --seconds 5                                         # choose gunicorn's size

Per gunicorn configuration ("W" = W sync workers, "WxT" = W gthread workers of T threads)
it starts two servers from gunicorn.conf.py (bound to free loopback ports): the app
(reviewapp.wsgi) and the baseline (bench/baseline_app.py: the same settings and middleware
plus one view that inserts a row into a plain table and returns a small page). Then for
each concurrency level, --runs times: the review loop for --seconds and the baseline for
--seconds, in --slices alternating slices (loop, baseline, loop, ...; default 5 of 2 s
each), so each ratio compares two measurements taken over the same stretch of time even
when the machine's speed drifts (on this shared VM it moves by a third within minutes).

A simulated reviewer is a thread with its own session (a logged-in user, created in the
database beforehand) doing what a browser without JavaScript does: GET /review/<review key>/
(the next pair), then POST its submit form (answer on every dimension; 302 back to the
page). Requests/s counts both; latency is per request. Review state (assignments,
judgments, slot counts) is reset before every run so each starts from the same place.

Bounded: --seconds per measurement (default 10), --runs (default 3), 30 s HTTP timeout,
servers stopped at the end. Loopback only. Uses the database `reviewapp_bench_loop`
(created if missing; its contents are replaced). The client is Python threads on the same
2 cores as the servers and PostgreSQL: it takes CPU from them, equally in both halves.
"""

import argparse
import os
import re
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.client import HTTPConnection
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DB_NAME = "reviewapp_bench_loop"
SLUG = "bench-loop"
# The review page's path: the web review URLs carry the experiment's review key, set by
# prepare_data.
REVIEW_PATH = ""
CSRF = secrets.token_hex(16)  # a 32-character CSRF secret, sent as cookie and header
SUBMIT_ACTION = re.compile(rb'action="(/review/[^"]+/\d+/submit/)"')


def environment(static_root: str) -> dict:
    return os.environ | {
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DB_NAME}",
        "DEBUG": "0",
        "SECRET_KEY": os.environ.get("BENCH_SECRET_KEY") or secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_COOKIES": "0",
        "STATIC_ROOT": static_root,
        "LOG_LEVEL": "ERROR",
    }


def ensure_database() -> None:
    import psycopg

    with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as c:
        if not c.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB_NAME]).fetchone():
            c.execute(f'CREATE DATABASE "{DB_NAME}"')


def setup_django(env: dict) -> None:
    os.environ.update(env)
    os.environ["BENCH_SECRET_KEY"] = env["SECRET_KEY"]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reviewapp.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def prepare_data(n_pairs: int, n_reviewers: int) -> list[str]:
    """Migrate, (re)create the experiment and reviewers; returns one Cookie header each."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from reviewapp.experiments import create_experiment
    from reviewapp.models import Experiment, Pair, pair_shuffle_key

    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    User = get_user_model()
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS bench_baseline"
            " (id bigserial PRIMARY KEY, note text NOT NULL, created_at timestamptz NOT NULL)"
        )
    reset_review_state()  # judgments protect the rubric from deletion
    Experiment.objects.filter(slug=SLUG).delete()
    User.objects.filter(username__startswith="bench-loop-").delete()
    owner = User.objects.create(username="bench-loop-owner")
    experiment = create_experiment(
        owner=owner, name="Bench loop", slug=SLUG, status="open", reviews_per_pair=3
    )
    global REVIEW_PATH
    REVIEW_PATH = f"/review/{experiment.review_key}/"
    text = "A fairly ordinary answer of a few sentences, with *some* markdown. " * 6
    Pair.objects.bulk_create(
        (
            Pair(
                experiment=experiment,
                external_id=f"q{i:06d}",
                prompt=f"Question {i}: explain something in a paragraph.",
                model_a="alpha-7b",
                output_a=f"{i} {text}",
                model_b="beta-13b",
                output_b=f"{text} {i}",
                shuffle_key=pair_shuffle_key(experiment.seed, f"q{i:06d}"),
            )
            for i in range(n_pairs)
        ),
        batch_size=2000,
    )
    reviewers = [User.objects.create(username=f"bench-loop-r{i:03d}") for i in range(n_reviewers)]
    experiment.reviewers.add(*reviewers)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    cookies = []
    for reviewer in reviewers:
        client = Client()
        client.force_login(reviewer)
        cookies.append(f"sessionid={client.cookies['sessionid'].value}; csrftoken={CSRF}")
    return cookies


def reset_review_state() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE reviewapp_judgment, reviewapp_assignment")
        cursor.execute("UPDATE reviewapp_pair SET slots_taken = 0 WHERE slots_taken <> 0")
        cursor.execute("TRUNCATE bench_baseline")
        cursor.execute("VACUUM ANALYZE reviewapp_pair")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(env: dict, workers: int, threads: int, baseline: bool):
    port = free_port()
    # Tag the server's database connections, so its PostgreSQL backends can be found.
    tag = "bench-loop-baseline" if baseline else "bench-loop-app"
    env = env | {
        "DATABASE_URL": f"{env['DATABASE_URL']}?application_name={tag}",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": str(workers),
        "GUNICORN_THREADS": str(threads),
        "GUNICORN_LOG_LEVEL": "warning",
    }
    command = [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "--access-logfile", "/dev/null"]
    if baseline:
        env["DJANGO_SETTINGS_MODULE"] = "baseline_settings"
        command += ["--pythonpath", str(ROOT / "bench"), "baseline_app:application"]
    else:
        command += ["reviewapp.wsgi"]
    process = subprocess.Popen(command, cwd=ROOT, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            connection = HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/healthz")
            if connection.getresponse().status in (200, 404):  # the baseline has no /healthz
                process.tag = tag
                return process, port
        except OSError:
            time.sleep(0.2)
    process.terminate()
    raise SystemExit("gunicorn did not start")


TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a process (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    if int(stat.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except OSError:
                continue
    return found


def server_cpu(server) -> dict[int, float]:
    """CPU seconds so far of the server's workers and of its PostgreSQL backends, by pid."""
    import psycopg

    with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as c:
        backends = [
            pid
            for (pid,) in c.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = %s", [server.tag]
            )
        ]
    return {("worker", pid): process_cpu(pid) for pid in children(server.pid)} | {
        ("postgres", pid): process_cpu(pid) for pid in backends
    }


def cpu_used(before: dict, after: dict, kind: str) -> float:
    """CPU seconds used between two server_cpu() readings by one kind of process (a process
    that appeared in between counts from zero, one that went away is lost)."""
    return sum(seconds - before.get(key, 0.0) for key, seconds in after.items() if key[0] == kind)


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    finished: int = 0


def review_loop_client(port, cookie, deadline, tally, lock):
    """A reviewer: GET the review page, POST its submit form (302 back to the page)."""

    def submit_path(body: bytes) -> str | None:
        match = SUBMIT_ACTION.search(body)
        return match.group(1).decode() if match else None

    get_and_post(port, cookie, deadline, tally, lock, REVIEW_PATH, submit_path)


def get_and_post(port, cookie, deadline, tally, lock, path, submit_path) -> None:
    """GET `path`, then POST the answers to `submit_path(page)` (302 expected), until the
    deadline; a page without a submit path means the reviewer ran out of pairs."""
    connection = HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Cookie": cookie}
    post_headers = headers | {
        "X-CSRFToken": CSRF,
        "Content-Type": "application/x-www-form-urlencoded",
    }
    form = urllib.parse.urlencode({f"dim-{i}": "left" for i in range(5)})
    mine = []
    errors = 0
    while time.monotonic() < deadline:
        start = time.perf_counter()
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        body = response.read()
        mine.append(time.perf_counter() - start)
        action = submit_path(body) if response.status == 200 else None
        if action is None:
            errors += response.status != 200
            with lock:
                tally.finished += response.status == 200
            break
        if time.monotonic() >= deadline:
            break
        start = time.perf_counter()
        connection.request("POST", action, body=form, headers=post_headers)
        response = connection.getresponse()
        response.read()
        mine.append(time.perf_counter() - start)
        errors += response.status != 302
    with lock:
        tally.latencies += mine
        tally.errors += errors


def baseline_client(port, _cookie, deadline, tally, lock, path="/baseline/", headers=None):
    connection = HTTPConnection("127.0.0.1", port, timeout=30)
    mine, errors = [], 0
    while time.monotonic() < deadline:
        start = time.perf_counter()
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        response.read()
        mine.append(time.perf_counter() - start)
        errors += response.status != 200
    with lock:
        tally.latencies += mine
        tally.errors += errors


def run_slice(client, server, port, cookies, concurrency, seconds) -> dict:
    """`concurrency` clients for `seconds`: what they did and the CPU it took."""
    tally, lock = Tally(), threading.Lock()
    cpu_before, client_before = server_cpu(server), time.process_time()
    began = time.monotonic()
    deadline = began + seconds
    threads = [
        threading.Thread(target=client, args=(port, cookies[i], deadline, tally, lock))
        for i in range(concurrency)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 60)
    elapsed = time.monotonic() - began
    client_cpu, cpu_after = time.process_time() - client_before, server_cpu(server)
    return {
        "latencies": tally.latencies,
        "elapsed": elapsed,
        "cpu_worker": cpu_used(cpu_before, cpu_after, "worker"),
        "cpu_postgres": cpu_used(cpu_before, cpu_after, "postgres"),
        "cpu_client": client_cpu,
        "errors": tally.errors,
        "finished": tally.finished,
    }


def summarise(slices: list[dict]) -> dict:
    latencies = sorted(latency for part in slices for latency in part["latencies"])
    if not latencies:
        raise SystemExit("no request completed")
    per_request = 1000 / len(latencies)  # CPU seconds per request, in ms
    return {
        "cpu_worker": sum(part["cpu_worker"] for part in slices) * per_request,
        "cpu_postgres": sum(part["cpu_postgres"] for part in slices) * per_request,
        "cpu_client": sum(part["cpu_client"] for part in slices) * per_request,
        "rps": len(latencies) / sum(part["elapsed"] for part in slices),
        "p50": latencies[len(latencies) // 2] * 1000,
        "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        "errors": sum(part["errors"] for part in slices),
        "finished": sum(part["finished"] for part in slices),
    }


def signed_in_client(port, cookie, deadline, tally, lock):
    baseline_client(port, cookie, deadline, tally, lock, "/signed-in/", {"Cookie": cookie})


def data_path_client(port, cookie, deadline, tally, lock):
    """The loop's data path without its page (baseline_app's /data-path/ views): GET gives
    the claimed assignment's id, POST stores the answers and answers 302."""
    path = REVIEW_PATH.replace("/review/", "/data-path/", 1)

    def submit_path(body: bytes) -> str | None:
        return f"{path}{body.decode()}/" if body.isdigit() else None

    get_and_post(port, cookie, deadline, tally, lock, path, submit_path)


def measure_sides(sides, cookies, concurrency, seconds, slices) -> list[dict]:
    """One run: each side ((client, server, port): the review loop, the baseline, ...)
    for `seconds`, taken in `slices` alternating slices (loop, baseline, loop, ...), so
    all sides see the same machine even when its speed drifts from one second to the
    next (it does, on a shared VM)."""
    parts = [[] for _ in sides]
    for _ in range(slices):
        for side, (client, server, port) in enumerate(sides):
            parts[side].append(
                run_slice(client, server, port, cookies, concurrency, seconds / slices)
            )
    return [summarise(side_parts) for side_parts in parts]


def median_of(runs: list[dict], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def parse_config(text: str) -> tuple[int, int]:
    workers, _, threads = text.partition("x")
    return int(workers), int(threads or 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--levels", default="1,8,32", help="concurrent reviewers, comma-separated")
    parser.add_argument("--seconds", type=float, default=10.0, help="per measurement")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pairs", type=int, default=5000)
    parser.add_argument(
        "--slices", type=int, default=5, help="alternating loop/baseline slices per run"
    )
    parser.add_argument(
        "--floor",
        action="store_true",
        help="also measure a signed-in GET that inserts one row (the baseline's view behind "
        "the login check): what any page of the app costs before doing its own work",
    )
    parser.add_argument(
        "--data-path",
        action="store_true",
        help="also measure the review loop's data path without its page (the same claim "
        "and submit functions behind login_required, answering the assignment id and a "
        "302): the best any review page over these statements could do",
    )
    parser.add_argument(
        "--configs", default="4", help="gunicorn sizes: W sync workers or WxT gthread"
    )
    args = parser.parse_args()
    levels = [int(level) for level in args.levels.split(",")]
    ensure_database()
    with tempfile.TemporaryDirectory(prefix="bench-loop-static-") as static_root:
        env = environment(static_root)
        setup_django(env)
        cookies = prepare_data(args.pairs, max(levels))
        rows, extra_rows = [], []
        extras = [("Signed-in floor", signed_in_client)] if args.floor else []
        if args.data_path:
            extras.append(("Data path alone", data_path_client))
        for config in args.configs.split(","):
            workers, threads = parse_config(config)
            app, app_port = start_gunicorn(env, workers, threads, baseline=False)
            base, base_port = start_gunicorn(env, workers, threads, baseline=True)
            try:
                sides = [(review_loop_client, app, app_port), (baseline_client, base, base_port)]
                sides += [(client, base, base_port) for _, client in extras]
                reset_review_state()
                measure_sides(sides, cookies, min(8, max(levels)), 4, 2)  # warm up
                for level in levels:
                    loop_runs, base_runs = [], []
                    for _ in range(args.runs):
                        reset_review_state()
                        loop, baseline, *others = measure_sides(
                            sides, cookies, level, args.seconds, args.slices
                        )
                        loop_runs.append(loop)
                        base_runs.append(baseline)
                        extra_rows.extend(
                            (name, config, level, run, baseline, loop)
                            for (name, _), run in zip(extras, others, strict=True)
                        )
                    rows.append((config, level, loop_runs, base_runs))
                    print_row(*rows[-1], flush=True)
            finally:
                for process in (app, base):
                    process.terminate()
                    process.wait(30)
        print()
        print(
            f"Medians of {args.runs} runs of {args.seconds:g} s each side, in {args.slices} "
            f"alternating slices; {args.pairs} pairs, "
            "3 reviews per pair; loop = GET next pair + POST submit; baseline = GET that "
            "inserts one row."
        )
        print()
        print(
            "| gunicorn | reviewers | loop req/s | loop p50 ms | loop p99 ms "
            "| baseline req/s | baseline p50 ms | baseline p99 ms | req/s ratio | p99 ratio |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for row in rows:
            print_row(*row)
        print()
        print(
            "CPU per request, ms (medians): gunicorn workers (Python), their PostgreSQL "
            "backends, the load generator."
        )
        print()
        print(
            "| gunicorn | reviewers | loop: workers | postgres | client | baseline: workers "
            "| postgres | client |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for row in rows:
            print_cpu_row(*row)
        for name, _ in extras:
            print()
            print(
                f"{name}: "
                + (
                    "the baseline's view behind login_required (session and user read)"
                    if name == "Signed-in floor"
                    else "claim_as_member and submit_as_member behind login_required, no page"
                )
                + "; same run and slices; ratios to the baseline and to the review loop of "
                "the same run."
            )
            print()
            print(
                "| gunicorn | reviewers | req/s | p99 ms | workers ms | postgres ms "
                "| req/s ratio to baseline | loop's req/s / this |"
            )
            print("|---|---:|---:|---:|---:|---:|---:|---:|")
            print_extra_rows([row[1:] for row in extra_rows if row[0] == name])


def print_row(config, level, loop_runs, base_runs, flush=False):
    if flush:
        errors = sum(run["errors"] for run in loop_runs + base_runs)
        finished = sum(run["finished"] for run in loop_runs)
        print(f"# {config} at {level}: errors {errors}, reviewers out of pairs {finished}")
    workers, threads = parse_config(config)
    label = f"{workers} sync" if threads == 1 else f"{workers}x{threads} gthread"
    loop = {key: median_of(loop_runs, key) for key in ("rps", "p50", "p99")}
    base = {key: median_of(base_runs, key) for key in ("rps", "p50", "p99")}
    ratios = [run["rps"] / b["rps"] for run, b in zip(loop_runs, base_runs, strict=True)]
    p99_ratios = [run["p99"] / b["p99"] for run, b in zip(loop_runs, base_runs, strict=True)]
    print(
        f"| {label} | {level} | {loop['rps']:.0f} | {loop['p50']:.1f} | {loop['p99']:.1f} "
        f"| {base['rps']:.0f} | {base['p50']:.1f} | {base['p99']:.1f} "
        f"| {statistics.median(ratios):.2f} | {statistics.median(p99_ratios):.2f} |",
        flush=True,
    )


def print_cpu_row(config, level, loop_runs, base_runs):
    keys = ("cpu_worker", "cpu_postgres", "cpu_client")
    cells = [f"{median_of(runs, key):.2f}" for runs in (loop_runs, base_runs) for key in keys]
    print(f"| {config} | {level} | " + " | ".join(cells) + " |")


def print_extra_rows(extra_rows):
    grouped: dict = {}
    for config, level, run, baseline, loop in extra_rows:
        grouped.setdefault((config, level), []).append((run, baseline, loop))
    for (config, level), runs in grouped.items():
        cells = [
            statistics.median(run["rps"] for run, _, _ in runs),
            statistics.median(run["p99"] for run, _, _ in runs),
            statistics.median(run["cpu_worker"] for run, _, _ in runs),
            statistics.median(run["cpu_postgres"] for run, _, _ in runs),
            statistics.median(run["rps"] / baseline["rps"] for run, baseline, _ in runs),
            statistics.median(loop["rps"] / run["rps"] for run, _, loop in runs),
        ]
        print(
            f"| {config} | {level} | {cells[0]:.0f} | {cells[1]:.1f} | {cells[2]:.2f} "
            f"| {cells[3]:.2f} | {cells[4]:.2f} | {cells[5]:.2f} |"
        )


if __name__ == "__main__":
    main()
