"""Faults, on PostgreSQL with real processes: a killed database connection, a gunicorn
worker SIGKILLed inside a submit, an import SIGKILLed midway. Plus the production
serving checks (check --deploy, /healthz) that those processes rely on.

The servers here are the real thing: `gunicorn -c gunicorn.conf.py reviewapp.wsgi` with
DEBUG off, against the test database (committed data: `transaction=True`). Each process
tags its database connections with an application_name, so the test can find exactly
its backends in pg_stat_activity and never touches anybody else's.
"""

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.urls import reverse

from reviewapp.assignment import next_assignment
from reviewapp.models import Assignment, Judgment, Pair
from reviewapp.tokens import PREFIX
from tests.conftest import make_experiment

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

postgres_db = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def database_url(application_name: str) -> str:
    db = connection.settings_dict
    user = db["USER"] or "postgres"
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return (
        f"postgres://{user}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/"
        f"{db['NAME']}?application_name={application_name}"
    )


def server_env(application_name: str, **extra) -> dict:
    return (
        os.environ
        | {
            "DATABASE_URL": database_url(application_name),
            "DEBUG": "0",
            "TESTING": "0",
            # The same key as this process, so a session made here is valid there.
            "SECRET_KEY": settings.SECRET_KEY,
            "ALLOWED_HOSTS": "127.0.0.1",
            "SECURE_COOKIES": "0",
        }
        | extra
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def backends(application_name: str, where: str = "true") -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid, state, wait_event_type, backend_xid::text, query"
            " FROM pg_stat_activity WHERE application_name = %s AND " + where,
            [application_name],
        )
        return cursor.fetchall()


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := predicate():
            return result
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture(scope="session")
def static_root(tmp_path_factory):
    """DEBUG off serves the collected, hashed static files, as production does."""
    root = tmp_path_factory.mktemp("static")
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=ROOT,
        env=os.environ | {"SECRET_KEY": "collectstatic", "STATIC_ROOT": str(root)},
        check=True,
    )
    return root


@contextlib.contextmanager
def gunicorn(application_name: str, static_root: Path, workers: int = 1):
    port = free_port()
    env = server_env(
        application_name,
        STATIC_ROOT=str(static_root),
        GUNICORN_BIND=f"127.0.0.1:{port}",
        WEB_CONCURRENCY=str(workers),
    )
    log = open(static_root.parent / f"gunicorn-{port}.log", "w+")  # noqa: SIM115
    process = subprocess.Popen(
        [BIN / "gunicorn", "-c", "gunicorn.conf.py", "reviewapp.wsgi"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: get(base + "/healthz")[0] == 200, 30, "gunicorn to answer /healthz")
        yield base, process
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.seek(0)
        print(log.read())  # shown by pytest when the test failed
        log.close()


def get(url: str, *, cookies: str = "", data: dict | None = None, timeout: float = 10):
    """(status, body) for a GET, or a form POST when `data` is given; no redirects."""
    body = None
    headers = {"Cookie": cookies}
    if data is not None:
        body = urllib.parse.urlencode(data).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        headers["X-CSRFToken"] = CSRF_SECRET
    request = urllib.request.Request(url, data=body, headers=headers)

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except OSError as error:  # refused or reset while the server starts or dies
        return None, str(error).encode()


# A CSRF secret of the documented form (32 characters) sent both as cookie and header.
CSRF_SECRET = secrets.token_hex(16)


def session_cookies(user) -> str:
    """Cookies for `user`, logged in through the session table the servers share."""
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}; csrftoken={CSRF_SECRET}"


def reviewer_with_assignment(owner, n_pairs=3):
    experiment = make_experiment(owner, n_pairs=n_pairs)
    reviewer = get_user_model().objects.create(username="rita")
    experiment.reviewers.add(reviewer)
    return experiment, reviewer, next_assignment(experiment, reviewer)


def submit_form(experiment) -> dict:
    return {f"dim-{d.position}": "left" for d in experiment.dimensions.all()}


def kill_backends(application_name: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE application_name = %s",
            [application_name],
        )
        return cursor.fetchone()[0]


def worker_pids(master: subprocess.Popen) -> list[int]:
    children = Path(f"/proc/{master.pid}/task/{master.pid}/children").read_text()
    return [int(pid) for pid in children.split()]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_next_request_succeeds_after_the_apps_connection_is_killed(owner, static_root):
    """pg_terminate_backend on the worker's persistent connection between two requests
    (what a PostgreSQL restart does to every connection): the health check at the start
    of the next request notices, reconnects, and the reviewer sees nothing of it."""
    app = "reviewapp-fault-conn"
    experiment, reviewer, assignment = reviewer_with_assignment(owner)
    cookies = session_cookies(reviewer)
    with gunicorn(app, static_root) as (base, _):
        page = base + reverse("review-pair", args=[experiment.review_key])
        assert get(page, cookies=cookies)[0] == 200
        # CONN_MAX_AGE keeps the connection open between requests: that is what dies.
        assert backends(app), "the worker holds no persistent connection"
        assert kill_backends(app) >= 1
        wait_for(lambda: not backends(app), 10, "the killed backend to go")

        status, body = get(page, cookies=cookies)
        assert status == 200 and b"dim-0" in body
        submit = base + reverse("review-submit", args=[experiment.review_key, assignment.pk])
        kill_backends(app)
        wait_for(lambda: not backends(app), 10, "the killed backend to go")
        assert get(submit, cookies=cookies, data=submit_form(experiment))[0] == 302
        assert get(base + "/healthz")[0] == 200
    assert Judgment.objects.filter(assignment=assignment).count() == 5


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_worker_killed_inside_submit_leaves_no_partial_judgment(owner, static_root):
    """A gunicorn worker SIGKILLed while its submit is half-written (the assignment locked,
    some judgments written, the transaction not finished): nothing half-written stays. The
    submit is one transaction, which PostgreSQL commits or undoes as a whole; and the
    reviewer's retry (a new worker) then records the answer, or finds it recorded, once.

    To stop the worker at that point without any test hook in the app, another
    connection first inserts, and leaves uncommitted, a judgment with the key of the
    submit's last row: the submit's multi-row INSERT of its judgments writes its first
    rows, then waits on the unique index for that row, inside its open transaction. (A row lock on a
    dimension would not do: Django's foreign keys are DEFERRABLE INITIALLY DEFERRED, so
    that wait happens at COMMIT, which then completes even though the client is gone.)"""
    import psycopg

    app = "reviewapp-fault-worker"
    experiment, reviewer, assignment = reviewer_with_assignment(owner)
    cookies = session_cookies(reviewer)
    last_dimension = experiment.dimensions.order_by("-position").first()
    db = connection.settings_dict
    with gunicorn(app, static_root, workers=1) as (base, master):
        submit = base + reverse("review-submit", args=[experiment.review_key, assignment.pk])
        with psycopg.connect(
            host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, dbname=db["NAME"],
            user=db["USER"] or "postgres", password=db["PASSWORD"] or None,
        ) as blocker:  # fmt: skip
            # An uncommitted judgment with the key of the submit's last row.
            blocker.execute(
                "INSERT INTO reviewapp_judgment (assignment_id, dimension_id, choice, strength)"
                " VALUES (%s, %s, 'tie', '')",
                [assignment.pk, last_dimension.pk],
            )
            with contextlib.closing(
                _Background(get, submit, cookies, submit_form(experiment))
            ) as bg:
                stuck = wait_for(
                    lambda: backends(
                        app,
                        "wait_event_type = 'Lock' AND backend_xid IS NOT NULL"
                        " AND query LIKE 'INSERT INTO \"reviewapp_judgment\"%%'",
                    ),
                    15,
                    "the submit to wait inside its transaction",
                )
                (worker,) = worker_pids(master)
                os.kill(worker, signal.SIGKILL)
                status, _ = bg.result(15)
                assert status in (None, 502)  # the client saw the connection drop
            blocker.rollback()  # the orphaned statement runs on to its end
        backend_pid = stuck[0][0]
        wait_for(lambda: not backends(app, f"pid = {int(backend_pid)}"), 15, "the orphan to end")
        # All or nothing: the whole set with the assignment submitted, or neither.
        state = (Judgment.objects.count(), Assignment.objects.get(pk=assignment.pk).status)
        assert state in [(0, "shown"), (5, "submitted")], state

        # The reviewer retries after the lost response: the replacement worker records it.
        wait_for(lambda: get(base + "/healthz")[0] == 200, 30, "a replacement worker")
        assert get(submit, cookies=cookies, data=submit_form(experiment))[0] == 302
        assert get(submit, cookies=cookies, data=submit_form(experiment))[0] == 302
    assert Judgment.objects.filter(assignment=assignment).count() == 5
    assert Assignment.objects.get(pk=assignment.pk).status == "submitted"


class _Background:
    """Run one call in a thread; `result` waits for it."""

    def __init__(self, function, *args):
        import threading

        self._result = None
        self._thread = threading.Thread(target=self._run, args=(function, *args), daemon=True)
        self._thread.start()

    def _run(self, function, url, cookies, data):
        self._result = function(url, cookies=cookies, data=data, timeout=30)

    def result(self, timeout):
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the request never ended"
        return self._result

    def close(self):
        self._thread.join(1)


def write_wide_csv(path: Path, n_pairs: int) -> None:
    filler = "lorem ipsum dolor sit amet " * 8
    with path.open("w") as out:
        out.write("pair_id,prompt,model_a,output_a,model_b,output_b\n")
        for i in range(n_pairs):
            out.write(f"q{i},Prompt {i} {filler},alpha,A says {i} {filler},beta,B says {i}\n")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_import_killed_midway_leaves_nothing_imported(owner, tmp_path):
    """SIGKILL of `manage.py import_pairs` once its import transaction has written pairs:
    the experiment has no pairs afterwards (one transaction, never committed)."""
    app = "reviewapp-fault-import"
    experiment = make_experiment(owner, n_pairs=0, slug="big-import")
    upload = tmp_path / "pairs.csv"
    write_wide_csv(upload, 60_000)
    process = subprocess.Popen(
        [sys.executable, "manage.py", "import_pairs", experiment.slug, str(upload)],
        cwd=ROOT,
        env=server_env(app),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(
            lambda: (
                backends(
                    app,
                    # The import writes with COPY on PostgreSQL (bulk INSERTs elsewhere);
                    # a transaction id means it has written rows.
                    "backend_xid IS NOT NULL AND (query LIKE 'COPY \"reviewapp_pair\"%%'"
                    " OR query LIKE 'INSERT INTO \"reviewapp_pair\"%%')",
                )
                or process.poll() is not None
            ),
            120,
            "the import to start writing",
        )
        assert process.poll() is None, "the import finished before it could be killed"
        time.sleep(0.3)  # a few more batches
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        output = process.communicate()[0]
    assert process.returncode == -signal.SIGKILL, output
    wait_for(lambda: not backends(app), 15, "the import's backend to end")
    assert Pair.objects.filter(experiment=experiment).count() == 0


@contextlib.contextmanager
def gunicorn_without_database(static_root: Path, log=subprocess.DEVNULL):
    """gunicorn (one worker) whose DATABASE_URL points at a port nothing listens on;
    yields its base URL once it answers at all."""
    port = free_port()
    env = server_env("unused", STATIC_ROOT=str(static_root), LOG_LEVEL="WARNING")
    env["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:{free_port()}/reviewapp?connect_timeout=2"
    env["GUNICORN_BIND"] = f"127.0.0.1:{port}"
    env["WEB_CONCURRENCY"] = "1"
    process = subprocess.Popen(
        [BIN / "gunicorn", "-c", "gunicorn.conf.py", "reviewapp.wsgi"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: get(base + "/healthz")[0] is not None, 30, "gunicorn to answer")
        yield base
    finally:
        process.terminate()
        process.wait(15)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_healthz_is_503_when_the_database_is_unreachable(static_root):
    with gunicorn_without_database(static_root) as base:
        status, body = get(base + "/healthz")
    assert status == 503
    assert b'"database": "OperationalError"' in body


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_outage_is_a_503_with_retry_after_and_one_log_line_per_request(static_root, tmp_path):
    """PostgreSQL unreachable: the API answers its error shape, pages a styled 503 page,
    both with Retry-After, and the log has one line per request and no traceback."""
    signed_in = session_cookies(get_user_model().objects.create(username="olga"))
    log_path = tmp_path / "gunicorn.log"
    with open(log_path, "w") as log, gunicorn_without_database(static_root, log) as base:
        api = urllib.request.Request(
            base + "/api/experiments",
            headers={"Authorization": f"Bearer {PREFIX}{secrets.token_urlsafe(32)}"},
        )
        try:
            urllib.request.urlopen(api, timeout=10)
            raise AssertionError("expected a 503")
        except urllib.error.HTTPError as error:
            api_status, api_retry, api_body = error.code, error.headers["Retry-After"], error.read()
        page = urllib.request.Request(base + "/owner/", headers={"Cookie": signed_in})
        try:
            urllib.request.urlopen(page, timeout=10)
            raise AssertionError("expected a 503")
        except urllib.error.HTTPError as error:
            page_status, page_retry, page_body = (
                error.code,
                error.headers["Retry-After"],
                error.read(),
            )
    assert (api_status, api_retry) == (503, "5")
    assert json.loads(api_body)["error"] == "unavailable"
    assert (page_status, page_retry) == (503, "5")
    assert b"Temporarily unavailable" in page_body and b"reviewapp/app." in page_body
    log = log_path.read_text()
    assert "Traceback" not in log, log
    outage_lines = [line for line in log.splitlines() if "database unavailable" in line]
    assert len(outage_lines) == 2, log
    assert "GET /api/experiments" in outage_lines[0] and "GET /owner/" in outage_lines[1]


# The production settings documented in the README ("Serving in production").
PRODUCTION_ENV = {
    "DEBUG": "0",
    "ALLOWED_HOSTS": "review.example.org",
    "SECURE_SSL_REDIRECT": "1",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "1",
    "SECURE_HSTS_PRELOAD": "1",
    "TRUST_X_FORWARDED_PROTO": "1",
}


def test_check_deploy_is_clean_under_production_settings():
    env = os.environ | PRODUCTION_ENV | {"SECRET_KEY": secrets.token_urlsafe(50), "TESTING": "0"}
    # Set for the browser tests of this run; production never has it (check --deploy warns).
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
