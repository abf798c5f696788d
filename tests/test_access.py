"""Every URL the app has, tried as every kind of visitor.

A new URL that is not classified here fails `test_every_url_is_classified`, so access
rules are decided for each page, export and fragment as it is added."""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from reviewapp.assignment import next_assignment
from reviewapp.models import InviteLink, UploadJob
from reviewapp.tokens import create_token
from tests.conftest import make_experiment, make_user

PUBLIC = {"home", "healthz", "favicon", "login", "logout", "invite-join"}
# Owner-only pages, exports, results and actions, all scoped to one experiment (kwarg slug).
OWNER = {
    "owner-experiment", "owner-settings", "owner-rubric", "owner-status", "owner-reviewers",
    "owner-upload", "owner-upload-job", "owner-upload-import", "owner-invites",
    "owner-invite-revoke",
    "results-page", "results-json", "owner-exclude-reviewer", "export-judgments",
    "export-assignments", "results-csv", "owner-sharing", "owner-pairs", "owner-pair",
    "owner-disagreements", "export-disagreements", "owner-preferences", "export-preferences",
    "owner-reviewer-dashboard", "owner-reviewer-remove", "owner-clone", "owner-delete",
    "owner-leaks", "owner-judgment-upload", "owner-judgment-import", "owner-reviewer-account",
}  # fmt: skip
# Need the owner role, no experiment.
OWNER_ROLE = {"owner-experiments", "owner-experiment-new", "owner-tokens", "owner-compare"}
TOKEN = {"owner-token-revoke"}  # only whoever may see the token (its user, or the judge's owner)
REVIEWER = {"review-pair"}  # invited reviewers of this experiment
ASSIGNMENT = {"review-submit", "review-skip"}  # only the reviewer the assignment belongs to
LOGGED_IN = {"review-home", "invite-welcome"}  # the welcome page: its own participant's
CLASSIFIED = PUBLIC | OWNER | OWNER_ROLE | TOKEN | REVIEWER | ASSIGNMENT | LOGGED_IN


def named_patterns(resolver=None, prefix=""):
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            if entry.app_name == "admin" or str(entry.pattern).startswith("admin"):
                continue  # Django's admin checks is_staff itself; tested below
            if entry.app_name == "ninja":
                continue  # the JSON API takes tokens, not sessions: tests/test_api.py
            yield from named_patterns(entry, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern) and entry.name:
            yield entry.name


def test_every_url_is_classified():
    unclassified = set(named_patterns()) - CLASSIFIED
    assert not unclassified, f"decide who may use: {sorted(unclassified)}"


@pytest.fixture
def world(client, owner):
    experiment = make_experiment(owner, n_pairs=4, reviews_per_pair=2, slug="secret-exp")
    other = make_experiment(make_user("other-owner", owner=True), n_pairs=2, slug="other-exp")
    reviewer, second = make_user("invited"), make_user("second")
    experiment.reviewers.add(reviewer, second)
    outsider = make_user("outsider")
    other.reviewers.add(outsider)
    link = InviteLink.objects.create(experiment=experiment)
    client.post(reverse("invite-join", args=[link.token]) + "?PROLIFIC_PID=crowd1")
    participant = experiment.memberships.get(participant_id="crowd1").user
    client.logout()
    assignment = next_assignment(experiment, reviewer)
    token, _ = create_token(owner)
    return {
        "experiment": experiment, "owner": owner, "other_owner": other.owner, "reviewer": reviewer,
        "second": second, "participant": participant, "outsider": outsider, "link": link,
        "assignment": assignment, "token": token,
        "membership": experiment.memberships.get(user=second),
        "job": UploadJob.objects.create(experiment=experiment, kind="check", token="t" * 32),
    }  # fmt: skip


def url_for(name, world):
    slug, key = world["experiment"].slug, world["experiment"].review_key
    kwargs = {
        "invite-join": {"token": world["link"].token},
        "invite-welcome": {"token": world["link"].token},
        "owner-invite-revoke": {"slug": slug, "invite_id": world["link"].pk},
        "review-pair": {"review_key": key},
        "review-submit": {"review_key": key, "assignment_id": world["assignment"].pk},
        "review-skip": {"review_key": key, "assignment_id": world["assignment"].pk},
        "owner-token-revoke": {"token_id": world["token"].pk},
        "owner-pair": {"slug": slug, "pair_id": "p00000"},
        "owner-upload-job": {"slug": slug, "job_id": world["job"].pk},
        "owner-upload-import": {"slug": slug, "job_id": world["job"].pk},
        "owner-reviewer-remove": {"slug": slug, "membership_id": world["membership"].pk},
    }.get(name)
    if kwargs is None:
        kwargs = {"slug": slug} if name in OWNER | REVIEWER else {}
    return reverse(name, kwargs=kwargs)


def denied(response) -> bool:
    # 405 answers the method alone, before any experiment is looked up: it reveals nothing.
    if response.status_code in (403, 404, 405):
        return True
    return response.status_code == 302 and "/login/" in response.get("Location", "")


# A valid form for POST views whose refusal of bad input would look like a denial.
POST_DATA = {"owner-exclude-reviewer": {"reviewer": "invited", "excluded": "1"}}


def try_url(client, url, name=""):
    """GET, and POST too: a view must refuse a stranger either way."""
    return [client.get(url), client.post(url, POST_DATA.get(name, {}))]


VISITORS = ["owner", "other_owner", "reviewer", "second", "participant", "outsider", None]


@pytest.mark.django_db
@pytest.mark.parametrize("visitor", VISITORS)
def test_owner_urls_belong_to_the_owner_only(client, world, visitor):
    if visitor:
        client.force_login(world[visitor])
    for name in sorted(OWNER):
        url = url_for(name, world)
        responses = try_url(client, url, name)
        if visitor == "owner":
            # GET or POST (whichever the view takes) works for the owner.
            assert any(not denied(r) for r in responses), (name, [r.status_code for r in responses])
        else:
            for response in responses:
                assert denied(response), (visitor, name, response.status_code)


@pytest.mark.django_db
@pytest.mark.parametrize("visitor", VISITORS)
def test_review_pages_only_for_invited_reviewers(client, world, visitor):
    if visitor:
        client.force_login(world[visitor])
    response = client.get(url_for("review-pair", world))
    if visitor in ("reviewer", "second", "participant"):
        assert response.status_code == 200
    else:
        assert denied(response), (visitor, response.status_code)


@pytest.mark.django_db
@pytest.mark.parametrize("visitor", VISITORS)
def test_an_assignment_is_answered_only_by_its_reviewer(client, world, visitor):
    if visitor:
        client.force_login(world[visitor])
    for name in sorted(ASSIGNMENT):
        response = client.post(url_for(name, world), {})
        if visitor == "reviewer":
            assert not denied(response), (name, response.status_code)
        else:
            assert denied(response), (visitor, name, response.status_code)


@pytest.mark.django_db
@pytest.mark.parametrize("visitor", VISITORS)
def test_owner_role_pages(client, world, visitor):
    if visitor:
        client.force_login(world[visitor])
    for name in sorted(OWNER_ROLE):
        response = client.get(url_for(name, world))
        if visitor in ("owner", "other_owner"):
            assert response.status_code == 200
        else:
            assert denied(response), (visitor, name, response.status_code)


@pytest.mark.django_db
@pytest.mark.parametrize("visitor", VISITORS)
def test_a_token_is_revoked_only_by_its_owner(client, world, visitor):
    if visitor:
        client.force_login(world[visitor])
    for name in sorted(TOKEN):
        response = client.post(url_for(name, world))
        world["token"].refresh_from_db()
        if visitor == "owner":
            assert response.status_code == 302 and world["token"].revoked_at is not None
        else:
            assert denied(response), (visitor, name, response.status_code)
            assert world["token"].revoked_at is None


@pytest.mark.django_db
def test_owner_list_shows_only_own_and_shared(client, world):
    client.force_login(world["other_owner"])
    page = client.get(reverse("owner-experiments")).content.decode()
    assert "secret-exp" not in page and "other-exp" in page
    world["experiment"].shared_with.add(world["other_owner"])
    assert "secret-exp" in client.get(reverse("owner-experiments")).content.decode()
    assert client.get(url_for("results-json", world)).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("visitor", ["owner", "reviewer", "participant", None])
def test_admin_is_for_staff_only(client, world, visitor):
    if visitor:
        client.force_login(world[visitor])
    response = client.get("/admin/reviewapp/pair/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    staff = make_user("staffer")
    staff.is_staff = staff.is_superuser = True
    staff.save()
    client.force_login(staff)
    assert client.get("/admin/reviewapp/pair/").status_code == 200
