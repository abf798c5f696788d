"""Django's PostgreSQL backend, with one change: batches the ORM makes itself (deleting
an experiment with its pairs, bulk_create without batch_size) stay under 65,535
parameters per statement. With server-side binding
(settings.py) every value is a protocol parameter, counted in 16 bits; Django's
PostgreSQL backend does not limit its batches, so deleting an experiment of 70,000
pairs failed with "number of parameters must be between 0 and 65535".
"""

from django.db.backends.postgresql import base, operations

# The wire protocol counts a statement's parameters in 16 bits.
MAX_PARAMETERS = 65_535


class DatabaseOperations(operations.DatabaseOperations):
    def bulk_batch_size(self, fields, objs):
        per_object = max(len(fields), 1)
        return max(1, min(len(objs), MAX_PARAMETERS // per_object))


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations
