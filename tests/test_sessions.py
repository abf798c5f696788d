"""Sessions are Django's signed cookies: what signing in and out means with them."""

import time

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.conftest import make_user


def assert_sent_to_login(response):
    assert response.status_code == 302 and reverse("login") in response["Location"]


@pytest.mark.django_db
def test_signing_in_through_the_login_page_gives_a_working_session(client):
    make_user("rita", password="a-long-password-1")
    response = client.post(reverse("login"), {"username": "rita", "password": "a-long-password-1"})
    assert response.status_code == 302
    assert client.get(reverse("review-home")).status_code == 200


@pytest.mark.django_db
def test_a_signed_in_request_reads_no_session_row_and_the_user_once(client):
    rita = make_user("rita")
    client.force_login(rita)
    with CaptureQueriesContext(connection) as queries:
        assert client.get(reverse("review-home")).wsgi_request.user == rita
    sql = [q["sql"] for q in queries.captured_queries]
    assert not any(Session._meta.db_table in q for q in sql)
    assert sum('FROM "auth_user" WHERE' in q for q in sql) == 1


@pytest.mark.django_db
def test_a_cookie_changed_by_its_holder_is_refused(client):
    rita = make_user("rita")
    client.force_login(rita)
    value = client.cookies[settings.SESSION_COOKIE_NAME].value
    client.cookies[settings.SESSION_COOKIE_NAME] = value[:-2] + (
        "AA" if value[-2:] != "AA" else "BB"
    )
    assert_sent_to_login(client.get(reverse("review-home")))


@pytest.mark.django_db
def test_an_expired_cookie_is_refused(client, monkeypatch):
    rita = make_user("rita")
    client.force_login(rita)
    assert client.get(reverse("review-home")).status_code == 200
    later = time.time() + settings.SESSION_COOKIE_AGE + 60
    monkeypatch.setattr("django.core.signing.time.time", lambda: later)
    assert_sent_to_login(client.get(reverse("review-home")))


@pytest.mark.django_db
def test_a_user_deactivated_or_deleted_is_signed_out(client):
    rita = make_user("rita")
    client.force_login(rita)
    rita.is_active = False
    rita.save()
    assert_sent_to_login(client.get(reverse("review-home")))
    raj = make_user("raj")
    client.force_login(raj)
    assert client.get(reverse("review-home")).status_code == 200
    raj.delete()  # deleting a user ends their sessions: nobody is found for the cookie
    assert_sent_to_login(client.get(reverse("review-home")))


@pytest.mark.django_db
def test_logout_clears_the_cookie_but_a_copy_lives_until_the_password_changes(client):
    """The documented cost of signed cookies: logging out cannot withdraw a copy of the
    cookie; changing the password (the session carries a hash of it) does."""
    rita = make_user("rita")
    client.force_login(rita)
    copied = client.cookies[settings.SESSION_COOKIE_NAME].value
    response = client.post(reverse("logout"))
    assert response.cookies[settings.SESSION_COOKIE_NAME].value == ""  # the browser's is gone
    assert_sent_to_login(client.get(reverse("review-home")))
    thief = Client()
    thief.cookies[settings.SESSION_COOKIE_NAME] = copied
    assert thief.get(reverse("review-home")).status_code == 200
    rita.set_password("a-brand-new-password-2")
    rita.save()
    assert_sent_to_login(thief.get(reverse("review-home")))
