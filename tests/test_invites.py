"""Invite links for crowd workers: join, resume, revoke, expiry, cap, quota, completion."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from reviewapp.models import Assignment, InviteLink, Membership
from tests.conftest import make_experiment, make_user


@pytest.fixture
def study(owner):
    experiment = make_experiment(owner, n_pairs=10, reviews_per_pair=3, slug="study")
    link = InviteLink.objects.create(
        experiment=experiment, quota=2, completion_url="https://platform.example/done?cc=ABC"
    )
    return experiment, link


def join_url(link, **params):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return reverse("invite-join", args=[link.token]) + (f"?{query}" if query else "")


def answer_current(client, experiment, choice="left"):
    html = client.get(reverse("review-pair", args=[experiment.review_key])).content.decode()
    url = re.search(r'hx-post="(/review/[^"]+/submit/)"', html).group(1)
    data = {f"dim-{d.position}": choice for d in experiment.dimensions.all()}
    return client.post(url, data, headers={"HX-Request": "true"})


@pytest.mark.django_db
def test_prolific_participant_joins_and_lands_on_review(client, study):
    experiment, link = study
    response = client.get(join_url(link, PROLIFIC_PID="5f1a2b", STUDY_ID="s1", SESSION_ID="x9"))
    assert response.status_code == 302
    assert response["Location"] == reverse("review-pair", args=[experiment.review_key])
    membership = Membership.objects.get(participant_id="5f1a2b")
    assert membership.invite == link and membership.quota == 2
    assert membership.platform_data == {"STUDY_ID": "s1", "SESSION_ID": "x9"}
    assert not membership.user.has_usable_password()
    assert client.get(response["Location"]).status_code == 200


@pytest.mark.django_db
def test_same_participant_resumes_with_the_same_identity(client, study):
    experiment, link = study
    client.get(join_url(link, workerId="W1"))
    answer_current(client, experiment)
    client.logout()
    client.get(join_url(link, workerId="W1"))
    assert Membership.objects.filter(participant_id="W1").count() == 1
    html = client.get(reverse("review-pair", args=[experiment.review_key])).content.decode()
    assert "1 of 2 done" in html


@pytest.mark.django_db
def test_typed_name_when_the_url_has_no_id(client, study):
    _, link = study
    page = client.get(join_url(link))
    assert 'name="name"' in page.content.decode()
    assert client.post(join_url(link), {"name": "  Ada  "}).status_code == 302
    assert Membership.objects.get().participant_id == "Ada"
    assert client.post(join_url(link), {"name": ""}).status_code == 200  # the form again


@pytest.mark.django_db
def test_quota_then_completion_code_and_redirect(client, study):
    experiment, link = study
    client.get(join_url(link, PROLIFIC_PID="p1"))
    answer_current(client, experiment)
    response = answer_current(client, experiment)
    # htmx is sent to the full page, which shows the code and then redirects.
    assert response["HX-Redirect"] == reverse("review-pair", args=[experiment.review_key])
    page = client.get(reverse("review-pair", args=[experiment.review_key])).content.decode()
    assert link.completion_code in page
    assert 'http-equiv="refresh" content="5; url=https://platform.example/done?cc=ABC"' in page
    assert Assignment.objects.filter(status="submitted").count() == 2
    assert Assignment.objects.filter(status="shown").count() == 0


@pytest.mark.django_db
def test_revoked_link_refuses_newcomers_and_returning(client, study):
    _, link = study
    client.get(join_url(link, PROLIFIC_PID="early"))
    client.logout()
    link.revoked_at = timezone.now()
    link.save()
    assert client.get(join_url(link, PROLIFIC_PID="late")).status_code == 410
    assert client.get(join_url(link, PROLIFIC_PID="early")).status_code == 410
    assert Membership.objects.count() == 1


@pytest.mark.django_db
def test_expired_link_refuses_newcomers_but_lets_participants_resume(client, study):
    _, link = study
    client.get(join_url(link, PROLIFIC_PID="early"))
    client.logout()
    link.expires_at = timezone.now() - timedelta(minutes=1)
    link.save()
    assert client.get(join_url(link, PROLIFIC_PID="late")).status_code == 410
    assert client.get(join_url(link, PROLIFIC_PID="early")).status_code == 302


@pytest.mark.django_db
def test_cap_on_reviewers(client, study):
    _, link = study
    link.max_reviewers = 2
    link.save()
    for pid in ("a", "b"):
        assert client.get(join_url(link, PROLIFIC_PID=pid)).status_code == 302
    assert client.get(join_url(link, PROLIFIC_PID="c")).status_code == 410
    assert client.get(join_url(link, PROLIFIC_PID="a")).status_code == 302


@pytest.mark.django_db
def test_unknown_token_is_404(client):
    assert client.get("/join/not-a-token/").status_code == 404


@pytest.mark.django_db
def test_owner_creates_and_revokes_links_and_others_cannot(client, owner, study):
    experiment, link = study
    client.force_login(owner)
    response = client.post(
        reverse("owner-invites", args=[experiment.slug]), {"label": "wave 2", "quota": 5}
    )
    assert response.status_code == 302
    created = InviteLink.objects.get(label="wave 2")
    page = client.get(reverse("owner-invites", args=[experiment.slug])).content.decode()
    assert created.token in page
    client.post(reverse("owner-invite-revoke", args=[experiment.slug, created.pk]))
    created.refresh_from_db()
    assert created.revoked_at is not None
    client.force_login(make_user("other-owner", owner=True))
    assert client.get(reverse("owner-invites", args=[experiment.slug])).status_code == 404
    response = client.post(reverse("owner-invite-revoke", args=[experiment.slug, link.pk]))
    assert response.status_code == 404
