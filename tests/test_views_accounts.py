import pytest
from django.urls import reverse

from reviewapp.models import LoginFailure
from tests.conftest import make_user


@pytest.mark.django_db
def test_login_is_throttled_after_five_failures_even_with_the_right_password(client):
    make_user("victim", password="right-password-1")
    for _ in range(5):
        response = client.post(reverse("login"), {"username": "victim", "password": "wrong"})
        assert response.status_code == 200
    response = client.post(reverse("login"), {"username": "victim", "password": "right-password-1"})
    assert response.status_code == 429
    assert "Too many failed attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_successful_login_clears_failures(client):
    make_user("someone", password="right-password-1")
    for _ in range(3):
        client.post(reverse("login"), {"username": "someone", "password": "wrong"})
    response = client.post(
        reverse("login"), {"username": "someone", "password": "right-password-1"}
    )
    assert response.status_code == 302
    assert LoginFailure.objects.count() == 0


@pytest.mark.django_db
def test_login_throttles_one_address_across_usernames(client):
    for i in range(5):
        client.post(reverse("login"), {"username": f"guess{i}", "password": "x"})
    make_user("fresh", password="right-password-1")
    response = client.post(reverse("login"), {"username": "fresh", "password": "right-password-1"})
    assert response.status_code == 429
