"""The reviewers dashboard: progress, activity, the results' quality figures; removal."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from reviewapp.assignment import next_assignment
from reviewapp.models import Assignment, Judgment, Membership, Pair
from tests.conftest import make_experiment, make_user


@pytest.fixture
def world(owner, reviewers):
    experiment = make_experiment(owner, n_pairs=12, reviews_per_pair=2)
    for reviewer in reviewers:
        Membership.objects.create(experiment=experiment, user=reviewer)
    now = timezone.now()
    for pair in experiment.pairs.order_by("pk")[:4]:
        assignment = Assignment.objects.create(
            experiment=experiment, pair=pair, reviewer=reviewers[0], left_is_a=True,
            status="submitted", shown_at=now - timedelta(seconds=30), submitted_at=now,
        )  # fmt: skip
        Pair.objects.filter(pk=pair.pk).update(slots_taken=1)
        for dimension in experiment.dimensions.all():
            Judgment.objects.create(assignment=assignment, dimension=dimension, choice="A")
    return experiment


def test_dashboard_shows_progress_activity_and_seconds(world, owner, client, reviewers):
    client.force_login(owner)
    response = client.get(reverse("owner-reviewer-dashboard", args=[world.slug]))
    assert response.status_code == 200
    rows = {row.username: (row, progress) for row, progress in response.context["rows"]}
    rita, progress = rows["rita"]
    assert (rita.done, progress.done) == (4, 4)
    assert progress.share >= 4
    assert rita.median_seconds == pytest.approx(30.0, abs=1e-3)
    assert rita.last_activity is not None
    assert rows["raj"][0].last_activity is None
    assert "4 of" in response.content.decode()


def test_removing_a_reviewer_frees_their_leases_and_stops_their_review(
    world, owner, client, reviewers
):
    raj = reviewers[1]
    shown = next_assignment(world, raj)
    assert shown is not None
    slots_before = Pair.objects.get(pk=shown.pair_id).slots_taken
    membership = Membership.objects.get(experiment=world, user=raj)
    client.force_login(owner)
    url = reverse("owner-reviewer-remove", args=[world.slug, membership.pk])
    assert client.post(url).status_code == 302
    shown.refresh_from_db()
    assert shown.status == Assignment.Status.EXPIRED
    assert Pair.objects.get(pk=shown.pair_id).slots_taken == slots_before - 1
    membership.refresh_from_db()
    assert membership.removed_at is not None and not membership.excluded
    client.force_login(raj)
    assert client.get(reverse("review-home")).status_code == 200
    assert world.name not in client.get(reverse("review-home")).content.decode()
    assert client.get(reverse("review-pair", args=[world.slug])).status_code == 404


def test_removing_with_exclusion_takes_the_judgments_out_of_the_results(
    world, owner, client, reviewers
):
    membership = Membership.objects.get(experiment=world, user=reviewers[0])
    client.force_login(owner)
    client.post(
        reverse("owner-reviewer-remove", args=[world.slug, membership.pk]), {"exclude": "1"}
    )
    membership.refresh_from_db()
    assert membership.excluded
    assert Judgment.objects.filter(assignment__reviewer=reviewers[0]).count() == 20  # kept
    client.post(
        reverse("owner-reviewer-remove", args=[world.slug, membership.pk]), {"action": "restore"}
    )
    membership.refresh_from_db()
    assert membership.removed_at is None


def test_dashboard_is_the_owners_only(world, client):
    client.force_login(make_user("mallory", owner=True))
    assert client.get(reverse("owner-reviewer-dashboard", args=[world.slug])).status_code == 404
    membership = world.memberships.first()
    url = reverse("owner-reviewer-remove", args=[world.slug, membership.pk])
    assert client.post(url).status_code == 404
    client.force_login(world.owner)
    assert client.get(url).status_code == 405


def test_agreement_with_the_majority_counts_shared_pairs_and_says_why_it_is_missing(
    world, owner, client, reviewers
):
    """rita alone on 4 pairs: no majority to compare with, and the page says why. Then raj
    and rosa judge two of them: A, A on the first (rita agrees), B, B on the second (rita
    disagrees): rita 50 % of 2; raj and rosa agree with rita + the other on the first."""
    client.force_login(owner)
    url = reverse("owner-reviewer-dashboard", args=[world.slug])
    response = client.get(url)
    rows = {row.username: row for row, _ in response.context["rows"]}
    assert rows["rita"].majority_agreement is None and rows["rita"].majority_items == 0
    assert 'id="no-majority"' in response.content.decode()
    now = timezone.now()
    pairs = list(world.pairs.order_by("pk")[:2])
    for pair, choice in zip(pairs, "AB", strict=True):
        for reviewer in reviewers[1:]:
            assignment = Assignment.objects.create(
                experiment=world, pair=pair, reviewer=reviewer, left_is_a=True,
                status="submitted", shown_at=now - timedelta(seconds=20), submitted_at=now,
            )  # fmt: skip
            for dimension in world.dimensions.all():
                Judgment.objects.create(assignment=assignment, dimension=dimension, choice=choice)
    response = client.get(url)
    rows = {row.username: row for row, _ in response.context["rows"]}
    assert (rows["rita"].majority_agreement, rows["rita"].majority_items) == (0.5, 2)
    # raj on pair 1: rita A + rosa A -> A, he said A; on pair 2: rita A, rosa B: no majority.
    assert (rows["raj"].majority_agreement, rows["raj"].majority_items) == (1.0, 1)
    html = response.content.decode()
    assert '50 % <span class="muted">of 2</span>' in html
    assert 'id="no-majority"' not in html
