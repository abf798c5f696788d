"""Choosing the next pair for a reviewer, which output goes on the left, and progress.

The assignment rule (stated once; the code below implements exactly this):

- A reviewer's candidates are the experiment's regular pairs (not gold, not excluded by
  the owner) that still have a free slot (fewer than `reviews_per_pair` assignments hold
  one) and that this reviewer has never been assigned (a unique (pair, reviewer, repeat)
  constraint backs this up: a pair comes back only as the reviewer's one repeat of it).
- Calibration first (when the experiment has `calibration_pairs` N > 0): the N
  calibration pairs (calibration.py says which) go to every reviewer before anything
  else, gold included, in the reviewer's own order hash(seed, reviewer, pair); they have
  no slot limit, so they get more than `reviews_per_pair` reviews.
- Then a swapped repeat that is due (when `repeat_rate` > 0; repeats.py paces them): the
  reviewer's own answered pair again, sides swapped, at least 5 other pairs after it
  (fewer only once nothing else is left for them). A repeat takes no slot.
- The slot level depends on the experiment's `assignment_strategy`. "spread", fewest
  reviews first: only the candidates at the lowest slot level are considered. "complete",
  complete pairs first: only those at the highest level below `reviews_per_pair`, so
  pairs already started reach their k reviews (and agreement) before new ones start.
- Then a random order of the reviewer's own, reproducible from the experiment seed: the
  reviewer's claim number n (n = pairs the queue has given them so far, kept on their
  membership as `claims`) starts at the point hash(seed, reviewer, n) of the pairs'
  shuffle-key space, reads the next WINDOW candidates of that level in shuffle-key order
  (wrapping around at the end), and takes the one with the smallest
  hash(seed, reviewer, pair). A fresh starting point per claim keeps one reviewer's order
  unrelated to another's (and to the key order); with at most WINDOW candidates it is
  exactly the reviewer's own random permutation. Each claim reads about WINDOW index
  entries, whatever the size of the experiment or the reviewer's history.
- Gold pairs (attention checks) are outside that queue and have no slot limit. After n
  pairs from the queue a reviewer has had min(G, floor(gold_rate * n + u)) of the G gold
  pairs, u a seeded per-reviewer offset in [0, 1): the set rate, at positions that differ
  between reviewers. A gold pair is given only instead of a regular pair or a repeat that
  is available to the reviewer (never instead of a calibration pair), so the queue never
  ends in gold; gold pairs come in the order of hash(seed, reviewer, pair).
- Invite-link reviewers stop at their quota of submitted pairs (gold included).
- Left/right is a seeded coin per (reviewer, pair), recorded on the Assignment.
- A shown but unanswered assignment holds its slot for a lease (a repeat, just the
  lease); when the lease runs out the slot is freed for somebody else. A skip frees the
  slot (for others, never for the skipper).

`Pair.slots_taken` counts the assignments holding a slot (not repeats; shown with a live
lease, or submitted). Every stage changes it through take_slot / free_slot only (slots.py,
with the leases), under the pair's row lock (or SQLite's write lock), so two reviewers can
never both take the last slot.
"""

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction
from django.db.models import F, OuterRef, Subquery
from django.utils import timezone

from .access import ReviewerMembership, lock_membership
from .calibration import calibration_pair_due
from .gold import gold_after, gold_pair_due
from .models import Assignment, Experiment, Membership, Pair
from .repeats import due_repeat_sql, give_repeat, pending_repeat, repeat_due_at
from .seeded import by_pick_key, claim_start, left_is_a_for, seeded_bits
from .slots import (
    free_slot,
    lease_length,
    live_leases,
    release_stale_leases,
    take_slot,
)

__all__ = ["claim_start", "gold_after", "left_is_a_for", "seeded_bits"]  # homes: seeded, gold

# Candidates of the strategy's level each pick is drawn from (read in index order from the
# claim's starting point). Bigger mixes more; each costs an index entry.
WINDOW = 50
# The fields of a regular pair a claim reads (the rest, model names included, is left
# in the database): the screen's texts and what _take records.
CLAIMED_PAIR = (
    "experiment_id", "external_id", "is_gold", "slots_taken", "prompt", "output_a", "output_b",
)  # fmt: skip
# Rounds of "everything left is locked by others: wait for one, then look again" (only
# reached near the very end of an experiment).
MAX_ROUNDS = 50


def _by_pick_key(experiment: Experiment, reviewer):
    return by_pick_key(experiment.seed, reviewer.pk)


def _level_order(experiment: Experiment) -> str:
    """Which slot level the strategy serves first: SQL's direction for slots_taken."""
    return "DESC" if experiment.assignment_strategy == Experiment.Strategy.COMPLETE else "ASC"


# -- the claim ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ClaimState:
    """What a claim reads, in one statement, once the reviewer's row is locked."""

    current_id: int | None  # the reviewer's live shown assignment (the oldest), if any
    stale: bool  # whether any lease in the experiment has run out
    window: list[tuple[int, int]]  # (id, shuffle_key) of the candidates the pick is among
    done: int  # the reviewer's submitted assignments (their progress, and the quota)
    members: int  # the experiment's members (their progress)
    repeat_due: int | None = None  # the original of the reviewer's first due repeat


def _claim_state(
    experiment: Experiment, reviewer, start: int, now: datetime, claims: int = 0
) -> ClaimState:
    """The claim's read: the one hand-written statement on the request path.

    It is the rule above, as SQL that SQLite and PostgreSQL both run: the reviewer's live
    assignment, whether a lease has run out, the two counts progress needs, and the
    window, i.e. the next WINDOW candidates of the strategy's slot level (the lowest, or
    the highest below k) from `start` in shuffle-key order, wrapping around
    (only 2 x WINDOW index entries of that level are walked on each side of `start`, so
    a reviewer who skipped many of them gets a smaller window, and an empty one falls
    back to any free candidate). "Not had" is a probe of the (pair, reviewer) index per
    walked pair, never a read of the reviewer's history; the walks use the pair_queue
    index (experiment, is_gold, slots_taken, shuffle_key). `_candidates` is the same
    candidate rule for the ORM (the rare paths), and tests/test_assignment.py checks that
    the two agree. With repeats on, one more column: the reviewer's first due repeat (a
    probe of the assignment_repeats_due index, given their `claims`).

    Why SQL: built with the ORM, these reads (two statements) cost about 5 ms of Python per
    claim (building the nested querysets 1.3 ms, compiling 0.5 ms, the live-and-stale read
    1.8 ms), against 0.2 ms for this one; with it the CPU of the signed-in floor over that
    of a review request went from 0.09 to 0.19 (`DEBUG=0 .venv/bin/python
    bench/bench_review_request.py --batches 5 --loops 60 --floor`, back to back on one
    machine; bench/README.md, "The claim's read"). Each side's walk stops at WINDOW
    candidates and the one before `start` only tops up: 200 pair probes a claim became 50,
    and PostgreSQL's CPU per review request 1.33-1.42 ms became 1.08-1.25 with the other
    changes of that round (same command, alternating; bench/README.md, "The review loop,
    cheaper per request").
    """
    pair, assignment = Pair._meta.db_table, Assignment._meta.db_table
    had = (
        f"(SELECT h.id FROM {assignment} h"
        " WHERE h.pair_id = p.id AND h.reviewer_id = %(reviewer)s LIMIT 1)"
    )
    walk = (
        f"SELECT p.id, p.shuffle_key FROM {pair} p"
        " WHERE p.experiment_id = %(experiment)s AND p.is_gold = %(no)s"
        " AND p.slots_taken = (SELECT n FROM level) AND p.shuffle_key {side} %(start)s"
        " ORDER BY p.shuffle_key LIMIT %(walk)s"
    )
    # A side's first candidates, in key order: PostgreSQL stops walking that side once it
    # has `limit` of them. The window is the first WINDOW after the start, topped up from
    # before it only when those are fewer (a LIMIT of 0 walks nothing).
    side = (
        "SELECT {wrapped} AS wrapped, w.id, w.shuffle_key FROM ({walk}) AS w"
        f" JOIN {pair} p ON p.id = w.id WHERE p.excluded = %(no)s AND {had} IS NULL"
        " ORDER BY w.shuffle_key LIMIT {limit}"
    )
    after_start = side.format(wrapped=0, walk=walk.format(side=">="), limit="%(window)s")
    before_start = side.format(
        wrapped=1,
        walk=walk.format(side="<"),
        limit="%(window)s - (SELECT COUNT(*) FROM after_start)",
    )
    sql = f"""
        WITH level AS (
            SELECT p.slots_taken AS n FROM {pair} p
            WHERE p.experiment_id = %(experiment)s AND p.is_gold = %(no)s
              AND p.excluded = %(no)s AND p.slots_taken < %(k)s AND {had} IS NULL
            ORDER BY p.slots_taken {_level_order(experiment)} LIMIT 1
        ), after_start AS ({after_start}
        ), picked AS (
            SELECT wrapped, id, shuffle_key FROM after_start
            UNION ALL
            SELECT wrapped, id, shuffle_key FROM ({before_start}) AS before_start
        )
        SELECT
            (SELECT a.id FROM {assignment} a
              WHERE a.experiment_id = %(experiment)s AND a.reviewer_id = %(reviewer)s
                AND a.status = %(shown)s AND a.shown_at >= %(cutoff)s
              ORDER BY a.shown_at LIMIT 1),
            EXISTS (SELECT 1 FROM {assignment} a
              WHERE a.experiment_id = %(experiment)s AND a.status = %(shown)s
                AND a.shown_at < %(cutoff)s),
            (SELECT COUNT(*) FROM {assignment} a
              WHERE a.experiment_id = %(experiment)s AND a.reviewer_id = %(reviewer)s
                AND a.status = %(submitted)s),
            (SELECT COUNT(*) FROM {Membership._meta.db_table} m
              WHERE m.experiment_id = %(experiment)s),
            {due_repeat_sql(experiment, assignment)},
            picked.id, picked.shuffle_key
        FROM (SELECT 1 AS one) AS one LEFT JOIN picked ON 1 = 1
        ORDER BY picked.wrapped, picked.shuffle_key
    """
    params = {
        "experiment": experiment.pk,
        "reviewer": reviewer.pk,
        "no": False,
        "k": experiment.reviews_per_pair,
        "start": start,
        "walk": 2 * WINDOW,
        "window": WINDOW,
        "shown": Assignment.Status.SHOWN,
        "submitted": Assignment.Status.SUBMITTED,
        "claims": claims,
        "cutoff": connection.ops.adapt_datetimefield_value(now - lease_length()),
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    current_id, stale, done, members, repeat_due = rows[0][:5]
    window = [(pk, key) for *_, pk, key in rows if pk is not None]
    return ClaimState(current_id, bool(stale), window, done, members, repeat_due)


def _candidates(experiment: Experiment, reviewer):
    """Regular pairs this reviewer has not had that still have a free slot.

    `is_gold=False` matches the pair_queue index (experiment, is_gold, slots_taken,
    shuffle_key), so the queries below walk it instead of sorting the experiment. "Not
    had" is a scalar subquery IS NULL: one index probe per pair the walk reaches. As NOT
    EXISTS, PostgreSQL may plan a hash anti-join that reads the whole history first."""
    had = Assignment.objects.filter(pair=OuterRef("pk"), reviewer=reviewer)
    had = had.order_by().values("pk")[:1]
    return (
        Pair.objects.filter(
            experiment=experiment,
            is_gold=False,
            excluded=False,
            slots_taken__lt=experiment.reviews_per_pair,
        )
        .alias(had=Subquery(had))
        .filter(had__isnull=True)
    )


def _lock_regular_pair(
    experiment: Experiment, reviewer, window: list[tuple[int, int]], wait_for: int | None
):
    """Lock and return the regular pair the rule gives this reviewer now, or None.

    Rows other reviewers are taking right now are passed over (SKIP LOCKED), so this
    never waits, except on the one row `wait_for` (see next_assignment). The lock
    re-checks `slots_taken < reviews_per_pair` on the newest row version."""
    k = experiment.reviews_per_pair
    if wait_for is not None:
        waited = (
            _candidates(experiment, reviewer)
            .filter(pk=wait_for)
            .select_for_update(of=("self",))
            .first()
        )
        if waited is not None:
            return waited
    if not window:
        return None
    # In the reviewer's order, the first pair nobody else is taking right now (usually the
    # first: other reviewers rank the window differently). get(), not first(): no ORDER BY.
    pairs = Pair.objects.select_for_update(skip_locked=True, of=("self",)).only(*CLAIMED_PAIR)
    for pk, _ in sorted(window, key=_by_pick_key(experiment, reviewer)):
        try:
            return pairs.get(pk=pk, slots_taken__lt=k)
        except Pair.DoesNotExist:
            continue  # being taken by somebody else right now, or full meanwhile
    # Every pair of the window is being taken by somebody else: any free candidate.
    level = "-slots_taken" if _level_order(experiment) == "DESC" else "slots_taken"
    return (
        _candidates(experiment, reviewer)
        .order_by(level, "shuffle_key")
        .select_for_update(skip_locked=True, of=("self",))
        .first()
    )


@dataclass(frozen=True)
class _Place:
    """Where the reviewer stands in the queue, read under their row lock."""

    member_id: int | None  # None: not a member (scripts and tests)
    claims: int  # pairs the queue has given them
    originals: int  # of those, regular pairs given for the first time (pace the repeats)


def _lock_reviewer(experiment: Experiment, reviewer) -> _Place:
    """Lock the reviewer's membership until the transaction ends; return their _Place.
    Its own statement: under READ COMMITTED a read of assignments in the locking statement
    would miss the one the request it waited for has just committed. A non-member
    (scripts and tests call this directly) has their user row locked and history counted."""
    # Only the member's row (`of`): a lock on the experiment's row would queue every claim
    # of the experiment behind each other.
    members = Membership.objects.select_for_update(no_key=True, of=("self",))
    members = members.values_list("pk", "claims", "originals")
    try:
        return _Place(*members.get(experiment=experiment, user=reviewer))
    except Membership.DoesNotExist:
        pass  # not a member: the user's row, below
    users = get_user_model().objects.filter(pk=reviewer.pk)
    list(users.select_for_update(no_key=True).values_list("pk", flat=True))
    history = Assignment.objects.filter(experiment=experiment, reviewer=reviewer)
    originals = 0
    if experiment.repeat_rate > 0:
        originals = history.filter(repeat=False, pair__is_gold=False).count()
    return _Place(None, history.count(), originals)


@dataclass(frozen=True)
class Claim:
    """What a claim gives: the assignment to show (None: nothing left, or the quota is
    met) and the counts the reviewer's progress is made of, read in the same statement."""

    assignment: Assignment | None
    done: int
    members: int


def next_assignment(experiment: Experiment, reviewer, now: datetime | None = None):
    """The reviewer's current assignment, or a newly taken one, or None when nothing is left."""
    return claim(experiment, reviewer, now=now).assignment


def claim(
    experiment: Experiment, reviewer, quota: int | None = None, now=None, wait_for=None
) -> Claim:
    """The reviewer's current assignment, or a newly taken one, or none when nothing is
    left for them or their `quota` of submitted pairs (invite links) is met.

    One short transaction: the reviewer's membership row is locked (a double click or two
    tabs queue behind each other and get the same assignment; other reviewers pass
    freely), expired leases are released, and the chosen pair is locked FOR UPDATE SKIP
    LOCKED (concurrent reviewers take different rows instead of queueing on one). Nothing
    left means "nothing left for you", never "somebody holds a lock this instant": when
    every candidate is locked, the transaction ends and a fresh one waits on one of those
    rows (`wait_for`), holding no pair lock of its own (that could deadlock), then looks
    again. On SQLite the transaction takes the database write lock (IMMEDIATE) and simply
    serialises."""
    now = now or timezone.now()
    counts = {"done": 0, "members": 0}
    for _round in range(MAX_ROUNDS):
        try:
            with transaction.atomic():
                place = _lock_reviewer(experiment, reviewer)
                state = _state_at(experiment, reviewer, place, now)
                counts = {"done": state.done, "members": state.members}
                taken = _claim_locked(experiment, reviewer, quota, now, place, state, wait_for)
                if isinstance(taken, Claim):
                    return taken
                wait_for = taken.wait_for
        except IntegrityError:
            return Claim(_current_after_race(experiment, reviewer, now), **counts)
    return Claim(None, **counts)


def claim_as_member(user, now=None, **experiment_lookup) -> tuple[ReviewerMembership, Claim | None]:
    """The review page's claim: the reviewer's membership (access.lock_membership, 404 for
    non-members) and claim_for's claim, None when the experiment is not open.

    The membership read takes the member's row lock that claim takes in a statement of
    its own, so the usual claim is one statement shorter; the rare second round (every
    candidate being taken by somebody else) is claim's own."""
    now = now or timezone.now()
    wait_for = None
    try:
        with transaction.atomic():
            membership = lock_membership(user, **experiment_lookup)
            experiment = membership.experiment
            if not experiment.is_open:
                return membership, None
            place = _Place(membership.member_id, membership.claims, membership.originals)
            state = _state_at(experiment, user, place, now)
            taken = _claim_locked(experiment, user, membership.quota, now, place, state, None)
            if isinstance(taken, Claim):
                return membership, taken
            wait_for = taken.wait_for
    except IntegrityError:
        pass  # see claim: the next round finds the other request's assignment
    return membership, claim(experiment, user, membership.quota, now, wait_for)


@dataclass(frozen=True)
class _Busy:
    """Every candidate is being taken by somebody else right now: wait on this pair."""

    wait_for: int


def _claim_locked(
    experiment: Experiment, reviewer, quota, now, place: _Place, state: ClaimState, wait_for
) -> Claim | _Busy:
    """One round of the claim, inside its transaction, the reviewer's row locked and the
    claim's state read."""
    counts = {"done": state.done, "members": state.members}
    if quota is not None and state.done >= quota:
        return Claim(None, **counts)
    if state.current_id is not None:
        current = Assignment.objects.select_related("pair").get(pk=state.current_id)
        return Claim(current, **counts)
    if state.stale:
        release_stale_leases(experiment, now)
        state = _state_at(experiment, reviewer, place, now)
    if experiment.calibration_pairs:
        calibration = calibration_pair_due(experiment, reviewer)
        if calibration is not None:
            return Claim(_take(experiment, reviewer, calibration, now, place), **counts)
    if state.repeat_due is not None:
        taken = _take_repeat(experiment, reviewer, state.repeat_due, now, place)
        return Claim(taken, **counts)
    pair = _lock_regular_pair(experiment, reviewer, state.window, wait_for)
    if pair is not None:
        # A regular pair is available, so a gold pair may be given instead
        # (the regular pair's lock simply ends with the transaction).
        gold = gold_pair_due(experiment, reviewer, place.claims)
        return Claim(_take(experiment, reviewer, gold or pair, now, place), **counts)
    # Read without locking: is anything left at all, locked or not?
    busy = _candidates(experiment, reviewer).values_list("pk", flat=True).first()
    if busy is not None:
        return _Busy(busy)
    # Nothing else is left for them: a repeat not yet due comes now.
    early = pending_repeat(experiment, reviewer)
    if early is None:
        return Claim(None, **counts)
    return Claim(_take_repeat(experiment, reviewer, early, now, place), **counts)


def _state_at(experiment: Experiment, reviewer, place: _Place, now) -> ClaimState:
    """The claim's read from the reviewer's place in the queue (their claim number n)."""
    start = claim_start(experiment.seed, reviewer.pk, place.claims)
    return _claim_state(experiment, reviewer, start, now, place.claims)


def _current_after_race(experiment: Experiment, reviewer, now):
    """Only reachable if the reviewer row lock was bypassed (SQLite with another
    transaction mode): the other request's assignment is the current one."""
    return (
        live_leases(experiment, now)
        .filter(reviewer=reviewer)
        .select_related("pair")
        .order_by("shown_at")
        .first()
    )


def _count_claim(place: _Place, *, original: bool) -> None:
    """One more pair given to the member (and one more original, for a first regular one)."""
    if place.member_id is not None:
        Membership.objects.filter(pk=place.member_id).update(
            claims=F("claims") + 1, originals=F("originals") + int(original)
        )


def _take(experiment: Experiment, reviewer, pair: Pair, now: datetime, place: _Place):
    """Record the assignment and count its slot (and the claim)."""
    take_slot(pair.pk)
    pair.slots_taken += 1
    original = not pair.is_gold
    _count_claim(place, original=original)
    due = None
    if original and experiment.repeat_rate > 0:
        due = repeat_due_at(experiment, reviewer.pk, place.originals, place.claims)
    return Assignment.objects.create(
        experiment=experiment,
        pair=pair,
        reviewer=reviewer,
        left_is_a=left_is_a_for(experiment.seed, reviewer.pk, pair.external_id),
        status=Assignment.Status.SHOWN,
        shown_at=now,
        repeat_due_at=due,
    )


def _take_repeat(experiment: Experiment, reviewer, original_id: int, now, place: _Place):
    """The repeat of `original_id`, or a gold pair instead when one is due (the repeat
    stays due)."""
    gold = gold_pair_due(experiment, reviewer, place.claims)
    if gold is not None:
        return _take(experiment, reviewer, gold, now, place)
    _count_claim(place, original=False)
    return give_repeat(experiment, reviewer, original_id, now)


# -- skip and quota -----------------------------------------------------------------------


def skip_assignment(assignment: Assignment) -> bool:
    """The reviewer passes on this pair: it frees the slot and is never offered to them again."""
    with transaction.atomic():
        locked = Assignment.objects.select_for_update().get(pk=assignment.pk)
        if locked.status != Assignment.Status.SHOWN:
            return False
        locked.status = Assignment.Status.SKIPPED
        locked.repeat_due_at = None  # a skipped pair does not come back
        locked.save(update_fields=["status", "repeat_due_at"])
        if not locked.repeat:
            free_slot(locked.pair_id)
    return True


def claim_for(membership, now: datetime | None = None) -> Claim:
    """claim for a member (access.ReviewerMembership), within their quota: the one place
    the quota is checked, for the review page and the API alike."""
    return claim(membership.experiment, membership.user, membership.quota, now)
