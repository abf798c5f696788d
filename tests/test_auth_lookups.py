"""reviewapp/auth.py: the lean session and user reads behave as Django's own."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from reviewapp.auth import SessionStore, UserBackend
from reviewapp.models import UserSession as Session
from tests.conftest import make_user


@pytest.mark.django_db
def test_user_backend_get_user_matches_the_orm_and_refuses_inactive_or_unknown():
    rita = make_user("rita")
    backend = UserBackend()
    found = backend.get_user(str(rita.pk))  # the session stores the id as text
    assert found == rita and found.password == rita.password and found.is_active is True
    assert backend.get_user(str(rita.pk + 1000)) is None
    assert backend.get_user("not-a-number") is None
    rita.is_active = False
    rita.save()
    assert backend.get_user(rita.pk) is None


def assert_sent_to_login(response):
    assert response.status_code == 302 and reverse("login") in response["Location"]


@pytest.mark.django_db
def test_a_signed_in_session_reads_back_and_an_expired_one_does_not(client):
    rita = make_user("rita")
    client.force_login(rita)
    assert client.get(reverse("review-home")).status_code == 200
    key = client.cookies["sessionid"].value
    assert SessionStore(key).load()["_auth_user_id"] == str(rita.pk)
    Session.objects.filter(pk=key).update(expire_date=timezone.now() - timedelta(seconds=1))
    assert SessionStore(key).load() == {}
    assert_sent_to_login(client.get(reverse("review-home")))


@pytest.mark.django_db
def test_logging_out_ends_the_session_everywhere(client):
    rita = make_user("rita")
    client.force_login(rita)
    key = client.cookies["sessionid"].value
    client.post(reverse("logout"))
    assert not Session.objects.filter(pk=key).exists()
    assert SessionStore(key).load() == {}


@pytest.mark.django_db
def test_the_session_read_brings_the_user_along(client):
    rita = make_user("rita")
    client.force_login(rita)
    key = client.cookies["sessionid"].value
    assert Session.objects.get(pk=key).user_id == rita.pk
    with CaptureQueriesContext(connection) as queries:
        assert client.get(reverse("review-home")).wsgi_request.user == rita
    user_table = '"auth_user"'
    assert not any(
        q["sql"].lstrip().startswith("SELECT") and f"FROM {user_table}" in q["sql"]
        for q in queries.captured_queries
    ), "the user was read a second time"


@pytest.mark.django_db
def test_the_session_data_not_its_user_column_says_who_is_signed_in(client):
    rita, raj = make_user("rita"), make_user("raj")
    client.force_login(rita)
    key = client.cookies["sessionid"].value
    Session.objects.filter(pk=key).update(user=raj)  # a column that disagrees with the data
    assert client.get(reverse("review-home")).wsgi_request.user == rita


@pytest.mark.django_db
def test_a_user_deactivated_or_deleted_is_signed_out(client):
    rita = make_user("rita")
    client.force_login(rita)
    rita.is_active = False
    rita.save()
    assert_sent_to_login(client.get(reverse("review-home")))
    raj = make_user("raj")
    client.force_login(raj)
    key = client.cookies["sessionid"].value
    raj.delete()
    assert not Session.objects.filter(pk=key).exists()  # CASCADE: their sessions end
    assert_sent_to_login(client.get(reverse("review-home")))


@pytest.mark.django_db
def test_a_user_read_with_one_session_is_never_used_for_another_request(client):
    from reviewapp import auth

    rita = make_user("rita")
    client.force_login(rita)
    SessionStore(client.cookies["sessionid"].value).load()  # hands rita over, unused
    raj = make_user("raj")
    assert UserBackend().get_user(str(raj.pk)) == raj
    assert auth._user_read_with_session.get() is None
