"""Benchmark: what one review request costs inside Django, without gunicorn or HTTP.

    DEBUG=1 .venv/bin/python bench/bench_review_request.py            # 7 batches of 100 loops
    DEBUG=1 .venv/bin/python bench/bench_review_request.py --history 50000 --pairs 52000
    DEBUG=1 .venv/bin/python bench/bench_review_loop.py ...           # the same through gunicorn

It drives Django's WSGI handler directly (the environ a browser without JavaScript would
send: GET /review/<review key>/, then POST the submit form) for one signed-in reviewer, on the
data bench_review_loop.py prepares in its own database (`reviewapp_bench_loop`, or
--database). Per batch it reads the CPU time of this process (Python) and of the
PostgreSQL backend serving it (from /proc), and prints the fastest and the median batch,
then the statements of one loop as Django sends them (connection.execute_wrapper: the
health check and BEGIN/COMMIT are not among them).

This is the measurement to compare two versions of the code on a noisy machine: run it
for each, alternating, and compare medians. Through gunicorn (bench_review_loop.py) the
same change shows less, because the costs both sides share there (a connection per
request, four workers, PostgreSQL and the client on two cores) add noise.
With --history N the reviewer starts with N judged pairs (a long session): what one
request costs should not grow with it.
Bounded: --batches x --loops loops (default 700), one process, loopback only.
"""

import argparse
import io
import statistics
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_review_loop as loop_bench  # noqa: E402


def backend_cpu(connection) -> float:
    """CPU seconds so far of the PostgreSQL backend behind this connection."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    return loop_bench.process_cpu(pid)


def give_history(n: int) -> None:
    """n submitted assignments (on n random pairs) for the bench's one reviewer."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO reviewapp_assignment (experiment_id, pair_id, reviewer_id, left_is_a,
                                              status, shown_at, submitted_at, rationale)
            SELECT p.experiment_id, p.id, m.user_id, true, 'submitted', now(), now(), ''
            FROM reviewapp_pair p
            JOIN reviewapp_experiment e ON e.id = p.experiment_id
            JOIN reviewapp_membership m ON m.experiment_id = e.id
            WHERE e.slug = %s ORDER BY random() LIMIT %s
            """,
            [loop_bench.SLUG, n],
        )
        cursor.execute(
            "UPDATE reviewapp_pair p SET slots_taken = 1"
            " FROM reviewapp_assignment a WHERE a.pair_id = p.id"
        )
        cursor.execute("VACUUM ANALYZE reviewapp_assignment")
        cursor.execute("VACUUM ANALYZE reviewapp_pair")


FLOOR_PATH = "/bench-signed-in-floor/"
BARE_PATH = "/bench-bare-view/"  # the same insert without login_required (the bare view)
DATA_PATH = "/bench-data-path/"  # the loop's statements alone (--ceiling)


def add_floor_view() -> None:
    """The signed-in floor's view (bench/baseline_app.py), mounted at FLOOR_PATH in this
    process only, so it runs under the app's settings and middleware like the loop; the
    bare view at BARE_PATH; and for --ceiling the review loop's data path without its
    page (claim_as_member, submit_as_member: the same statements, no template) at
    DATA_PATH."""
    import baseline_app as baseline
    from django.urls import clear_url_caches, path

    from reviewapp import urls

    urls.urlpatterns[:0] = [
        path(FLOOR_PATH.strip("/") + "/", baseline.signed_in_insert_one),
        path(BARE_PATH.strip("/") + "/", baseline.insert_one),
        path(DATA_PATH.strip("/") + "/<str:review_key>/", baseline.data_path_next),
        path(
            DATA_PATH.strip("/") + "/<str:review_key>/<int:assignment_id>/",
            baseline.data_path_submit,
        ),
    ]
    clear_url_caches()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=7)
    parser.add_argument("--loops", type=int, default=100, help="GET + POST loops per batch")
    parser.add_argument("--pairs", type=int, default=5000)
    parser.add_argument("--database", default=loop_bench.DB_NAME)
    parser.add_argument(
        "--history",
        type=int,
        default=0,
        help="submitted assignments the reviewer already has (a long session), e.g. 50000",
    )
    parser.add_argument(
        "--floor",
        action="store_true",
        help="also time the signed-in floor (bench_review_loop.py's login_required insert "
        "view) in this process, alternating batches with the loop, and print the ratio",
    )
    parser.add_argument(
        "--ceiling",
        action="store_true",
        help="with --floor: also time the bare view and the loop's data path alone (its "
        "statements, no page), and print the best ratios any page over these statements "
        "could reach",
    )
    parser.add_argument(
        "--profile", type=int, default=0, help="print the N most costly functions (cProfile)"
    )
    args = parser.parse_args()
    loop_bench.DB_NAME = args.database
    loop_bench.ensure_database()
    with tempfile.TemporaryDirectory(prefix="bench-request-static-") as static_root:
        loop_bench.setup_django(loop_bench.environment(static_root))
        needed = args.history + (args.batches * args.loops + 51) + 1
        if args.pairs < needed:
            raise SystemExit(f"--pairs must be at least {needed} for this --history")
        (cookie,) = loop_bench.prepare_data(args.pairs, 1)
        loop_bench.reset_review_state()
        if args.history:
            give_history(args.history)

        from django.core.handlers.wsgi import WSGIHandler
        from django.db import connection

        app = WSGIHandler()
        form = urllib.parse.urlencode({f"dim-{i}": "left" for i in range(5)}).encode()

        def request(method: str, path: str, body: bytes = b"") -> tuple[str, bytes]:
            environ = {
                "REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": "",
                "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80", "HTTP_HOST": "127.0.0.1",
                "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http",
                "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr, "HTTP_COOKIE": cookie,
            }  # fmt: skip
            if method == "POST":
                environ |= {
                    "CONTENT_TYPE": "application/x-www-form-urlencoded",
                    "CONTENT_LENGTH": str(len(body)),
                    "HTTP_X_CSRFTOKEN": loop_bench.CSRF,
                }
            status = []
            body = b"".join(app(environ, lambda s, headers, exc_info=None: status.append(s)))
            return status[0], body

        def review(n: int) -> None:
            for _ in range(n):
                status, page = request("GET", loop_bench.REVIEW_PATH)
                action = loop_bench.SUBMIT_ACTION.search(page)
                if not status.startswith("200") or action is None:
                    raise SystemExit(f"GET answered {status}, or no pair left")
                status, _ = request("POST", action.group(1).decode(), form)
                if not status.startswith("302"):
                    raise SystemExit(f"POST answered {status}")

        def floor(n: int) -> None:
            for _ in range(n):
                status, _ = request("GET", FLOOR_PATH)
                if not status.startswith("200"):
                    raise SystemExit(f"floor answered {status}")

        def bare(n: int) -> None:
            for _ in range(n):
                status, _ = request("GET", BARE_PATH)
                if not status.startswith("200"):
                    raise SystemExit(f"bare view answered {status}")

        def data_path(n: int) -> None:
            review_path = loop_bench.REVIEW_PATH.replace("/review/", DATA_PATH, 1)
            for _ in range(n):
                status, pk = request("GET", review_path)
                if not status.startswith("200"):
                    raise SystemExit(f"data path answered {status}")
                status, _ = request("POST", f"{review_path}{pk.decode()}/", form)
                if not status.startswith("302"):
                    raise SystemExit(f"data path submit answered {status}")

        def timed(run, n: int, requests: int) -> tuple[float, float, float]:
            python, postgres, wall = time.process_time(), backend_cpu(connection), time.monotonic()
            run(n)
            return (
                (time.process_time() - python) / requests * 1000,
                (backend_cpu(connection) - postgres) / requests * 1000,
                (time.monotonic() - wall) / requests * 1000,
            )

        if args.floor:
            add_floor_view()
            floor(100)
        review(50)  # warm up (and let psycopg prepare the statements)
        if args.ceiling:
            bare(100)
            data_path(50)
        batches, floor_batches, bare_batches, data_batches = [], [], [], []
        for _ in range(args.batches):
            batches.append(timed(review, args.loops, 2 * args.loops))
            if args.floor:
                floor_batches.append(timed(floor, 2 * args.loops, 2 * args.loops))
            if args.ceiling:
                bare_batches.append(timed(bare, 2 * args.loops, 2 * args.loops))
                data_batches.append(timed(data_path, args.loops, 2 * args.loops))
        if args.profile:
            import cProfile
            import pstats

            profiler = cProfile.Profile(time.process_time)  # CPU, not waiting
            profiler.runcall(review, args.loops)
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(args.profile)
        statements = []

        def record(execute, sql, params, many, context):
            statements.append(" ".join(sql.split()))
            return execute(sql, params, many, context)

        with connection.execute_wrapper(record):
            review(1)

    print(
        f"{args.batches} batches of {args.loops} loops (GET next pair + POST submit), "
        f"reviewer history {args.history} judged pairs, ms per request:"
    )
    print()
    print("| batch | Python CPU | PostgreSQL CPU | wall |")
    print("|---|---:|---:|---:|")
    fastest = min(batches)
    print(f"| fastest | {fastest[0]:.2f} | {fastest[1]:.2f} | {fastest[2]:.2f} |")
    medians = [statistics.median(batch[i] for batch in batches) for i in range(3)]
    print(f"| median | {medians[0]:.2f} | {medians[1]:.2f} | {medians[2]:.2f} |")
    if floor_batches:
        floor_medians = [statistics.median(b[i] for b in floor_batches) for i in range(3)]
        print(
            f"| signed-in floor, median | {floor_medians[0]:.2f} | {floor_medians[1]:.2f}"
            f" | {floor_medians[2]:.2f} |"
        )
        ratio = (floor_medians[0] + floor_medians[1]) / (medians[0] + medians[1])
        print()
        print(f"CPU (Python + PostgreSQL) of a floor request / of a review request: {ratio:.2f}")
    if bare_batches:
        rows = {"bare view": bare_batches, "data path alone": data_batches}
        cpu = {}
        for name, runs in rows.items():
            med = [statistics.median(b[i] for b in runs) for i in range(3)]
            cpu[name] = med[0] + med[1]
            print(f"| {name}, median | {med[0]:.2f} | {med[1]:.2f} | {med[2]:.2f} |")
        cpu["floor"] = floor_medians[0] + floor_medians[1]
        cpu["review"] = medians[0] + medians[1]
        print()
        print(
            "CPU of a bare-view request / of a review request: "
            f"{cpu['bare view'] / cpu['review']:.2f}; / of a data-path request (the best "
            f"any page over these statements could do): "
            f"{cpu['bare view'] / cpu['data path alone']:.2f}"
        )
        print(
            "CPU of a floor request / of a data-path request: "
            f"{cpu['floor'] / cpu['data path alone']:.2f}"
        )
    print()
    print(f"{len(statements)} statements a loop:")
    for sql in statements:
        print(f"- {sql[:110]}")


if __name__ == "__main__":
    main()
