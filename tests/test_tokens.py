"""API tokens: stored hashed, checked, revoked; the create_token command; the owner's page."""

import hashlib
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from reviewapp.models import ApiToken, Membership
from reviewapp.tokens import (
    LAST_USED_RESOLUTION,
    create_token,
    revoke_token,
    tokens_for_owner,
    verify_token,
)
from tests.conftest import make_experiment, make_user


@pytest.mark.django_db
def test_only_the_hash_of_a_token_is_stored(owner):
    row, token = create_token(owner, "pipeline")
    assert token.startswith("ra_") and len(token) == 3 + 43
    assert row.key_hash == hashlib.sha256(token.encode()).hexdigest()
    assert row.prefix == token[:10] and row.name == "pipeline"
    stored = ApiToken.objects.filter(pk=row.pk).values().get()
    assert token not in {str(value) for value in stored.values()}
    assert create_token(owner)[1] != token


@pytest.mark.django_db
def test_verify_accepts_live_tokens_only(owner):
    row, token = create_token(owner)
    assert verify_token(token) == row and verify_token(token).user == owner
    for wrong in ("", token[:-1], token + "x", token.replace("ra_", "xx_"), "ra_" + "a" * 500):
        assert verify_token(wrong) is None
    revoke_token(row)
    assert verify_token(token) is None
    row, token = create_token(owner)
    owner.is_active = False
    owner.save()
    assert verify_token(token) is None


@pytest.mark.django_db
def test_last_used_is_written_at_most_once_a_minute(owner, django_assert_num_queries):
    row, token = create_token(owner)
    now = timezone.now()
    verify_token(token, now=now)
    row.refresh_from_db()
    assert row.last_used_at == now
    with django_assert_num_queries(1):  # the lookup only, no write
        verify_token(token, now=now + LAST_USED_RESOLUTION / 2)
    later = now + LAST_USED_RESOLUTION + timedelta(seconds=1)
    verify_token(token, now=later)
    row.refresh_from_db()
    assert row.last_used_at == later


@pytest.mark.django_db
def test_create_token_command_prints_a_working_token(owner):
    out, err = StringIO(), StringIO()
    call_command("create_token", "olivia", "--name", "ci", stdout=out, stderr=err)
    token = out.getvalue().strip()
    assert verify_token(token).user == owner
    assert ApiToken.objects.get(user=owner).name == "ci"
    assert "not shown again" in err.getvalue()
    with pytest.raises(CommandError, match="No user named"):
        call_command("create_token", "nobody", stdout=out, stderr=err)


@pytest.mark.django_db
def test_owner_sees_own_tokens_and_their_judges_tokens_only(owner):
    experiment = make_experiment(owner)
    judge = make_user("judge-bot")
    Membership.objects.create(experiment=experiment, user=judge, kind="automatic")
    human = make_user("rita")
    experiment.reviewers.add(human)
    mine, _ = create_token(owner)
    judges, _ = create_token(judge)
    create_token(human)
    other = make_user("oscar", owner=True)
    create_token(other)
    assert set(tokens_for_owner(owner)) == {mine, judges}
    assert set(tokens_for_owner(other)) == set(ApiToken.objects.filter(user=other))


# -- the API tokens page ---------------------------------------------------------------------


@pytest.mark.django_db
def test_page_creates_a_token_and_shows_it_once(client, owner):
    client.force_login(owner)
    url = reverse("owner-tokens")
    assert "No tokens yet" in client.get(url).content.decode()
    response = client.post(url, {"name": "nightly eval"})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"] or "no-cache" in response["Cache-Control"]
    row = ApiToken.objects.get(user=owner)
    page = response.content.decode()
    token = page.split('aria-label="New API token"')[0].rsplit('value="', 1)[1].split('"')[0]
    assert verify_token(token) == row
    again = client.get(url).content.decode()
    assert token not in again and row.prefix in again and "nightly eval" in again


@pytest.mark.django_db
def test_page_revokes_tokens(client, owner):
    row, token = create_token(owner)
    client.force_login(owner)
    response = client.post(reverse("owner-token-revoke", args=[row.pk]))
    assert response.status_code == 302
    assert verify_token(token) is None
    assert "revoked" in client.get(reverse("owner-tokens")).content.decode()
    assert client.get(reverse("owner-token-revoke", args=[row.pk])).status_code == 405
    assert client.post(reverse("owner-token-revoke", args=[999_999])).status_code == 404


@pytest.mark.django_db
def test_page_lists_and_revokes_judge_tokens_of_own_experiments(client, owner):
    experiment = make_experiment(owner)
    judge = make_user("judge-bot")
    Membership.objects.create(experiment=experiment, user=judge, kind="automatic")
    row, token = create_token(judge)
    other = make_user("oscar", owner=True)
    client.force_login(other)
    assert "judge-bot" not in client.get(reverse("owner-tokens")).content.decode()
    assert client.post(reverse("owner-token-revoke", args=[row.pk])).status_code == 404
    client.force_login(owner)
    assert "judge-bot" in client.get(reverse("owner-tokens")).content.decode()
    client.post(reverse("owner-token-revoke", args=[row.pk]))
    assert verify_token(token) is None


@pytest.mark.django_db
def test_page_needs_the_owner_role(client):
    assert client.get(reverse("owner-tokens")).status_code == 302
    client.force_login(make_user("rita"))
    assert client.get(reverse("owner-tokens")).status_code == 403
    assert client.post(reverse("owner-tokens"), {"name": "x"}).status_code == 403
    assert not ApiToken.objects.exists()


@pytest.mark.django_db
def test_nav_links_the_page_for_owners(client, owner):
    client.force_login(owner)
    page = client.get(reverse("owner-experiments")).content.decode()
    assert reverse("owner-tokens") in page
