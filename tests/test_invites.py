"""Invite links for crowd workers: join, resume, revoke, expiry, cap, quota, completion;
and what a link cannot do to a visitor (issue 17): sign them in by GET, replace a signed-in
user without asking, or let anyone who knows an id continue as that participant."""

import re
from datetime import timedelta

import pytest
from django.test import Client
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


def join(client, link, data=None, **params):
    """What a participant's browser does: open the link, then press the button."""
    url = join_url(link, **params)
    assert client.get(url).status_code in (200, 410)
    return client.post(url, data or {})


def welcome_code(client, link) -> str:
    page = client.get(reverse("invite-welcome", args=[link.token])).content.decode()
    return re.search(r'<code id="resume-code">([A-Z0-9-]+)</code>', page).group(1)


def answer_current(client, experiment, choice="left"):
    html = client.get(reverse("review-pair", args=[experiment.review_key])).content.decode()
    url = re.search(r'hx-post="(/review/[^"]+/submit/)"', html).group(1)
    data = {f"dim-{d.position}": choice for d in experiment.dimensions.all()}
    return client.post(url, data, headers={"HX-Request": "true"})


@pytest.mark.django_db
def test_prolific_participant_joins_and_lands_on_review(client, study):
    experiment, link = study
    response = join(client, link, PROLIFIC_PID="5f1a2b", STUDY_ID="s1", SESSION_ID="x9")
    assert response.status_code == 302
    assert response["Location"] == reverse("invite-welcome", args=[link.token])
    membership = Membership.objects.get(participant_id="5f1a2b")
    assert membership.invite == link and membership.quota == 2
    assert membership.platform_data == {"STUDY_ID": "s1", "SESSION_ID": "x9"}
    assert not membership.user.has_usable_password()
    welcome = client.get(response["Location"]).content.decode()
    review = reverse("review-pair", args=[experiment.review_key])
    assert f'href="{review}"' in welcome
    assert client.get(review).status_code == 200


@pytest.mark.django_db
def test_same_participant_resumes_with_the_same_identity(client, study):
    experiment, link = study
    join(client, link, workerId="W1")
    answer_current(client, experiment)
    client.post(reverse("logout"))  # (the test client's logout() would drop every cookie)
    # The same browser keeps the resume code in its cookie: pressing the button is enough.
    assert join(client, link, workerId="W1").status_code == 302
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
    client.logout()
    assert client.post(join_url(link), {"name": ""}).status_code == 400  # the form again


@pytest.mark.django_db
def test_quota_then_completion_code_and_redirect(client, study):
    experiment, link = study
    join(client, link, PROLIFIC_PID="p1")
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
    join(client, link, PROLIFIC_PID="early")
    client.logout()
    link.revoked_at = timezone.now()
    link.save()
    assert client.get(join_url(link, PROLIFIC_PID="late")).status_code == 410
    assert client.post(join_url(link, PROLIFIC_PID="late")).status_code == 410
    assert client.post(join_url(link, PROLIFIC_PID="early")).status_code == 410
    assert Membership.objects.count() == 1


@pytest.mark.django_db
def test_expired_link_refuses_newcomers_but_lets_participants_resume(client, study):
    _, link = study
    join(client, link, PROLIFIC_PID="early")
    client.post(reverse("logout"))  # signed out; the browser keeps its resume cookie
    link.expires_at = timezone.now() - timedelta(minutes=1)
    link.save()
    assert join(client, link, PROLIFIC_PID="late").status_code == 410
    assert join(client, link, PROLIFIC_PID="early").status_code == 302


@pytest.mark.django_db
def test_cap_on_reviewers(client, study):
    _, link = study
    link.max_reviewers = 2
    link.save()
    for pid in ("a", "b"):
        client.logout()
        assert join(client, link, PROLIFIC_PID=pid).status_code == 302
    client.logout()
    assert join(client, link, PROLIFIC_PID="c").status_code == 410
    client.logout()
    assert join(client, link, {"resume_code": "x"}, PROLIFIC_PID="a").status_code == 403
    client.cookies.clear()
    assert join(Client(), link, PROLIFIC_PID="a").status_code == 403


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


@pytest.mark.django_db
def test_opening_a_link_signs_nobody_in_and_says_who_you_would_join_as(client, study):
    _, link = study
    page = client.get(join_url(link, PROLIFIC_PID="5f1a2b"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "You will join as participant" in html and "5f1a2b" in html
    assert 'name="csrfmiddlewaretoken"' in html and 'method="post"' in html
    assert "_auth_user_id" not in client.session
    assert not Membership.objects.exists()


@pytest.mark.django_db
def test_login_csrf_a_signed_in_owner_stays_themself(owner, study):
    """Issue 17's attack: a page elsewhere sends the owner to /join/TOKEN/?participant=x,
    by a link (GET) or a self-submitting form (POST without the owner's CSRF token)."""
    _, link = study
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(owner)
    url = join_url(link, participant="attacker-chosen")
    page = browser.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert "You are signed in as" in html and "olivia" in html and "attacker-chosen" in html
    assert browser.post(url, {"switch_account": "1"}).status_code == 403  # no CSRF token
    assert int(browser.session["_auth_user_id"]) == owner.pk
    assert not Membership.objects.filter(participant_id="attacker-chosen").exists()
    assert browser.get(reverse("owner-experiments")).status_code == 200


@pytest.mark.django_db
def test_a_signed_in_user_is_replaced_only_by_explicit_choice(owner, study):
    _, link = study
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(owner)
    url = join_url(link, PROLIFIC_PID="p7")
    html = browser.get(url).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    refused = browser.post(url, {"csrfmiddlewaretoken": token})
    assert refused.status_code == 409  # the form again, asking
    assert "press the button below only if" in refused.content.decode()
    assert int(browser.session["_auth_user_id"]) == owner.pk
    assert not Membership.objects.exists()
    chosen = browser.post(url, {"csrfmiddlewaretoken": token, "switch_account": "1"})
    assert chosen.status_code == 302
    participant = Membership.objects.get(participant_id="p7").user
    assert int(browser.session["_auth_user_id"]) == participant.pk


@pytest.mark.django_db
def test_resuming_needs_the_code_not_only_the_id(study):
    experiment, link = study
    first = Client()
    assert join(first, link, {"name": "alice"}).status_code == 302
    code = welcome_code(first, link)
    assert re.fullmatch(r"[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}", code)
    assert Membership.objects.get(participant_id="alice").resume_code_hash != code
    alice = Membership.objects.get(participant_id="alice").user

    stranger = Client()  # knows the id, not the code
    refused = join(stranger, link, {"name": "alice"})
    assert refused.status_code == 403
    assert "resume code" in refused.content.decode()
    assert (
        join(stranger, link, {"name": "alice", "resume_code": "AAAA-BBBB-CCCC"}).status_code == 403
    )
    assert "_auth_user_id" not in stranger.session

    # Another device: the code as typed by hand (lower case, spaces) resumes...
    other_device = Client()
    typed = code.lower().replace("-", " ")
    response = join(other_device, link, {"name": "alice", "resume_code": typed})
    assert response["Location"] == reverse("review-pair", args=[experiment.review_key])
    assert int(other_device.session["_auth_user_id"]) == alice.pk
    # ... and so does the resume link from the welcome page (GET fills the form in).
    by_link = Client()
    page = by_link.get(join_url(link, participant="alice", resume=code)).content.decode()
    assert f'value="{code}"' in page and "_auth_user_id" not in by_link.session
    assert by_link.post(join_url(link, participant="alice", resume=code)).status_code == 302
    assert int(by_link.session["_auth_user_id"]) == alice.pk
    assert Membership.objects.filter(participant_id="alice").count() == 1


@pytest.mark.django_db
def test_the_resume_cookie_is_long_lived_signed_and_only_sent_to_the_join_page(client, study):
    _, link = study
    response = join(client, link, PROLIFIC_PID="w9")
    cookie = response.cookies[f"reviewapp_resume_{link.pk}"]
    assert cookie["max-age"] >= 300 * 24 * 3600
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    assert cookie["path"] == reverse("invite-join", args=[link.token])
    code = welcome_code(client, link)
    assert cookie.value.startswith(code)  # signed: value:signature
    client.logout()
    client.cookies[f"reviewapp_resume_{link.pk}"] = code  # unsigned: ignored
    assert client.post(join_url(link, PROLIFIC_PID="w9")).status_code == 403
