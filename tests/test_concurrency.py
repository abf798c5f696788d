"""Assignment and submission under concurrency, on PostgreSQL (required in CI).

Every test runs real threads, each with its own database connection (Django keeps one
connection per thread), against committed data: `transaction=True`, and each thread
closes its connection when it ends. Where two requests must overlap, the test makes
them overlap deterministically: the first holds its transaction open at a known point
and the second is only released once PostgreSQL shows it waiting on the row lock.
"""

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, connections
from django.db.models import Count, Q
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from reviewapp import judgments
from reviewapp.assignment import claim_as_member, next_assignment
from reviewapp.judgments import Answer, SubmissionRefused, record_submission
from reviewapp.models import Assignment, Judgment, Membership, Pair
from reviewapp.slots import release_expired_leases
from tests.conftest import make_experiment

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def make_user(username: str):
    # No password: hashing one (PBKDF2) costs ~0.3 s, and these tests need dozens of users.
    return get_user_model().objects.create(username=username)


def in_thread(function):
    """Wrap a thread body so its own database connection is closed when it ends."""

    def run(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        finally:
            connection.close()

    return run


def answers_for(experiment, choice="left"):
    return {d.pk: Answer(choice) for d in experiment.dimensions.all()}


def assert_slot_counts_consistent(experiment):
    """slots_taken is exactly the number of assignments holding a slot, for every pair."""
    holding = Count("assignments", filter=Q(assignments__status__in=["shown", "submitted"]))
    for pair in Pair.objects.filter(experiment=experiment).annotate(holding=holding):
        assert pair.slots_taken == pair.holding, pair.external_id
        assert pair.slots_taken <= experiment.reviews_per_pair


# The statement with which record_submission takes the assignment's row lock.
LOCK_ASSIGNMENT = 'SELECT "reviewapp_assignment"'


def wait_until_blocked_on_lock(query_prefix: str, timeout: float = 10.0, count: int = 1) -> None:
    """Wait until `count` other backends of this database wait on a lock in `query_prefix`."""
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'"
                " AND query LIKE %s",
                [query_prefix + "%"],
            )
            if cursor.fetchone()[0] >= count:
                return
            time.sleep(0.01)
    raise AssertionError(f"nobody blocked on a lock in {query_prefix!r} within {timeout}s")


class HoldInsideSubmit:
    """Pause the first submission after its judgments are inserted, inside its open
    transaction (holding the assignment's row lock), until released."""

    def __init__(self, monkeypatch):
        self.inside = threading.Event()
        self.release = threading.Event()
        self.first = threading.Lock()
        original = judgments._store

        def store(*args, **kwargs):
            stored = original(*args, **kwargs)
            if self.first.acquire(blocking=False):
                self.inside.set()
                assert self.release.wait(20), "the test never released the first submit"
            return stored

        monkeypatch.setattr(judgments, "_store", store)


def test_32_reviewers_finish_300_pairs_with_exactly_3_distinct_reviews_each(owner):
    experiment = make_experiment(owner, n_pairs=300, reviews_per_pair=3)
    reviewers = [make_user(f"reviewer{i:02d}") for i in range(32)]
    experiment.reviewers.add(*reviewers)
    answers = answers_for(experiment)
    start = threading.Barrier(len(reviewers))

    @in_thread
    def review(reviewer):
        start.wait()
        done = 0
        while (assignment := next_assignment(experiment, reviewer)) is not None:
            outcome = record_submission(assignment.pk, reviewer, answers)
            assert not outcome.already_recorded
            done += 1
        return done

    with ThreadPoolExecutor(max_workers=len(reviewers)) as pool:
        done = list(pool.map(review, reviewers))

    assert sum(done) == 300 * 3
    submitted = Assignment.objects.filter(experiment=experiment, status="submitted")
    per_pair = Counter(submitted.values_list("pair_id", flat=True))
    assert len(per_pair) == 300 and set(per_pair.values()) == {3}
    pairs_and_reviewers = list(
        Assignment.objects.filter(experiment=experiment).values_list("pair_id", "reviewer_id")
    )
    assert len(pairs_and_reviewers) == len(set(pairs_and_reviewers)) == 900  # distinct
    n_dimensions = experiment.dimensions.count()
    per_assignment = Counter(
        Judgment.objects.filter(assignment__experiment=experiment).values_list(
            "assignment_id", flat=True
        )
    )
    assert len(per_assignment) == 900 and set(per_assignment.values()) == {n_dimensions}
    assert not Assignment.objects.filter(experiment=experiment, status="shown").exists()
    assert set(
        Pair.objects.filter(experiment=experiment).values_list("slots_taken", flat=True)
    ) == {3}
    assert len({reviewer for reviewer, n in zip(reviewers, done, strict=True) if n}) > 1


def test_same_reviewer_asking_twice_at_once_gets_one_assignment(owner, reviewers):
    experiment = make_experiment(owner, n_pairs=20)
    reviewer = reviewers[0]
    start = threading.Barrier(8)

    @in_thread
    def ask(_):
        start.wait()
        return next_assignment(experiment, reviewer).pk

    with ThreadPoolExecutor(max_workers=8) as pool:
        taken = set(pool.map(ask, range(8)))
    assert len(taken) == 1
    assert Assignment.objects.filter(reviewer=reviewer).count() == 1
    assert_slot_counts_consistent(experiment)


def test_same_reviewer_opening_the_review_page_twice_at_once_gets_one_assignment(owner, reviewers):
    """The review page's claim (claim_as_member) locks the member's row in its membership
    read: eight tabs opened together queue on it and show the same pair."""
    experiment = make_experiment(owner, n_pairs=20)
    reviewer = reviewers[0]
    experiment.reviewers.add(reviewer)
    start = threading.Barrier(8)

    @in_thread
    def ask(_):
        start.wait()
        _, claimed = claim_as_member(reviewer, review_key=experiment.review_key)
        return claimed.assignment.pk

    with ThreadPoolExecutor(max_workers=8) as pool:
        taken = set(pool.map(ask, range(8)))
    assert len(taken) == 1
    assert Assignment.objects.filter(reviewer=reviewer).count() == 1
    assert Membership.objects.get(user=reviewer).claims == 1
    assert_slot_counts_consistent(experiment)


def test_two_reviewers_racing_for_the_last_slot_one_gets_it(owner):
    experiment = make_experiment(owner, n_pairs=1, reviews_per_pair=1)
    racers = [make_user(f"racer{i}") for i in range(16)]
    start = threading.Barrier(len(racers))

    @in_thread
    def ask(reviewer):
        start.wait()
        return next_assignment(experiment, reviewer)

    with ThreadPoolExecutor(max_workers=len(racers)) as pool:
        results = list(pool.map(ask, racers))
    assert sum(result is not None for result in results) == 1
    assert Pair.objects.get().slots_taken == 1
    assert_slot_counts_consistent(experiment)


def test_concurrent_double_submit_stores_one_set_and_both_succeed(owner, reviewers, monkeypatch):
    experiment = make_experiment(owner, n_pairs=3)
    reviewer = reviewers[0]
    assignment = next_assignment(experiment, reviewer)
    hold = HoldInsideSubmit(monkeypatch)

    @in_thread
    def submit(choice):
        return record_submission(assignment.pk, reviewer, answers_for(experiment, choice))

    with ThreadPoolExecutor(max_workers=2) as pool:
        first = pool.submit(submit, "left")
        assert hold.inside.wait(10)
        second = pool.submit(submit, "right")  # waits on the first's row lock
        wait_until_blocked_on_lock(LOCK_ASSIGNMENT)
        hold.release.set()
        outcomes = [first.result(timeout=20), second.result(timeout=20)]

    assert [o.already_recorded for o in outcomes] == [False, True]
    stored = Judgment.objects.filter(assignment=assignment)
    assert stored.count() == experiment.dimensions.count()
    # The first answer stands ("left"), stored in content terms.
    assert set(stored.values_list("choice", flat=True)) == {"A" if assignment.left_is_a else "B"}
    assert_slot_counts_consistent(experiment)


def login(reviewer) -> Client:
    client = Client()
    client.force_login(reviewer)
    return client


def submit_form(experiment, choice="left"):
    return {f"dim-{d.position}": choice for d in experiment.dimensions.all()}


def test_double_click_through_the_view_answers_the_same_way_twice(owner, reviewers):
    experiment = make_experiment(owner, n_pairs=3)
    reviewer = reviewers[0]
    experiment.reviewers.add(reviewer)
    assignment = next_assignment(experiment, reviewer)
    url = reverse("review-submit", args=[experiment.review_key, assignment.pk])

    def click():
        response = login(reviewer).post(url, submit_form(experiment))
        return response.status_code, response.headers.get("Location")

    # Another connection holds the assignment's row lock while both clicks arrive, and
    # both queue on it, as two clicks arriving together queue on each other.
    blocker = connections.create_connection("default")
    try:
        with blocker.cursor() as cursor:
            cursor.execute("BEGIN")
            cursor.execute(
                "SELECT 1 FROM reviewapp_assignment WHERE id = %s FOR UPDATE", [assignment.pk]
            )
            with ThreadPoolExecutor(max_workers=2) as pool:
                clicks = [pool.submit(in_thread(click)) for _ in range(2)]
                wait_until_blocked_on_lock(LOCK_ASSIGNMENT, count=2)
                cursor.execute("ROLLBACK")
                responses = [done.result(timeout=20) for done in clicks]
    finally:
        blocker.close()

    expected = (302, reverse("review-pair", args=[experiment.review_key]))
    assert responses == [expected, expected]
    assert Judgment.objects.filter(assignment=assignment).count() == 5
    stored = Judgment.objects.filter(assignment=assignment)
    assert set(stored.values_list("choice", flat=True)) == {"A" if assignment.left_is_a else "B"}
    # A retry after a lost response, later: the same answer again, nothing new stored.
    assert click() == expected
    assert Judgment.objects.count() == 5


def test_htmx_retry_shows_the_same_next_pair(owner, reviewers):
    experiment = make_experiment(owner, n_pairs=5)
    reviewer = reviewers[0]
    experiment.reviewers.add(reviewer)
    assignment = next_assignment(experiment, reviewer)
    client = login(reviewer)
    url = reverse("review-submit", args=[experiment.review_key, assignment.pk])
    first = client.post(url, submit_form(experiment), headers={"HX-Request": "true"})
    retry = client.post(url, submit_form(experiment, "right"), headers={"HX-Request": "true"})
    assert first.status_code == retry.status_code == 200
    assert first.context["assignment_id"] == retry.context["assignment_id"] != assignment.pk
    assert Assignment.objects.filter(reviewer=reviewer).count() == 2
    assert Judgment.objects.count() == 5


def test_submit_for_someone_elses_assignment_is_refused(owner, reviewers):
    experiment = make_experiment(owner, n_pairs=3)
    experiment.reviewers.add(*reviewers)
    assignment = next_assignment(experiment, reviewers[0])
    url = reverse("review-submit", args=[experiment.review_key, assignment.pk])
    response = login(reviewers[1]).post(url, submit_form(experiment))
    assert response.status_code == 404
    assert b"not assigned to you" in response.content
    with pytest.raises(SubmissionRefused) as refused:
        record_submission(assignment.pk, reviewers[1], answers_for(experiment))
    assert refused.value.code == "not_found"
    assert not Judgment.objects.exists()


def test_closed_experiment_refuses_submit_clearly(owner, reviewers):
    experiment = make_experiment(owner, n_pairs=3)
    reviewer = reviewers[0]
    experiment.reviewers.add(reviewer)
    assignment = next_assignment(experiment, reviewer)
    experiment.status = "closed"
    experiment.save(update_fields=["status"])
    with pytest.raises(SubmissionRefused) as refused:
        record_submission(assignment.pk, reviewer, answers_for(experiment))
    assert refused.value.code == "closed"
    url = reverse("review-submit", args=[experiment.review_key, assignment.pk])
    response = login(reviewer).post(url, submit_form(experiment))
    assert response.status_code == 200 and response.context["closed"]
    assert not Judgment.objects.exists()
    assert Assignment.objects.get(pk=assignment.pk).status == "shown"


def test_expired_lease_frees_the_slot_and_late_submit_is_answered(owner, settings):
    settings.REVIEWAPP_LEASE_MINUTES = 30
    experiment = make_experiment(owner, n_pairs=2, reviews_per_pair=1)
    slow, fast, late = make_user("slow"), make_user("fast"), make_user("late")
    long_ago = timezone.now() - timedelta(minutes=31)
    lost = next_assignment(experiment, slow, now=long_ago)
    kept = next_assignment(experiment, late, now=long_ago)
    # `fast` arrives after the lease: both stale slots are freed, one is taken again.
    taken = next_assignment(experiment, fast)
    assert taken is not None
    assert Assignment.objects.filter(status="expired").count() == 2
    # The reviewer whose slot went to somebody else is told so; nothing is stored.
    lost_to_fast = lost if taken.pair_id == lost.pair_id else kept
    still_free = kept if lost_to_fast is lost else lost
    loser = slow if lost_to_fast is lost else late
    winner = late if loser is slow else slow
    with pytest.raises(SubmissionRefused) as refused:
        record_submission(lost_to_fast.pk, loser, answers_for(experiment))
    assert refused.value.code == "lease_lost"
    assert "not recorded" in str(refused.value)
    # The other late reviewer's slot is still free: the late answer counts.
    outcome = record_submission(still_free.pk, winner, answers_for(experiment))
    assert not outcome.already_recorded
    assert set(Pair.objects.values_list("slots_taken", flat=True)) == {1}
    assert_slot_counts_consistent(experiment)


def test_late_submit_racing_a_new_reviewer_for_the_slot_keeps_one_holder(owner, settings):
    """Many times over: a late submit and a new reviewer's request for the same freed slot
    run at once. Either the late answer counts and the newcomer gets nothing, or the
    newcomer gets the pair and the late reviewer is told; never both, never neither."""
    settings.REVIEWAPP_LEASE_MINUTES = 30
    rounds = 12
    experiment = make_experiment(owner, n_pairs=rounds, reviews_per_pair=1)
    answers = answers_for(experiment)
    long_ago = timezone.now() - timedelta(minutes=45)
    stale = [
        next_assignment(experiment, make_user(f"late{i}"), now=long_ago) for i in range(rounds)
    ]

    for i, assignment in enumerate(stale):
        # Only this round's lease has run out; the rounds to come hold live leases.
        Assignment.objects.filter(status="shown").exclude(pk=assignment.pk).update(
            shown_at=timezone.now()
        )
        Assignment.objects.filter(pk=assignment.pk).update(shown_at=long_ago)
        newcomer = make_user(f"new{i}")
        start = threading.Barrier(2)

        @in_thread
        def late_submit(assignment=assignment, start=start):
            start.wait()
            try:
                return record_submission(assignment.pk, assignment.reviewer, answers)
            except SubmissionRefused as refused:
                return refused.code

        @in_thread
        def newcomer_asks(newcomer=newcomer, start=start):
            start.wait()
            return next_assignment(experiment, newcomer)

        with ThreadPoolExecutor(max_workers=2) as pool:
            late_result = pool.submit(late_submit)
            new_result = pool.submit(newcomer_asks)
            late_result, new_result = late_result.result(20), new_result.result(20)
        if new_result is None:
            assert not isinstance(late_result, str), late_result  # the late answer counted
        else:
            assert new_result.pair_id == assignment.pair_id
            assert late_result == "lease_lost"
        pair = Pair.objects.get(pk=assignment.pair_id)
        assert pair.slots_taken == 1
        holders = pair.assignments.filter(status__in=["shown", "submitted"]).count()
        assert holders == 1


def test_release_of_many_expired_leases_at_once_never_deadlocks(owner, settings):
    """Eight releases at once over 120 stale leases on 40 pairs (3 per pair): each lease
    is released exactly once, and the pair updates never wait on each other in a cycle."""
    settings.REVIEWAPP_LEASE_MINUTES = 30
    experiment = make_experiment(owner, n_pairs=40, reviews_per_pair=3)
    long_ago = timezone.now() - timedelta(hours=1)
    stale_reviewers = [make_user(f"stale{i}") for i in range(3)]
    pairs = list(Pair.objects.filter(experiment=experiment))
    Assignment.objects.bulk_create(
        Assignment(experiment=experiment, pair=pair, reviewer=reviewer, shown_at=long_ago)
        for reviewer in stale_reviewers
        for pair in pairs
    )
    Pair.objects.filter(experiment=experiment).update(slots_taken=3)
    start = threading.Barrier(8)

    @in_thread
    def release(_):
        start.wait()
        return release_expired_leases(experiment)

    with ThreadPoolExecutor(max_workers=8) as pool:
        released = list(pool.map(release, range(8)))
    assert sum(released) == 120
    assert set(Pair.objects.values_list("slots_taken", flat=True)) == {0}
    assert_slot_counts_consistent(experiment)


def test_each_thread_used_its_own_connection():
    """The premise of this module: Django gives every thread its own connection."""
    seen = []

    @in_thread
    def backend_pid(_):
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            seen.append(cursor.fetchone()[0])

    threads = [threading.Thread(target=backend_pid, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(seen)) == 4


def review_with_crew(experiment, reviewers) -> list[int]:
    """Every reviewer in a thread of their own, all starting at once, taking and answering
    pairs until nothing is left for them; returns how many each answered."""
    answers = answers_for(experiment)
    start = threading.Barrier(len(reviewers))

    @in_thread
    def review(reviewer):
        start.wait()
        done = 0
        while (assignment := next_assignment(experiment, reviewer)) is not None:
            outcome = record_submission(assignment.pk, reviewer, answers)
            assert not outcome.already_recorded
            done += 1
        return done

    with ThreadPoolExecutor(max_workers=len(reviewers)) as pool:
        return list(pool.map(review, reviewers))


def test_32_reviewers_complete_pairs_first_still_give_exactly_3_distinct_reviews(owner):
    experiment = make_experiment(
        owner, n_pairs=300, reviews_per_pair=3, assignment_strategy="complete"
    )
    reviewers = [make_user(f"reviewer{i:02d}") for i in range(32)]
    experiment.reviewers.add(*reviewers)
    done = review_with_crew(experiment, reviewers)
    assert sum(done) == 900
    submitted = Assignment.objects.filter(experiment=experiment, status="submitted")
    per_pair = Counter(submitted.values_list("pair_id", flat=True))
    assert len(per_pair) == 300 and set(per_pair.values()) == {3}
    pairs_and_reviewers = list(submitted.values_list("pair_id", "reviewer_id"))
    assert len(set(pairs_and_reviewers)) == 900
    assert not Assignment.objects.filter(experiment=experiment, status="shown").exists()
    assert_slot_counts_consistent(experiment)


def test_32_reviewers_with_calibration_and_repeats_keep_every_rule(owner):
    from reviewapp.experiments import recount_pairs
    from reviewapp.repeats import repeats_after

    experiment = make_experiment(
        owner, n_pairs=150, reviews_per_pair=3, calibration_pairs=4, repeat_rate=0.2
    )
    recount_pairs(experiment)
    calibration = set(Pair.objects.filter(calibration=True).values_list("pk", flat=True))
    assert len(calibration) == 4
    reviewers = [make_user(f"reviewer{i:02d}") for i in range(32)]
    experiment.reviewers.add(*reviewers)
    review_with_crew(experiment, reviewers)

    firsts = Assignment.objects.filter(experiment=experiment, repeat=False)
    per_pair = Counter(firsts.filter(status="submitted").values_list("pair_id", flat=True))
    # Calibration pairs: every reviewer; the others: exactly k distinct reviewers.
    assert {per_pair[pk] for pk in calibration} == {32}
    assert {n for pk, n in per_pair.items() if pk not in calibration} == {3}
    assert len(per_pair) == 150
    # Each reviewer's first 4 pairs were the calibration set.
    for reviewer in reviewers:
        order = list(
            Assignment.objects.filter(reviewer=reviewer)
            .order_by("pk")
            .values_list("pair_id", flat=True)
        )
        assert set(order[:4]) == calibration
    # Repeats: the set share of each reviewer's originals, swapped, never a third showing.
    repeats = Assignment.objects.filter(experiment=experiment, repeat=True)
    for reviewer in reviewers:
        originals = firsts.filter(reviewer=reviewer).count()
        mine = repeats.filter(reviewer=reviewer)
        assert mine.count() == repeats_after(experiment, reviewer.pk, originals)
        for repeat in mine:
            first = firsts.get(reviewer=reviewer, pair_id=repeat.pair_id)
            assert repeat.left_is_a is (not first.left_is_a)
    keys = list(Assignment.objects.values_list("pair_id", "reviewer_id", "repeat"))
    assert len(keys) == len(set(keys))
    # Slots count first showings only (repeats hold none); calibration pairs go past k.
    holding = Count(
        "assignments",
        filter=Q(assignments__status__in=["shown", "submitted"], assignments__repeat=False),
    )
    for pair in Pair.objects.filter(experiment=experiment).annotate(holding=holding):
        assert pair.slots_taken == pair.holding
