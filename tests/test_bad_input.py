"""Garbage in every form field, query parameter and URL part: never a 5xx.

The test client re-raises any exception a view lets escape, so an unhandled error fails
the test with its traceback; every response must also be below 500. Unknown objects
answer 404; malformed values answer 400 or the page again with the error shown.
"""

import pytest
from django.test import Client
from django.urls import reverse

from reviewapp.assignment import next_assignment
from reviewapp.models import Dimension, Experiment, InviteLink
from tests.conftest import make_experiment, make_user

pytestmark = pytest.mark.django_db

HUGE = "9" * 30  # past every integer column
TEXT = "x" * 100_000
NUL = "nul\x00byte"
GARBAGE = [
    "", " ", "abc", "-1", "0", "1.5", "1e999", "nan", "inf", "-inf", HUGE, "-" + HUGE,
    "²", "٣", NUL, TEXT, "<script>alert(1)</script>", "' OR 1=1 --", "../../etc/passwd",
    "%00", "\ud7ff", "null", "[]", "{}", "true",
]  # fmt: skip
QUERY = {"page": "abc", "automatic": NUL, "next": "javascript:alert(1)", "sort": HUGE}


def ok(response, *allowed: int) -> None:
    assert response.status_code < 500, response.status_code
    if allowed:
        assert response.status_code in allowed, response.status_code


@pytest.fixture
def world(db):
    owner = make_user("olivia", owner=True)
    reviewer = make_user("rita")
    experiment = make_experiment(owner, n_pairs=3, slug="bad", reviews_per_pair=1)
    experiment.reviewers.add(reviewer)
    assignment = next_assignment(experiment, reviewer)
    link = InviteLink.objects.create(experiment=experiment)
    return {
        "owner": owner,
        "reviewer": reviewer,
        "experiment": experiment,
        "assignment": assignment,
        "link": link,
    }


def client_for(user) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def owner_urls(world) -> list[str]:
    slug, key = world["experiment"].slug, world["experiment"].review_key
    return [
        reverse(name, args=[slug])
        for name in (
            "owner-experiment", "owner-settings", "owner-rubric", "owner-status",
            "owner-reviewers", "owner-upload", "owner-invites",
            "results-page", "results-json", "owner-exclude-reviewer", "export-judgments",
            "export-assignments", "results-csv", "owner-sharing", "owner-leaks",
        )
    ] + [
        reverse("home"), reverse("healthz"), reverse("owner-experiments"),
        reverse("owner-experiment-new"), reverse("owner-tokens"), reverse("review-home"),
        reverse("owner-token-revoke", args=[1]),
        reverse("owner-invite-revoke", args=[slug, world["link"].pk]),
        reverse("invite-join", args=[world["link"].token]),
        reverse("review-pair", args=[key]),
        reverse("review-submit", args=[key, world["assignment"].pk]),
        reverse("review-skip", args=[key, world["assignment"].pk]),
    ]  # fmt: skip


@pytest.mark.parametrize("who", ["owner", "reviewer", None])
def test_every_url_with_garbage_query_parameters(world, who):
    client = client_for(world[who] if who else None)
    for url in owner_urls(world):
        ok(client.get(url, QUERY))
        ok(client.get(url, {"page": HUGE, "automatic": "1", "x": TEXT}))


@pytest.mark.parametrize("who", ["owner", "reviewer", None])
def test_every_url_with_garbage_posted(world, who):
    client = client_for(world[who] if who else None)
    for url in owner_urls(world):
        for value in ("abc", HUGE, NUL, ""):
            data = {name: value for name in FIELDS}
            ok(client.post(url, data))
        ok(client.post(url, "not form data at all", content_type="application/json"))
        ok(client.post(url, b"\xff\xfe\x00garbage", content_type="application/octet-stream"))


# Every field name any form of the app reads.
FIELDS = [
    "name", "slug", "instructions", "reviews_per_pair", "allow_ties", "require_rationale",
    "ask_strength", "ask_acceptable", "acceptable-left", "acceptable-right", "baseline_model",
    "dimensions", "usernames", "status", "token", "pairing",
    "file", "label", "expires_at", "max_reviewers", "quota", "completion_url", "reviewer",
    "excluded", "next", "rationale", "dim-0", "dim-1", "dim-2", "dim-3", "dim-4",
    "form-TOTAL_FORMS", "form-INITIAL_FORMS", "form-0-name", "form-0-ORDER", "form-0-id",
    "form-0-DELETE", "username", "password",
]  # fmt: skip


@pytest.mark.parametrize("value", GARBAGE)
def test_slug_and_ids_in_urls(world, value):
    client = client_for(world["owner"])
    for path in (
        f"/owner/experiments/{value}/",
        f"/review/{value}/",
        f"/review/{world['experiment'].review_key}/{value}/submit/",
        f"/join/{value}/",
        f"/settings/tokens/{value}/revoke/",
        f"/owner/experiments/bad/invites/{value}/revoke/",
    ):
        ok(client.get(path), 404, 405)
        ok(client.post(path), 404, 405)


@pytest.mark.parametrize("value", [HUGE, "99999999999999999999", "0"])
def test_unknown_numeric_ids_are_404(world, value):
    owner, reviewer = client_for(world["owner"]), client_for(world["reviewer"])
    key = world["experiment"].review_key
    ok(reviewer.post(f"/review/{key}/{value}/submit/", {"dim-0": "left"}), 404)
    ok(reviewer.post(f"/review/{key}/{value}/skip/"), 404)
    ok(owner.post(f"/settings/tokens/{value}/revoke/"), 404)
    ok(owner.post(f"/owner/experiments/bad/invites/{value}/revoke/"), 404)


@pytest.mark.parametrize("value", GARBAGE)
def test_new_experiment_form(world, value):
    client = client_for(world["owner"])
    fields = ("name", "slug", "reviews_per_pair", "dimensions", "baseline_model", "allow_ties",
              "gold_rate", "too_fast_seconds")  # fmt: skip
    for field in fields:
        data = {"name": "N", "reviews_per_pair": "3", "dimensions": "overall", field: value}
        ok(client.post(reverse("owner-experiment-new"), data), 200, 302)
        ok(client.post(reverse("owner-settings", args=["bad"]), data), 200, 302)
    assert Experiment.objects.filter(slug="bad").exists()


@pytest.mark.parametrize("value", ["-1", "0", "101", HUGE, "1e3", "abc", NUL])
def test_reviews_per_pair_out_of_range_is_refused(world, value):
    client = client_for(world["owner"])
    data = {"name": "N", "reviews_per_pair": value, "dimensions": "overall"}
    ok(client.post(reverse("owner-experiment-new"), data), 200)
    ok(client.post(reverse("owner-settings", args=["bad"]), data), 200)
    assert Experiment.objects.count() == 1
    assert Experiment.objects.get().reviews_per_pair == 1


def test_new_experiment_with_forty_thousand_dimensions_is_refused(world):
    client = client_for(world["owner"])
    dims = "\n".join(f"d{i}" for i in range(40_000))
    data = {"name": "N", "reviews_per_pair": "3", "dimensions": dims}
    ok(client.post(reverse("owner-experiment-new"), data), 200)
    assert Experiment.objects.count() == 1


def rubric_form(dims) -> dict:
    post = {"form-TOTAL_FORMS": str(len(dims) + 2), "form-INITIAL_FORMS": str(len(dims))}
    for i, d in enumerate(dims):
        post |= {f"form-{i}-id": str(d.pk), f"form-{i}-name": d.name, f"form-{i}-ORDER": str(i)}
    return post


@pytest.mark.parametrize("value", GARBAGE)
def test_rubric_form(world, value):
    client = client_for(world["owner"])
    url = reverse("owner-rubric", args=["bad"])
    dims = list(world["experiment"].dimensions.all())
    base = rubric_form(dims)
    for key in (
        "form-TOTAL_FORMS", "form-INITIAL_FORMS", "form-0-id", "form-0-name", "form-0-ORDER",
        "form-0-DELETE", "form-5-name", "form-9-id",
    ):  # fmt: skip
        ok(client.post(url, {**base, key: value}), 200, 302)
    ok(client.post(url, {**base, "form-1-id": [value] * 3}), 200, 302)


def test_rubric_without_its_management_form_changes_nothing(world):
    client = client_for(world["owner"])
    url = reverse("owner-rubric", args=["bad"])
    response = client.post(url, {"form-0-name": "a", "form-0-id": ""})
    ok(response, 200)
    assert "ManagementForm data is missing or has been tampered with" in response.content.decode()
    assert Dimension.objects.filter(experiment=world["experiment"]).count() == 5


def test_rubric_with_thousands_of_rows_is_refused(world):
    client = client_for(world["owner"])
    n = 40_000
    data = {"form-TOTAL_FORMS": str(n), "form-INITIAL_FORMS": "0"}
    data |= {f"form-{i}-name": f"d{i}" for i in range(n)}
    # Django refuses so many fields before the view runs (DATA_UPLOAD_MAX_NUMBER_FIELDS).
    ok(client.post(reverse("owner-rubric", args=["bad"]), data), 200, 400)
    assert Dimension.objects.filter(experiment=world["experiment"]).count() == 5


@pytest.mark.parametrize("value", GARBAGE)
def test_status_reviewers_upload_and_confirm_forms(world, value):
    client = client_for(world["owner"])
    ok(client.post(reverse("owner-status", args=["bad"]), {"status": value}), 302)
    ok(client.post(reverse("owner-reviewers", args=["bad"]), {"usernames": value}), 302)
    ok(client.post(reverse("owner-upload", args=["bad"]), {"pairing": value, "file": value}), 200)
    ok(client.post(reverse("owner-upload-import", args=["bad", 1]), {"token": value}), 404)
    assert world["experiment"].pairs.count() == 3


@pytest.mark.parametrize("value", GARBAGE)
def test_invite_link_form(world, value):
    client = client_for(world["owner"])
    url = reverse("owner-invites", args=["bad"])
    for field in ("label", "expires_at", "max_reviewers", "quota", "completion_url"):
        ok(client.post(url, {field: value}), 200, 302)
    for bad_url in ("javascript:alert(1)", "data:text/html,x", "http://" + "a" * 600):
        ok(client.post(url, {"completion_url": bad_url}), 200)
    assert not InviteLink.objects.filter(completion_url__startswith="javascript").exists()


@pytest.mark.parametrize("value", GARBAGE)
def test_join_link_parameters(world, value):
    client = Client()
    url = reverse("invite-join", args=[world["link"].token])
    ok(client.get(url, {"PROLIFIC_PID": value, "STUDY_ID": value, "SESSION_ID": value}))
    ok(client.post(url, {"name": value}))


@pytest.mark.parametrize("value", GARBAGE)
def test_review_submission_fields(world, value):
    client = client_for(world["reviewer"])
    assignment = world["assignment"]
    url = reverse("review-submit", args=[world["experiment"].review_key, assignment.pk])
    answers = {f"dim-{i}": "left" for i in range(5)}
    for field in ("dim-0", "dim-4", "rationale"):
        ok(client.post(url, {**answers, field: value}))
        ok(client.post(url, {**answers, field: value}, headers={"HX-Request": "true"}))
        ok(client.post(url, {**answers, field: [value, value]}))
    for choice in ("left:bogus", "tie:clear", "right:", ":", "left:slight:extra", "A", "B"):
        ok(client.post(url, {**answers, "dim-0": choice}, headers={"HX-Request": "true"}), 200)
    assignment.refresh_from_db()
    assert "\x00" not in assignment.rationale


def test_review_rationale_with_a_nul_is_stored_without_it(world):
    client = client_for(world["reviewer"])
    assignment = world["assignment"]
    answers = {f"dim-{i}": "left" for i in range(5)}
    url = reverse("review-submit", args=[world["experiment"].review_key, assignment.pk])
    ok(client.post(url, {**answers, "rationale": NUL}, headers={"HX-Request": "true"}), 200)
    assignment.refresh_from_db()
    assert (assignment.status, assignment.rationale) == ("submitted", "nulbyte")


def test_someone_elses_assignment_is_404(world):
    other = make_user("raj")
    world["experiment"].reviewers.add(other)
    client = client_for(other)
    assignment = world["assignment"]
    answers = {f"dim-{i}": "left" for i in range(5)}
    ok(
        client.post(
            reverse("review-submit", args=[world["experiment"].review_key, assignment.pk]), answers
        ),
        404,
    )
    ok(
        client.post(reverse("review-skip", args=[world["experiment"].review_key, assignment.pk])),
        404,
    )


@pytest.mark.parametrize("value", [v for v in GARBAGE if v != NUL])
def test_login_and_token_forms(world, value):
    ok(Client().post(reverse("login"), {"username": value, "password": value}), 200, 429)
    client = client_for(world["owner"])
    ok(client.post(reverse("owner-tokens"), {"name": value}), 200)


def test_token_form_with_a_nul(world):
    ok(client_for(world["owner"]).post(reverse("owner-tokens"), {"name": NUL}), 200)


def test_login_with_a_nul_in_the_username(world):
    ok(Client().post(reverse("login"), {"username": NUL, "password": "x"}), 200)
