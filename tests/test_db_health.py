"""reviewapp/postgresql: the per-request health check reads the socket instead of sending
SELECT 1, and still notices a connection the server has ended."""

import select
import time

import psycopg
import pytest
from django.db import connection
from django.db.backends.postgresql import base as django_postgresql


def other_connection() -> psycopg.Connection:
    db = connection.settings_dict
    return psycopg.connect(
        host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, dbname=db["NAME"],
        user=db["USER"] or "postgres", password=db["PASSWORD"] or None, autocommit=True,
    )  # fmt: skip


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_live_idle_connection_is_usable_without_a_round_trip(monkeypatch):
    connection.ensure_connection()
    asked = []
    monkeypatch.setattr(
        django_postgresql.DatabaseWrapper, "is_usable", lambda self: asked.append(1) or True
    )
    assert connection.is_usable() is True
    assert asked == []  # Django's SELECT 1 was not needed


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_connection_the_server_ended_is_not_usable():
    connection.ensure_connection()
    pid = connection.connection.info.backend_pid
    with other_connection() as other:
        assert other.execute("SELECT pg_terminate_backend(%s)", [pid]).fetchone()[0]
    poller = select.poll()
    poller.register(connection.connection.fileno(), select.POLLIN)
    deadline = time.monotonic() + 10
    while not poller.poll(0) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert connection.is_usable() is False
    connection.close()
    with connection.cursor() as cursor:  # and a new connection works
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_something_to_read_on_a_live_connection_is_checked_with_a_query():
    connection.ensure_connection()
    raw = connection.connection
    raw.execute("LISTEN reviewapp_health_test")
    with other_connection() as other:
        other.execute("NOTIFY reviewapp_health_test")
    poller = select.poll()
    poller.register(raw.fileno(), select.POLLIN)
    deadline = time.monotonic() + 10
    while not poller.poll(0) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert connection.is_usable() is True  # readable, so SELECT 1 asked, and it answered
    raw.execute("UNLISTEN *")
