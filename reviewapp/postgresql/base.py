"""Django's PostgreSQL backend with a health check that usually costs no round trip.

With CONN_HEALTH_CHECKS Django checks a reused connection at the start of every request
with `SELECT 1`: a round trip on every request, the review loop's most frequent
statement. An idle connection to a live server has nothing to read, while a server that
restarted or ended the backend (pg_terminate_backend, a crash) has sent its FATAL message
and closed the socket, so the socket is readable. So: not readable, the connection is
usable; readable, Django's own `SELECT 1` decides (it reads whatever arrived and fails on
a dead connection). A connection that dies silently (a cut network, no FIN) passes both
checks alike and fails on its first query.

Also: batches the ORM makes itself (deleting an experiment with its pairs, bulk_create
without batch_size) stay under 65,535 parameters per statement. With server-side binding
(settings.py) every value is a protocol parameter, counted in 16 bits; Django's
PostgreSQL backend does not limit its batches, so deleting an experiment of 70,000
pairs failed with "number of parameters must be between 0 and 65535".
"""

import select

from django.db.backends.postgresql import base, operations
from psycopg.pq import TransactionStatus

# The wire protocol counts a statement's parameters in 16 bits.
MAX_PARAMETERS = 65_535


class DatabaseOperations(operations.DatabaseOperations):
    def bulk_batch_size(self, fields, objs):
        per_object = max(len(fields), 1)
        return max(1, min(len(objs), MAX_PARAMETERS // per_object))


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations

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
