"""The two lookups every signed-in request makes (its session, its user), in one
hand-written query: the review loop runs it twice per pair, and the ORM takes longer to
build these one-row queries than the database takes to answer them. Behaviour is
Django's own: database sessions (with the user's id in a column, models.UserSession) and
ModelBackend.

The session read fetches the user row the session's column points at and hands it to
UserBackend.get_user through a context variable. Django's get_user always reads the
session (for the user id in its data) just before it calls the backend, so the row
handed over is from this request; the backend takes it only if its id is the one the
session data names, once, and otherwise asks the database as before.
"""

from contextvars import ContextVar

from django.contrib.auth import SESSION_KEY, get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from .rawsql import columns, instance, width

_user_read_with_session: ContextVar = ContextVar("user_read_with_session", default=None)


def _user_pk(value):
    try:
        return get_user_model()._meta.pk.to_python(value)
    except ValidationError:
        return None


class UserBackend(ModelBackend):
    """Django's ModelBackend (passwords, permissions) with a leaner get_user."""

    def get_user(self, user_id):
        pk = _user_pk(user_id)
        if pk is None:
            return None
        user = _user_read_with_session.get()
        _user_read_with_session.set(None)
        if user is None or user.pk != pk:
            user = self._read_user(pk)
        if user is None:
            return None
        return user if self.user_can_authenticate(user) else None

    def _read_user(self, pk):
        User = get_user_model()
        quote = connection.ops.quote_name
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {columns(User, 'u')} FROM {quote(User._meta.db_table)} u"
                f" WHERE u.{quote(User._meta.pk.column)} = %s",
                [pk],
            )
            row = cursor.fetchone()
        return None if row is None else instance(User, row)


class SessionStore(DatabaseSessionStore):
    """Django's database sessions, stored with the user's id, read with the user row."""

    @classmethod
    def get_model_class(cls):
        from .models import UserSession

        return UserSession

    def create_model_instance(self, data):
        session = super().create_model_instance(data)
        signed_in = data.get(SESSION_KEY)
        session.user_id = None if signed_in is None else _user_pk(signed_in)
        return session

    def _get_session_from_db(self):
        Session, User = self.model, get_user_model()
        quote = connection.ops.quote_name
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {columns(Session, 's')}, {columns(User, 'u')}"
                f" FROM {quote(Session._meta.db_table)} s"
                f" LEFT JOIN {quote(User._meta.db_table)} u"
                f" ON u.{quote(User._meta.pk.column)} = s.user_id"
                " WHERE s.session_key = %s AND s.expire_date > %s",
                [self.session_key, connection.ops.adapt_datetimefield_value(timezone.now())],
            )
            row = cursor.fetchone()
        if row is None:
            _user_read_with_session.set(None)
            self._session_key = None
            return None
        user_row = row[width(Session) :]
        _user_read_with_session.set(None if user_row[0] is None else instance(User, user_row))
        return instance(Session, row[: width(Session)])
