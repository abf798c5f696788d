"""access.get_membership_*: a reviewer's place in an experiment, read in one query;
progress.membership_progress: their progress, counted in one more."""

import dataclasses

import pytest
from django.db import connection
from django.http import Http404
from django.test.utils import CaptureQueriesContext

from reviewapp.access import get_membership_by_review_key, get_membership_for_reviewer
from reviewapp.assignment import next_assignment
from reviewapp.judgments import Answer, record_submission
from reviewapp.models import InviteLink, Membership
from reviewapp.progress import membership_progress
from tests.conftest import make_experiment, make_user


def field_values(obj):
    return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}


@pytest.mark.django_db
def test_membership_lookup_counts_and_refuses_outsiders(owner):
    experiment = make_experiment(owner, n_pairs=2)
    rita, raj, stranger = make_user("rita"), make_user("raj"), make_user("stranger")
    experiment.reviewers.add(rita, raj)
    membership = get_membership_for_reviewer(rita, experiment.slug)
    assert (membership.invite_id, membership.quota) == (None, None)
    progress = membership_progress(membership)
    assert (progress.done, progress.share) == (0, 2)  # 2 pairs, 2 members, 1 review each
    assert membership.experiment == experiment and membership.user == rita
    assert (membership.experiment_id, membership.user_id) == (experiment.pk, rita.pk)
    with pytest.raises(Http404):
        get_membership_for_reviewer(stranger, experiment.slug)
    with pytest.raises(Http404):
        get_membership_for_reviewer(rita, "no-such-slug")
    with pytest.raises(Http404):
        get_membership_by_review_key(stranger, experiment.review_key)


@pytest.mark.django_db
def test_membership_by_review_key_is_one_query_with_invite_rubric_and_progress(owner):
    experiment = make_experiment(owner, n_pairs=3, reviews_per_pair=1)
    rita = make_user("rita")
    invite = InviteLink.objects.create(experiment=experiment, quota=2, completion_code="C0DE")
    Membership.objects.create(experiment=experiment, user=rita, invite=invite, quota=2)
    experiment.reviewers.add(make_user("raj"))
    for _ in range(2):
        assignment = next_assignment(experiment, rita)
        answers = {d.pk: Answer("left") for d in experiment.dimensions.all()}
        record_submission(assignment.pk, rita, answers)
    rubric = [d.name for d in experiment.dimensions.order_by("position")]
    with CaptureQueriesContext(connection) as queries:
        membership = get_membership_by_review_key(rita, experiment.review_key)
        assert membership.invite_id == invite.pk
        assert [d.name for d in membership.rubric] == rubric
    assert len(queries) == 1
    with CaptureQueriesContext(connection) as queries:
        progress = membership_progress(membership)
    assert len(queries) == 1
    assert (progress.done, progress.share, membership.quota) == (2, 2, 2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        membership.quota = 3


@pytest.mark.django_db
def test_membership_rubric_is_the_dimensions_in_screen_order(owner):
    from reviewapp.experiments import save_rubric

    experiment = make_experiment(owner, dimensions=["overall", "style", "accuracy", "zeta"])
    rita = make_user("rita")
    experiment.reviewers.add(rita)
    dims = {d.name: d for d in experiment.dimensions.all()}
    # Reordered (positions no longer follow ids) and one removed.
    save_rubric(
        experiment,
        [dims["zeta"], dims["accuracy"], dims["overall"]],
        removed=[dims["style"]],
    )
    got = get_membership_for_reviewer(rita, experiment.slug).rubric
    assert [field_values(d) for d in got] == [
        field_values(d) for d in experiment.dimensions.order_by("position")
    ]
    assert [d.name for d in got] == ["zeta", "accuracy", "overall"]


@pytest.mark.django_db
def test_membership_rubric_of_an_experiment_without_dimensions_is_empty(owner):
    experiment = make_experiment(owner, dimensions=["overall"])
    experiment.dimensions.all().delete()
    rita = make_user("rita")
    experiment.reviewers.add(rita)
    assert get_membership_for_reviewer(rita, experiment.slug).rubric == ()
