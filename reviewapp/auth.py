"""The two lookups every signed-in request makes (its session, its user), in hand-written
SQL: the review loop runs them twice per pair, and the ORM takes longer to build these
one-row queries than the database takes to answer them. Behaviour is Django's own."""

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from .rawsql import columns, instance


class UserBackend(ModelBackend):
    """Django's ModelBackend (passwords, permissions) with a leaner get_user."""

    def get_user(self, user_id):
        User = get_user_model()
        try:
            pk = User._meta.pk.to_python(user_id)
        except ValidationError:
            return None
        quote = connection.ops.quote_name
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {columns(User, 'u')} FROM {quote(User._meta.db_table)} u"
                f" WHERE u.{quote(User._meta.pk.column)} = %s",
                [pk],
            )
            row = cursor.fetchone()
        if row is None:
            return None
        user = instance(User, row)
        return user if self.user_can_authenticate(user) else None


class SessionStore(DatabaseSessionStore):
    """Django's database sessions with a leaner read."""

    def _get_session_from_db(self):
        Session = self.model
        table = connection.ops.quote_name(Session._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {columns(Session, 's')} FROM {table} s"
                " WHERE s.session_key = %s AND s.expire_date > %s",
                [self.session_key, connection.ops.adapt_datetimefield_value(timezone.now())],
            )
            row = cursor.fetchone()
        if row is None:
            self._session_key = None
            return None
        return instance(Session, row)
