"""Login throttling (django-axes): keyed on client address and username together."""

import pytest
from axes.models import AccessAttempt
from django.test import Client, override_settings
from django.urls import reverse

from tests.conftest import make_user

LOGIN = "login"


def attempt(client, username, password, **meta):
    return client.post(reverse(LOGIN), {"username": username, "password": password}, **meta)


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


@pytest.mark.django_db
def test_login_is_throttled_after_five_failures_even_with_the_right_password(client):
    make_user("victim", password="right-password-1")
    for _ in range(4):
        assert attempt(client, "victim", "wrong").status_code == 200
    assert attempt(client, "victim", "wrong").status_code == 429  # the fifth locks
    response = attempt(client, "victim", "right-password-1")
    assert response.status_code == 429
    assert "Too many failed attempts" in response.content.decode()
    assert not signed_in(client)


@pytest.mark.django_db
def test_successful_login_clears_failures(client):
    make_user("someone", password="right-password-1")
    for _ in range(3):
        attempt(client, "someone", "wrong")
    assert AccessAttempt.objects.filter(username="someone").exists()
    assert attempt(client, "someone", "right-password-1").status_code == 302
    assert not AccessAttempt.objects.filter(username="someone").exists()


@pytest.mark.django_db
def test_an_attacker_cannot_lock_a_named_account_out_for_everyone():
    make_user("alice", password="alice-password-1")
    attacker = Client(REMOTE_ADDR="198.51.100.66")
    for _ in range(6):
        attempt(attacker, "alice", "guess")
    assert attempt(attacker, "alice", "alice-password-1").status_code == 429
    alice = Client(REMOTE_ADDR="203.0.113.10")
    assert attempt(alice, "alice", "alice-password-1").status_code == 302
    assert signed_in(alice)


@pytest.mark.django_db
@override_settings(REVIEWAPP_TRUSTED_PROXIES=1)
def test_two_clients_behind_one_proxy_are_told_apart_by_x_forwarded_for():
    make_user("alice", password="alice-password-1")
    proxy = {"REMOTE_ADDR": "10.0.0.2"}  # every request arrives from the load balancer
    bob = Client(**proxy, HTTP_X_FORWARDED_FOR="198.51.100.7")
    for _ in range(6):
        attempt(bob, "alice", "wrong")
    assert attempt(bob, "alice", "alice-password-1").status_code == 429
    alice = Client(**proxy, HTTP_X_FORWARDED_FOR="203.0.113.10")
    assert attempt(alice, "alice", "alice-password-1").status_code == 302


@pytest.mark.django_db
@override_settings(REVIEWAPP_TRUSTED_PROXIES=1)
def test_a_client_cannot_escape_its_lock_by_writing_its_own_x_forwarded_for():
    make_user("alice", password="alice-password-1")
    # The proxy appends the real address after whatever the client sent.
    for i in range(6):
        spoofing = Client(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=f"192.0.2.{i}, 198.51.100.7")
        attempt(spoofing, "alice", "wrong")
    again = Client(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="192.0.2.99, 198.51.100.7")
    assert attempt(again, "alice", "alice-password-1").status_code == 429


@pytest.mark.django_db
def test_without_trusted_proxies_x_forwarded_for_is_ignored():
    make_user("alice", password="alice-password-1")
    for i in range(6):
        attempt(
            Client(REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_FOR=f"192.0.2.{i}"), "alice", "x"
        )
    fresh_header = Client(REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_FOR="192.0.2.200")
    assert attempt(fresh_header, "alice", "alice-password-1").status_code == 429
