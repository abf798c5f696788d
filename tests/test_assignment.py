"""Who gets which pair, and on which side."""

from collections import Counter
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from scipy.stats import binomtest, chisquare, kendalltau

from reviewapp import assignment as assignment_module
from reviewapp.assignment import (
    left_is_a_for,
    next_assignment,
    skip_assignment,
)
from reviewapp.judgments import Answer, SubmissionRefused, record_submission, submit_as_member
from reviewapp.models import Assignment, Pair
from reviewapp.progress import reviewer_progress
from reviewapp.slots import release_expired_leases
from tests.conftest import make_experiment, make_user


def answer_all(experiment, assignment, reviewer, choice="left", **kwargs):
    answers = {d.pk: Answer(choice) for d in experiment.dimensions.all()}
    return record_submission(assignment.pk, reviewer, answers, **kwargs)


def review_until_done(experiment, reviewers):
    """Round-robin: each reviewer takes and answers a pair until nobody gets one."""
    active = list(reviewers)
    while active:
        for reviewer in list(active):
            assignment = next_assignment(experiment, reviewer)
            if assignment is None:
                active.remove(reviewer)
            else:
                answer_all(experiment, assignment, reviewer)


@pytest.mark.django_db
def test_each_pair_reaches_k_distinct_reviewers_and_no_more(owner):
    experiment = make_experiment(owner, n_pairs=12, reviews_per_pair=3)
    reviewers = [make_user(f"r{i}") for i in range(5)]
    review_until_done(experiment, reviewers)
    per_pair = Counter(
        Assignment.objects.filter(status="submitted").values_list("pair_id", flat=True)
    )
    assert set(per_pair.values()) == {3}
    assert len(per_pair) == 12
    pairs_reviewers = Assignment.objects.values_list("pair_id", "reviewer_id")
    assert len(set(pairs_reviewers)) == len(pairs_reviewers)  # never twice
    assert set(Pair.objects.values_list("slots_taken", flat=True)) == {3}


@pytest.mark.django_db
def test_pairs_with_fewest_reviews_come_first(owner):
    experiment = make_experiment(owner, n_pairs=6, reviews_per_pair=3)
    first, second = make_user("first"), make_user("second")
    for _ in range(3):
        answer_all(experiment, next_assignment(experiment, first), first)
    seen_by_first = set(Assignment.objects.filter(reviewer=first).values_list("pair_id", flat=True))
    # The second reviewer starts with the 3 untouched pairs before any pair `first` holds.
    taken = []
    for _ in range(3):
        assignment = next_assignment(experiment, second)
        taken.append(assignment.pair_id)
        answer_all(experiment, assignment, second)
    assert not set(taken) & seen_by_first


def skip_through(experiment, reviewer) -> list[str]:
    """The reviewer's whole order: each pair taken, then skipped (which frees its slot)."""
    pairs = []
    while (assignment := next_assignment(experiment, reviewer)) is not None:
        pairs.append(assignment.pair.external_id)
        skip_assignment(assignment)
    return pairs


def many_reviewers(n: int, prefix: str = "crowd"):
    User = get_user_model()
    User.objects.bulk_create(User(username=f"{prefix}{i:03d}") for i in range(n))
    return list(User.objects.filter(username__startswith=prefix).order_by("username"))


@pytest.mark.django_db
def test_order_is_random_per_reviewer_and_reproducible(owner):
    experiment = make_experiment(owner, n_pairs=30, reviews_per_pair=30)
    alice, bob = make_user("alice"), make_user("bob")
    experiment.reviewers.add(alice, bob)
    alice_order, bob_order = skip_through(experiment, alice), skip_through(experiment, bob)
    assert sorted(alice_order) == sorted(bob_order)
    assert alice_order != bob_order
    assert alice_order != sorted(alice_order)
    # Same seed, same reviewer, same pair ids, same events: the same order again.
    Assignment.objects.all().delete()
    Pair.objects.update(slots_taken=0)
    experiment.memberships.update(claims=0)
    assert skip_through(experiment, alice) == alice_order


@pytest.mark.django_db
@pytest.mark.parametrize("window", [assignment_module.WINDOW, 8])
def test_orders_of_different_reviewers_are_independent(owner, monkeypatch, window):
    # 20 reviewers each go through all 40 pairs. The rule used to order each reviewer by
    # (pair key XOR a reviewer mask), which tied every two orders together: mean |tau| 0.51
    # between reviewers, against about 0.09 for independent shuffles of 40. With a window
    # of 8 the claims really walk the index (40 pairs > 8).
    monkeypatch.setattr(assignment_module, "WINDOW", window)
    experiment = make_experiment(owner, n_pairs=40, reviews_per_pair=40, seed=20240501)
    crew = many_reviewers(20)
    experiment.reviewers.add(*crew)
    orders = [skip_through(experiment, reviewer) for reviewer in crew]
    position = [{pair: i for i, pair in enumerate(order)} for order in orders]
    pairs = sorted(orders[0])
    assert all(sorted(order) == pairs for order in orders)
    taus = [
        kendalltau([a[p] for p in pairs], [b[p] for p in pairs]).statistic
        for i, a in enumerate(position)
        for b in position[i + 1 :]
    ]
    assert sum(map(abs, taus)) / len(taus) <= 0.15
    # Nor is any order tied to the pairs' own key order.
    by_key = sorted(pairs, key=lambda p: Pair.objects.get(external_id=p).shuffle_key)
    key_taus = [kendalltau([o[p] for p in by_key], range(40)).statistic for o in position]
    assert sum(map(abs, key_taus)) / len(key_taus) <= 0.15


@pytest.mark.django_db
@pytest.mark.parametrize("n_pairs", [40, 400])
def test_first_pair_is_uniform_over_the_pairs(owner, n_pairs):
    # 400 reviewers' first pairs, each taken from the same untouched experiment (rolled
    # back). With 400 pairs the claim walks from a starting point (400 > WINDOW): counted
    # in 20 bins of pairs, each should get about a twentieth.
    experiment = make_experiment(owner, n_pairs=n_pairs, reviews_per_pair=3, seed=7)
    crew = many_reviewers(400)
    experiment.reviewers.add(*crew)
    firsts = Counter()
    for reviewer in crew:
        with transaction.atomic():
            firsts[next_assignment(experiment, reviewer).pair.external_id] += 1
            transaction.set_rollback(True)
    bins = 40 if n_pairs == 40 else 20
    per_bin = Counter(int(pair[1:]) * bins // n_pairs for pair in firsts.elements())
    assert chisquare([per_bin[b] for b in range(bins)]).pvalue > 0.001


@pytest.mark.django_db
def test_excluded_pairs_are_never_assigned_nor_counted(owner):
    experiment = make_experiment(owner, n_pairs=10, reviews_per_pair=1)
    excluded = Pair.objects.filter(external_id__in=["p00002", "p00005"])
    excluded.update(excluded=True)
    reviewer = make_user("solo")
    experiment.reviewers.add(reviewer)
    assert reviewer_progress(experiment, reviewer).remaining_for_reviewer == 8
    seen = skip_through(experiment, reviewer)
    assert len(seen) == 8 and not {"p00002", "p00005"} & set(seen)


@pytest.mark.django_db
def test_current_assignment_is_resumed_not_replaced(owner, reviewers):
    experiment = make_experiment(owner, n_pairs=5)
    first = next_assignment(experiment, reviewers[0])
    again = next_assignment(experiment, reviewers[0])
    assert again.pk == first.pk
    assert Assignment.objects.count() == 1


def test_side_coin_is_reproducible_and_balanced():
    sides = [
        left_is_a_for(12345, reviewer, f"pair-{i}") for reviewer in (1, 2) for i in range(1000)
    ]
    assert sides == [left_is_a_for(12345, r, f"pair-{i}") for r in (1, 2) for i in range(1000)]
    for chunk in (sides[:1000], sides[1000:]):
        assert binomtest(sum(chunk), 1000, 0.5).pvalue > 0.001
    # Independent per reviewer: the two reviewers' coins are not the same sequence.
    assert sides[:1000] != sides[1000:]


@pytest.mark.django_db
def test_left_right_balanced_over_1000_pairs_and_recorded(owner):
    experiment = make_experiment(owner, n_pairs=1000, reviews_per_pair=1)
    reviewer = make_user("solo")
    lefts = []
    for _ in range(1000):
        assignment = next_assignment(experiment, reviewer)
        lefts.append(assignment.left_is_a)
        # Mark it answered without judgments: only the sides matter here.
        Assignment.objects.filter(pk=assignment.pk).update(
            status="submitted", submitted_at=timezone.now()
        )
    assert binomtest(sum(lefts), 1000, 0.5).pvalue > 0.001
    stored = dict(Assignment.objects.values_list("pair__external_id", "left_is_a"))
    assert all(stored[ext] == left_is_a_for(experiment.seed, reviewer.pk, ext) for ext in stored)


@pytest.mark.django_db
def test_skip_frees_the_slot_for_others_but_not_for_the_skipper(owner):
    experiment = make_experiment(owner, n_pairs=1, reviews_per_pair=1)
    a, b = make_user("a"), make_user("b")
    skip_assignment(next_assignment(experiment, a))
    assert next_assignment(experiment, a) is None
    assert next_assignment(experiment, b) is not None


@pytest.mark.django_db
def test_expired_lease_frees_slot_and_late_submit_is_answered(owner, settings):
    settings.REVIEWAPP_LEASE_MINUTES = 30
    experiment = make_experiment(owner, n_pairs=1, reviews_per_pair=1)
    slow, fast = make_user("slow"), make_user("fast")
    long_ago = timezone.now() - timedelta(minutes=31)
    stale = next_assignment(experiment, slow, now=long_ago)
    assert next_assignment(experiment, fast) is not None  # lease ran out: slot went to `fast`
    stale.refresh_from_db()
    assert stale.status == "expired"
    with pytest.raises(SubmissionRefused) as refused:
        answer_all(experiment, stale, slow)
    assert refused.value.code == "lease_lost"


@pytest.mark.django_db
def test_late_submit_accepted_when_slot_still_free(owner):
    experiment = make_experiment(owner, n_pairs=1, reviews_per_pair=1)
    slow = make_user("slow")
    stale = next_assignment(experiment, slow, now=timezone.now() - timedelta(hours=2))
    assert release_expired_leases(experiment) == 1
    outcome = answer_all(experiment, stale, slow)
    assert not outcome.already_recorded
    assert Pair.objects.get().slots_taken == 1


@pytest.mark.django_db
def test_double_submit_stores_one_set_and_answers_the_same(owner, reviewers):
    experiment = make_experiment(owner, n_pairs=2)
    assignment = next_assignment(experiment, reviewers[0])
    first = answer_all(experiment, assignment, reviewers[0], choice="left")
    second = answer_all(experiment, assignment, reviewers[0], choice="right")
    assert not first.already_recorded and second.already_recorded
    assert assignment.judgments.count() == experiment.dimensions.count()
    expected = "A" if assignment.left_is_a else "B"
    assert set(assignment.judgments.values_list("choice", flat=True)) == {expected}


@pytest.mark.django_db
def test_submit_refused_for_someone_elses_assignment_and_closed_experiment(owner, reviewers):
    experiment = make_experiment(owner, n_pairs=2)
    assignment = next_assignment(experiment, reviewers[0])
    with pytest.raises(SubmissionRefused) as refused:
        answer_all(experiment, assignment, reviewers[1])
    assert refused.value.code == "not_found"
    experiment.status = "closed"
    experiment.save()
    with pytest.raises(SubmissionRefused) as refused:
        answer_all(experiment, assignment, reviewers[0])
    assert refused.value.code == "closed"


@pytest.mark.django_db
@pytest.mark.parametrize("caller_knows_the_rubric", [False, True])
def test_screen_choice_is_stored_in_content_terms(owner, reviewers, caller_knows_the_rubric):
    """Both ways of storing: record_submission, and the review page's and API's submit
    (submit_as_member), whose lock reads the membership and the rubric."""
    experiment = make_experiment(owner, n_pairs=40, reviews_per_pair=1, ask_strength=True)
    dimensions = list(experiment.dimensions.order_by("position"))
    experiment.reviewers.add(reviewers[0])

    def submit(assignment, answers):
        if caller_knows_the_rubric:
            _, outcome = submit_as_member(
                reviewers[0], assignment.pk, lambda _rubric: answers, "why", slug=experiment.slug
            )
            return outcome
        return record_submission(assignment.pk, reviewers[0], answers, "why")

    sides = set()
    for i in range(40):
        assignment = next_assignment(experiment, reviewers[0])
        choice, strength = [("right", "clear"), ("left", "slight"), ("tie", "")][i % 3]
        answers = {d.pk: Answer(choice, strength) for d in dimensions}
        outcome = submit(assignment, answers)
        assert not outcome.already_recorded and outcome.assignment.status == "submitted"
        stored = set(assignment.judgments.values_list("choice", "strength"))
        shown_left_is_a = assignment.left_is_a
        want = {"tie": "tie", "left": "A" if shown_left_is_a else "B"}.get(choice)
        want = want or ("B" if shown_left_is_a else "A")
        assert stored == {(want, strength)}
        sides.add(shown_left_is_a)
        assignment.refresh_from_db()
        assert (assignment.status, assignment.rationale) == ("submitted", "why")
    assert sides == {True, False}  # both sides were exercised


@pytest.mark.django_db
def test_progress_share_splits_work_over_reviewers(owner):
    experiment = make_experiment(owner, n_pairs=10, reviews_per_pair=2)
    crew = [make_user(f"c{i}") for i in range(4)]
    experiment.reviewers.add(*crew)
    progress = reviewer_progress(experiment, crew[0])
    assert (progress.done, progress.share, progress.remaining_for_reviewer) == (0, 5, 10)
    answer_all(experiment, next_assignment(experiment, crew[0]), crew[0])
    assert reviewer_progress(experiment, crew[0]).done == 1


def window_by_the_rule(experiment, reviewer, start):
    """The claim's window worked out in Python from the ORM's candidate rule
    (assignment._candidates), as the docstring of assignment._claim_state states it: the
    strategy's level is the lowest ("spread") or the highest ("complete")."""
    window_size = assignment_module.WINDOW
    candidates = set(
        assignment_module._candidates(experiment, reviewer).values_list("pk", flat=True)
    )
    pairs = list(
        Pair.objects.filter(experiment=experiment, is_gold=False).values_list(
            "pk", "shuffle_key", "slots_taken"
        )
    )
    if not candidates:
        return []
    first_level = max if experiment.assignment_strategy == "complete" else min
    lowest = first_level(slots for pk, _, slots in pairs if pk in candidates)
    level = sorted((key, pk) for pk, key, slots in pairs if slots == lowest)
    after = [(key, pk) for key, pk in level if key >= start][: 2 * window_size]
    before = [(key, pk) for key, pk in level if key < start][: 2 * window_size]
    walked = [(pk, key) for key, pk in after + before]
    return [(pk, key) for pk, key in walked if pk in candidates][:window_size]


@pytest.mark.django_db
@pytest.mark.parametrize("strategy", ["spread", "complete"])
@pytest.mark.parametrize("seed", range(4))
def test_the_claims_sql_window_follows_the_orm_candidate_rule(owner, monkeypatch, seed, strategy):
    # The one hand-written statement (assignment._claim_state) and the ORM's candidate
    # rule (_candidates) must describe the same pairs: random states with had, full,
    # excluded and gold pairs, at several slot levels, and starting points.
    import random

    monkeypatch.setattr(assignment_module, "WINDOW", 6)
    rng = random.Random(seed)
    experiment = make_experiment(
        owner, n_pairs=60, reviews_per_pair=3, assignment_strategy=strategy
    )
    reviewer, others = make_user("me"), [make_user(f"o{i}") for i in range(3)]
    pairs = list(Pair.objects.filter(experiment=experiment))
    for pair in pairs:
        pair.is_gold = rng.random() < 0.1
        pair.excluded = rng.random() < 0.1
        holders = rng.sample(others, rng.choice([0, 0, 1, 1, 2, 3]))
        for other in holders:
            Assignment.objects.create(
                experiment=experiment, pair=pair, reviewer=other, left_is_a=True,
                status="submitted", shown_at=timezone.now(), submitted_at=timezone.now(),
            )  # fmt: skip
        if rng.random() < 0.2:
            Assignment.objects.create(
                experiment=experiment, pair=pair, reviewer=reviewer, left_is_a=True,
                status="skipped", shown_at=timezone.now(),
            )  # fmt: skip
        pair.slots_taken = len(holders)
    Pair.objects.bulk_update(pairs, ["is_gold", "excluded", "slots_taken"])
    keys = sorted(p.shuffle_key for p in pairs)
    for start in [0, keys[len(keys) // 2], keys[-1] + 1, rng.randrange(2**56)]:
        state = assignment_module._claim_state(experiment, reviewer, start, timezone.now())
        assert state.window == window_by_the_rule(experiment, reviewer, start)
        assert state.done == 0 and state.members == experiment.reviewers.count()
