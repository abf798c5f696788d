"""Owners create reviewer accounts from the experiment page (issue 17): a generated
password shown once, owner-only, CSRF-protected, the account invited at once."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from tests.conftest import make_experiment, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def experiment(owner):
    return make_experiment(owner, n_pairs=3, slug="accounts")


def create(client, experiment, username):
    return client.post(
        reverse("owner-reviewer-account", args=[experiment.slug]), {"username": username}
    )


def test_owner_creates_an_account_that_can_log_in_and_review(client, owner, experiment):
    client.force_login(owner)
    page = client.get(reverse("owner-experiment", args=[experiment.slug])).content.decode()
    assert reverse("owner-reviewer-account", args=[experiment.slug]) in page
    response = create(client, experiment, "new.reviewer")
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    password = re.search(
        r'<code id="new-password">([^<]+)</code>', response.content.decode()
    ).group(1)
    user = get_user_model().objects.get(username="new.reviewer")
    assert user.check_password(password) and len(password) >= 16
    assert user.password != password  # stored hashed
    assert experiment.memberships.filter(user=user, kind="human").exists()
    reviewer = Client()
    login = reviewer.post(reverse("login"), {"username": "new.reviewer", "password": password})
    assert login.status_code == 302
    assert reviewer.get(reverse("review-pair", args=[experiment.review_key])).status_code == 200
    # Shown once: the experiment page afterwards does not hold it.
    assert (
        password
        not in client.get(reverse("owner-experiment", args=[experiment.slug])).content.decode()
    )


def test_a_taken_or_malformed_username_is_refused_and_nothing_is_created(client, owner, experiment):
    make_user("taken")
    client.force_login(owner)
    for username, expected in (
        ("taken", "is taken"),
        ("a b", "cannot be a username"),
        ("", "cannot be a username"),
    ):
        response = create(client, experiment, username)
        assert response.status_code == 302
        page = client.get(response["Location"]).content.decode()
        assert expected in page, username
    assert set(get_user_model().objects.values_list("username", flat=True)) == {"olivia", "taken"}


def test_only_the_owner_may_create_accounts(client, owner, experiment):
    for visitor in (make_user("other-owner", owner=True), make_user("rita")):
        client.force_login(visitor)
        assert create(client, experiment, f"by-{visitor.username}").status_code in (403, 404)
    client.logout()
    assert create(client, experiment, "anonymous").status_code == 302  # to the login page
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(owner)
    assert create(strict, experiment, "forged").status_code == 403
    assert (
        not get_user_model()
        .objects.filter(username__in=["forged", "anonymous", "by-rita"])
        .exists()
    )
