"""access.get_membership_*: a reviewer's place in an experiment, read in one query;
progress.membership_progress: their progress, counted in one more."""

import dataclasses

import pytest
from django.db import connection
from django.http import Http404
from django.test.utils import CaptureQueriesContext

from reviewapp.access import get_membership_by_review_key, get_membership_for_reviewer
from reviewapp.assignment import claim_as_member, next_assignment
from reviewapp.judgments import Answer, SubmissionRefused, record_submission, submit_as_member
from reviewapp.models import Assignment, InviteLink, Judgment, Membership
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


def sent(queries) -> list[str]:
    """The statements a block sent, without the test transaction's savepoints."""
    return [q["sql"] for q in queries if "SAVEPOINT" not in q["sql"]]


@pytest.mark.django_db
def test_review_page_claim_reads_the_membership_and_its_lock_in_one_statement(owner):
    experiment = make_experiment(owner, n_pairs=3, dimensions=["overall", "style"])
    rita = make_user("rita")
    experiment.reviewers.add(rita)
    with CaptureQueriesContext(connection) as queries:
        membership, claimed = claim_as_member(rita, review_key=experiment.review_key)
    statements = sent(queries)
    # The membership read (locking on PostgreSQL), the claim's read, the pair's lock, the
    # slot, the member's counters, the assignment: no separate lock of the member's row.
    assert len(statements) == 6, statements
    assert sum('FROM "reviewapp_membership"' in sql for sql in statements) == 1
    if connection.vendor == "postgresql":
        assert 'FOR NO KEY UPDATE OF "reviewapp_membership"' in statements[0]
    assert [d.name for d in membership.rubric] == ["overall", "style"]
    assert claimed.assignment.reviewer == rita and (claimed.done, claimed.members) == (0, 1)
    assert Membership.objects.get(user=rita).claims == 1
    # Asked again: the same pair, counters unchanged.
    again, claimed_again = claim_as_member(rita, review_key=experiment.review_key)
    assert claimed_again.assignment.pk == claimed.assignment.pk
    assert (again.claims, Membership.objects.get(user=rita).claims) == (1, 1)


@pytest.mark.django_db
def test_review_page_claim_refuses_outsiders_and_claims_nothing_when_closed(owner):
    experiment = make_experiment(owner, n_pairs=3)
    rita, stranger = make_user("rita"), make_user("stranger")
    experiment.reviewers.add(rita)
    with pytest.raises(Http404):
        claim_as_member(stranger, review_key=experiment.review_key)
    experiment.status = "closed"
    experiment.save(update_fields=["status"])
    membership, claimed = claim_as_member(rita, review_key=experiment.review_key)
    assert claimed is None and membership.experiment == experiment
    assert not Assignment.objects.exists()


@pytest.mark.django_db
def test_submit_as_member_locks_the_assignment_with_the_membership_in_one_statement(owner):
    experiment = make_experiment(owner, n_pairs=3, dimensions=["overall", "style"])
    rita = make_user("rita")
    experiment.reviewers.add(rita)
    assignment = next_assignment(experiment, rita)
    given = []

    def read_answers(rubric):
        given.append([d.name for d in rubric])
        return {d.pk: Answer("left") for d in rubric}

    with CaptureQueriesContext(connection) as queries:
        membership, outcome = submit_as_member(
            rita, assignment.pk, read_answers, review_key=experiment.review_key
        )
    statements = sent(queries)
    # The lock (with membership, experiment and rubric), the judgments, the assignment.
    assert len(statements) == 3, statements
    if connection.vendor == "postgresql":
        assert 'FOR UPDATE OF "reviewapp_assignment"' in statements[0]
    assert given == [["overall", "style"]] and membership.experiment == experiment
    assert not outcome.already_recorded
    assert Judgment.objects.filter(assignment=assignment).count() == 2
    _, again = submit_as_member(rita, assignment.pk, read_answers, slug=experiment.slug)
    assert again.already_recorded and Judgment.objects.count() == 2


@pytest.mark.django_db
def test_submit_as_member_refuses_strangers_other_reviewers_and_removed_reviewers(owner):
    from reviewapp.dashboard import remove_reviewer

    experiment = make_experiment(owner, n_pairs=3)
    rita, raj, stranger = make_user("rita"), make_user("raj"), make_user("stranger")
    experiment.reviewers.add(rita, raj)
    assignment = next_assignment(experiment, rita)

    def answers(rubric):
        return {d.pk: Answer("left") for d in rubric}

    key = experiment.review_key
    with pytest.raises(Http404):
        submit_as_member(stranger, assignment.pk, answers, review_key=key)
    with pytest.raises(SubmissionRefused) as refused:
        submit_as_member(raj, assignment.pk, answers, review_key=key)
    assert refused.value.code == "not_found"
    other = make_experiment(owner, n_pairs=1, slug="other")
    other.reviewers.add(rita)
    with pytest.raises(SubmissionRefused):  # the right reviewer, under another experiment
        submit_as_member(rita, assignment.pk, answers, review_key=other.review_key)
    remove_reviewer(Membership.objects.get(experiment=experiment, user=rita), exclude=False)
    with pytest.raises(Http404):
        submit_as_member(rita, assignment.pk, answers, review_key=key)
    assert not Judgment.objects.exists()
