"""CSRF is enforced on every state-changing URL, htmx requests included.

Django's test client skips CSRF checks unless asked; here every client enforces them.
Every URL pattern of the app is listed below, so a new view cannot slip past this test.
"""

import json
import re

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from reviewapp.assignment import next_assignment
from reviewapp.models import Assignment, InviteLink, UploadJob
from tests.conftest import make_experiment, make_user

pytestmark = pytest.mark.django_db

# URL name -> (args, who posts). Names mapped to None accept no state-changing request.
POST_VIEWS = {
    "login": ((), None),
    "logout": ((), "owner"),
    "owner-tokens": ((), "owner"),
    "owner-token-revoke": (("token",), "owner"),
    "owner-experiment-new": ((), "owner"),
    "owner-settings": (("slug",), "owner"),
    "owner-rubric": (("slug",), "owner"),
    "owner-status": (("slug",), "owner"),
    "owner-sharing": (("slug",), "owner"),
    "owner-leaks": (("slug",), "owner"),
    "owner-reviewers": (("slug",), "owner"),
    "owner-reviewer-account": (("slug",), "owner"),
    "owner-upload": (("slug",), "owner"),
    "owner-judgment-upload": (("slug",), "owner"),
    "owner-judgment-import": (("slug",), "owner"),
    "owner-upload-import": (("slug", "job"), "owner"),
    "owner-upload-job": (("slug", "job"), "owner"),  # GET only: a POST never gets past CSRF
    "owner-invites": (("slug",), "owner"),
    "owner-invite-revoke": (("slug", "invite"), "owner"),
    "owner-exclude-reviewer": (("slug",), "owner"),
    "owner-pair": (("slug", "pair"), "owner"),
    "owner-reviewer-remove": (("slug", "membership"), "owner"),
    "owner-clone": (("slug",), "owner"),
    "owner-delete": (("slug",), "owner"),
    "invite-join": (("link",), None),
    "review-submit": (("review_key", "assignment"), "reviewer"),
    "review-skip": (("review_key", "assignment"), "reviewer"),
}
READ_ONLY = {
    "home", "healthz", "owner-experiments", "owner-experiment", "review-home", "review-pair",
    "results-page", "results-json", "export-judgments", "export-assignments", "results-csv",
    "favicon", "owner-compare", "owner-pairs", "owner-disagreements", "export-disagreements",
    "owner-preferences", "export-preferences", "owner-reviewer-dashboard",
    "invite-welcome",  # (reversed with the slug for a token: refused by method first)
}  # fmt: skip
SLUG_ONLY = READ_ONLY - {
    "home", "healthz", "owner-experiments", "review-home", "favicon", "owner-compare",
}  # fmt: skip


def app_url_names() -> set[str]:
    """Names of the app's own URL patterns (the admin and the token-authenticated JSON API
    are included separately and have their own protection)."""
    names = set()
    for entry in get_resolver().url_patterns:
        if isinstance(entry, URLPattern) and entry.name:
            names.add(entry.name)
        elif isinstance(entry, URLResolver):
            assert str(entry.pattern) in ("admin/", "api/"), entry
    return names


@pytest.fixture
def world(db):
    owner = make_user("olivia", owner=True)
    reviewer = make_user("rita")
    experiment = make_experiment(owner, n_pairs=3, slug="csrf", reviews_per_pair=1)
    experiment.reviewers.add(reviewer)
    assignment = next_assignment(experiment, reviewer)
    from reviewapp.tokens import create_token

    token, _ = create_token(owner, "ci")
    return {
        "owner": owner,
        "reviewer": reviewer,
        "slug": experiment.slug,
        "review_key": experiment.review_key,
        "assignment": assignment.pk,
        "invite": InviteLink.objects.create(experiment=experiment).pk,
        "link": InviteLink.objects.get(experiment=experiment).token,
        "token": token.pk,
        "pair": "p00000",
        "job": UploadJob.objects.create(
            experiment_id=InviteLink.objects.get(experiment__slug="csrf").experiment_id,
            kind="check",
            token="t" * 32,
        ).pk,
        "membership": experiment.memberships.get(user=reviewer).pk,
    }


def strict_client(user=None) -> Client:
    client = Client(enforce_csrf_checks=True)
    if user is not None:
        client.force_login(user)
    return client


def test_every_url_is_classified():
    assert app_url_names() == set(POST_VIEWS) | READ_ONLY


@pytest.mark.parametrize("name", sorted(POST_VIEWS))
def test_post_without_a_csrf_token_is_403(world, name):
    arg_names, who = POST_VIEWS[name]
    url = reverse(name, args=[world[a] for a in arg_names])
    client = strict_client(world[who] if who else None)
    response = client.post(url, {"name": "x", "status": "open", "dim-0": "left"})
    assert response.status_code == 403
    htmx = client.post(url, {"dim-0": "left"}, headers={"HX-Request": "true"})
    assert htmx.status_code == 403
    forged = client.post(url, {"csrfmiddlewaretoken": "x" * 64}, headers={"X-CSRFToken": "y" * 64})
    assert forged.status_code == 403


@pytest.mark.parametrize("name", sorted(READ_ONLY - {"healthz"}))
def test_read_only_pages_refuse_or_ignore_posts(world, name):
    """A POST to a read-only page is refused by CSRF (403) or by method (405); never a write."""
    key = "review_key" if name == "review-pair" else "slug"
    args = [world[key]] if name in SLUG_ONLY else []
    client = strict_client(world["owner"] if name != "review-pair" else world["reviewer"])
    assert client.post(reverse(name, args=args)).status_code in (403, 405)


def hx_csrf_token(html: str) -> str:
    match = re.search(r"<body hx-headers='([^']*)'>", html)
    assert match, "the page carries no hx-headers on <body>"
    return json.loads(match.group(1))["X-CSRFToken"]


def test_htmx_post_with_the_token_from_hx_headers_succeeds(world):
    client = strict_client(world["reviewer"])
    page = client.get(reverse("review-pair", args=[world["review_key"]]))
    token = hx_csrf_token(page.content.decode())
    answers = {f"dim-{i}": "left" for i in range(5)}
    url = reverse("review-submit", args=[world["review_key"], world["assignment"]])
    assert client.post(url, answers, headers={"HX-Request": "true"}).status_code == 403
    response = client.post(url, answers, headers={"HX-Request": "true", "X-CSRFToken": token})
    assert response.status_code == 200
    assert Assignment.objects.get(pk=world["assignment"]).status == "submitted"
    # The swapped-in fragment is the next pair's form, with its own token field.
    assert 'name="csrfmiddlewaretoken"' in response.content.decode()


def test_htmx_skip_with_the_token_succeeds(world):
    client = strict_client(world["reviewer"])
    page = client.get(reverse("review-pair", args=[world["review_key"]]))
    token = hx_csrf_token(page.content.decode())
    url = reverse("review-skip", args=[world["review_key"], world["assignment"]])
    response = client.post(url, headers={"HX-Request": "true", "X-CSRFToken": token})
    assert response.status_code == 200
    assert Assignment.objects.get(pk=world["assignment"]).status == "skipped"


def test_a_form_post_with_the_page_token_succeeds(world):
    client = strict_client(world["owner"])
    page = client.get(reverse("owner-experiment", args=[world["slug"]])).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    url = reverse("owner-status", args=[world["slug"]])
    response = client.post(url, {"status": "closed", "csrfmiddlewaretoken": token})
    assert response.status_code == 302


@pytest.mark.parametrize("path", ["/", "/owner/", "/review/", "/settings/tokens/"])
def test_every_page_carries_the_token_for_htmx(world, path):
    client = strict_client(world["owner"])
    response = client.get(path, follow=True)
    assert hx_csrf_token(response.content.decode())


def test_every_page_sends_the_security_headers(world):
    response = strict_client(world["owner"]).get(reverse("owner-experiment", args=["csrf"]))
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp and "img-src 'self' data:" in csp
