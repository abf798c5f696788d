"""Django's PostgreSQL backend with a health check that usually costs no round trip.

With CONN_HEALTH_CHECKS Django checks a reused connection at the start of every request
with `SELECT 1`: a round trip on every request, the review loop's most frequent
statement. An idle connection to a live server has nothing to read, while a server that
restarted or ended the backend (pg_terminate_backend, a crash) has sent its FATAL message
and closed the socket, so the socket is readable. So: not readable, the connection is
usable; readable, Django's own `SELECT 1` decides (it reads whatever arrived and fails on
a dead connection). A connection that dies silently (a cut network, no FIN) passes both
checks alike and fails on its first query.
"""

import select

from django.db.backends.postgresql import base
from psycopg.pq import TransactionStatus


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self):
        connection = self.connection
        if connection is None or connection.closed or connection.broken:
            return False
        if connection.info.transaction_status == TransactionStatus.IDLE:
            poller = select.poll()
            poller.register(connection.fileno(), select.POLLIN | select.POLLERR | select.POLLHUP)
            if not poller.poll(0):
                return True
        return super().is_usable()
