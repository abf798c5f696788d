"""Assignment strategies (spread / complete pairs first) and the calibration set."""

from collections import Counter

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from reviewapp.assignment import next_assignment, skip_assignment
from reviewapp.experiments import recount_pairs
from reviewapp.models import Assignment, Experiment, Pair
from reviewapp.progress import experiment_progress, reviewer_progress
from tests.conftest import make_experiment, make_user
from tests.test_assignment import answer_all, review_until_done


def complete_sets(experiment, k: int) -> int:
    """Pairs with k submitted reviews."""
    per_pair = Counter(
        Assignment.objects.filter(experiment=experiment, status="submitted").values_list(
            "pair_id", flat=True
        )
    )
    return sum(1 for n in per_pair.values() if n >= k)


def review_rounds(experiment, reviewers, rounds: int) -> None:
    for _ in range(rounds):
        for reviewer in reviewers:
            answer_all(experiment, next_assignment(experiment, reviewer), reviewer)


@pytest.mark.django_db
@pytest.mark.parametrize("strategy, at_least, at_most", [("complete", 4, 4), ("spread", 0, 0)])
def test_complete_pairs_first_gives_early_overlap(owner, strategy, at_least, at_most):
    # 3 reviewers x 12 pairs, k = 3: after 4 pairs each, "complete pairs first" has
    # finished 4 pairs (agreement can be measured); "spread" has started all 12, none done.
    experiment = make_experiment(
        owner, n_pairs=12, reviews_per_pair=3, assignment_strategy=strategy, seed=11
    )
    crew = [make_user(f"r{i}") for i in range(3)]
    experiment.reviewers.add(*crew)
    review_rounds(experiment, crew, 4)
    assert at_least <= complete_sets(experiment, 3) <= at_most


@pytest.mark.django_db
def test_complete_pairs_first_with_leases_open_still_overlaps(owner):
    # Three reviewers each holding a shown pair at once: the second and third join the
    # first's pair (it has reviews in progress) instead of opening new ones.
    experiment = make_experiment(
        owner, n_pairs=12, reviews_per_pair=3, assignment_strategy="complete"
    )
    crew = [make_user(f"r{i}") for i in range(3)]
    experiment.reviewers.add(*crew)
    shown = [next_assignment(experiment, reviewer) for reviewer in crew]
    assert len({a.pair_id for a in shown}) == 1


@pytest.mark.django_db
def test_complete_pairs_first_keeps_k_distinct_reviewers_and_every_pair(owner):
    experiment = make_experiment(
        owner, n_pairs=15, reviews_per_pair=3, assignment_strategy="complete"
    )
    crew = [make_user(f"r{i}") for i in range(5)]
    experiment.reviewers.add(*crew)
    review_until_done(experiment, crew)
    per_pair = Counter(Assignment.objects.values_list("pair_id", flat=True))
    assert len(per_pair) == 15 and set(per_pair.values()) == {3}
    pairs_reviewers = list(Assignment.objects.values_list("pair_id", "reviewer_id"))
    assert len(set(pairs_reviewers)) == len(pairs_reviewers)


@pytest.mark.django_db
def test_strategy_adds_no_statement_to_a_claim(owner):
    counts = {}
    for strategy in ("spread", "complete"):
        experiment = make_experiment(
            owner, slug=strategy, n_pairs=30, reviews_per_pair=3, assignment_strategy=strategy
        )
        reviewer = make_user(f"q-{strategy}")
        experiment.reviewers.add(reviewer)
        answer_all(experiment, next_assignment(experiment, reviewer), reviewer)
        with CaptureQueriesContext(connection) as queries:
            next_assignment(experiment, reviewer)
        counts[strategy] = len(queries)
    assert counts["spread"] == counts["complete"]


# -- calibration -------------------------------------------------------------------------


def calibration_experiment(owner, n_calibration=3, **fields):
    experiment = make_experiment(
        owner, n_pairs=10, reviews_per_pair=1, calibration_pairs=n_calibration, **fields
    )
    recount_pairs(experiment)  # as an upload does: marks the calibration set
    return experiment


@pytest.mark.django_db
def test_calibration_set_is_the_first_pairs_uploaded_and_follows_exclusions(owner):
    experiment = calibration_experiment(owner)
    flagged = Pair.objects.filter(calibration=True).order_by("pk")
    assert list(flagged.values_list("external_id", flat=True)) == ["p00000", "p00001", "p00002"]
    Pair.objects.filter(external_id="p00001").update(excluded=True)
    recount_pairs(experiment)
    assert list(flagged.values_list("external_id", flat=True)) == ["p00000", "p00002", "p00003"]


@pytest.mark.django_db
def test_calibration_pairs_go_to_every_reviewer_first_beyond_k(owner):
    experiment = calibration_experiment(owner, n_calibration=3, gold_rate=0.5)
    Pair.objects.filter(external_id="p00009").update(is_gold=True, gold={"overall": "A"})
    recount_pairs(experiment)
    calibration = set(Pair.objects.filter(calibration=True).values_list("pk", flat=True))
    crew = [make_user(f"c{i}") for i in range(4)]
    experiment.reviewers.add(*crew)
    orders = []
    for reviewer in crew:
        firsts = []
        for _ in range(3):
            assignment = next_assignment(experiment, reviewer)
            firsts.append(assignment.pair_id)
            answer_all(experiment, assignment, reviewer)
        assert set(firsts) == calibration  # before anything else, gold included
        orders.append(firsts)
    assert len({tuple(order) for order in orders}) > 1  # each reviewer's own order
    # k = 1, yet every reviewer has every calibration pair.
    for pk in calibration:
        assert Assignment.objects.filter(pair_id=pk, status="submitted").count() == 4
    # The rest of the queue still gives each other pair to k = 1 reviewer.
    review_until_done(experiment, crew)
    others = Assignment.objects.filter(pair__is_gold=False).exclude(pair_id__in=calibration)
    assert Counter(others.values_list("pair_id", flat=True)) == Counter(
        {pk: 1 for pk in others.values_list("pair_id", flat=True)}
    )
    assert others.count() == 6


@pytest.mark.django_db
def test_calibration_counts_in_progress_from_the_start(owner):
    experiment = calibration_experiment(owner, n_calibration=4)
    crew = [make_user(f"c{i}") for i in range(2)]
    experiment.reviewers.add(*crew)
    # 4 calibration pairs each, and the other 6 pairs x k=1 split over 2 members: 3 each.
    shares = [reviewer_progress(experiment, r, count_remaining=False).share for r in crew]
    assert shares == [7, 7]
    needed = experiment_progress([experiment])[experiment.pk].reviews_needed
    assert needed == 4 * 2 + 6 * 1
    review_until_done(experiment, crew)
    done = [reviewer_progress(experiment, r, count_remaining=False) for r in crew]
    assert sum(p.done for p in done) == needed
    assert all(p.share == 7 for p in done)


@pytest.mark.django_db
def test_calibration_costs_one_small_statement_only_when_on(owner):
    counts = {}
    for n in (0, 2):
        experiment = make_experiment(
            owner, slug=f"cal{n}", n_pairs=30, reviews_per_pair=3, calibration_pairs=n
        )
        recount_pairs(experiment)
        reviewer = make_user(f"q{n}")
        experiment.reviewers.add(reviewer)
        for _ in range(3):  # past the calibration set
            answer_all(experiment, next_assignment(experiment, reviewer), reviewer)
        with CaptureQueriesContext(connection) as queries:
            next_assignment(experiment, reviewer)
        counts[n] = len(queries)
    assert counts[2] == counts[0] + 1


@pytest.mark.django_db
def test_skipped_calibration_pair_is_not_offered_again(owner):
    experiment = calibration_experiment(owner, n_calibration=2)
    reviewer = make_user("skipper")
    experiment.reviewers.add(reviewer)
    first = next_assignment(experiment, reviewer)
    assert first.pair.calibration
    skip_assignment(first)
    second = next_assignment(experiment, reviewer)
    assert second.pair.calibration and second.pair_id != first.pair_id


@pytest.mark.django_db
def test_create_experiment_command_takes_the_assignment_settings(owner):
    call_command(
        "create_experiment", "cmd", "--owner", owner.username, "--strategy", "complete",
        "--calibration-pairs", "5", "--repeat-rate", "0.2",
    )  # fmt: skip
    experiment = Experiment.objects.get(slug="cmd")
    assert (
        experiment.assignment_strategy,
        experiment.calibration_pairs,
        experiment.repeat_rate,
    ) == ("complete", 5, 0.2)
