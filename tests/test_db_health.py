"""The per-request connection health check (CONN_HEALTH_CHECKS) notices a connection the
server has ended, and the next connection works."""

import select
import time

import psycopg
import pytest
from django.db import connection


def other_connection() -> psycopg.Connection:
    db = connection.settings_dict
    return psycopg.connect(
        host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, dbname=db["NAME"],
        user=db["USER"] or "postgres", password=db["PASSWORD"] or None, autocommit=True,
    )  # fmt: skip


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
