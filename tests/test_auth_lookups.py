"""reviewapp/auth.py: the lean session and user reads behave as Django's own."""

from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.urls import reverse
from django.utils import timezone

from reviewapp.auth import SessionStore, UserBackend
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


@pytest.mark.django_db
def test_a_signed_in_session_reads_back_and_an_expired_one_does_not(client):
    rita = make_user("rita")
    client.force_login(rita)
    assert client.get(reverse("review-home")).status_code == 200
    key = client.cookies["sessionid"].value
    assert SessionStore(key).load()["_auth_user_id"] == str(rita.pk)
    Session.objects.filter(pk=key).update(expire_date=timezone.now() - timedelta(seconds=1))
    assert SessionStore(key).load() == {}
    response = client.get(reverse("review-home"))
    assert response.status_code == 302 and reverse("login") in response["Location"]


@pytest.mark.django_db
def test_logging_out_ends_the_session_everywhere(client):
    rita = make_user("rita")
    client.force_login(rita)
    key = client.cookies["sessionid"].value
    client.post(reverse("logout"))
    assert not Session.objects.filter(pk=key).exists()
    assert SessionStore(key).load() == {}
