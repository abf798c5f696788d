"""Choosing the next pair for a reviewer and which output goes on the left.

Rules:
- a pair is reviewed by `reviews_per_pair` distinct reviewers, never twice by one;
- pairs holding the fewest slots come first, then a reproducible random order
  per reviewer: the reviewer starts at a seeded point of the pairs' seeded shuffle
  order and takes, from the next WINDOW pairs, the one with the smallest shuffle key
  XOR a seeded per-reviewer mask (with fewer than WINDOW pairs left, that is exactly
  the XOR order; the window keeps each pick an index walk instead of a full sort);
- left/right is a seeded coin per (reviewer, pair), recorded on the Assignment;
- a shown but unsubmitted assignment holds its slot for a lease; when the lease
  runs out the slot is freed for somebody else.

`Pair.slots_taken` counts the assignments holding a slot (shown with a live lease,
or submitted). It only changes here and in judgments.py, always under the pair's
row lock, so two reviewers can never both take the last slot.
"""

import hashlib
import math
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from .models import Assignment, Experiment, Pair
from .rawsql import columns, instance

MASK_BITS = 56


def seeded_bits(*parts, bits: int = MASK_BITS) -> int:
    digest = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> (64 - bits)


def left_is_a_for(seed: int, reviewer_id: int, external_id: str) -> bool:
    """The side coin: reproducible from the experiment seed, independent per (reviewer, pair)."""
    return seeded_bits(seed, "side", reviewer_id, external_id, bits=1) == 0


def reviewer_mask(seed: int, reviewer_id: int) -> int:
    return seeded_bits(seed, "order", reviewer_id)


def lease_length() -> timedelta:
    return timedelta(minutes=settings.REVIEWAPP_LEASE_MINUTES)


def release_expired_leases(experiment: Experiment, now: datetime | None = None) -> int:
    """Free the slots of assignments shown longer ago than the lease. Returns how many."""
    now = now or timezone.now()
    if not _stale_leases(experiment, now).exists():
        return 0
    return _release(experiment, now)


def _stale_leases(experiment: Experiment, now: datetime):
    return Assignment.objects.filter(
        experiment=experiment, status=Assignment.Status.SHOWN, shown_at__lt=now - lease_length()
    )


def _release(experiment: Experiment, now: datetime) -> int:
    """Its own (sub)transaction. Assignments being submitted right now are locked by
    record_submission and skipped (SKIP LOCKED); pairs are updated in id order, so two
    concurrent releases can never wait on each other in a cycle."""
    with transaction.atomic():
        expired = list(
            _stale_leases(experiment, now)
            .select_for_update(skip_locked=True)
            .values_list("pk", "pair_id")
        )
        if not expired:
            return 0
        Assignment.objects.filter(pk__in=[pk for pk, _ in expired]).update(
            status=Assignment.Status.EXPIRED
        )
        for pair_id, count in sorted(Counter(pair_id for _, pair_id in expired).items()):
            Pair.objects.filter(pk=pair_id).update(slots_taken=F("slots_taken") - count)
    return len(expired)


def current_assignment(
    experiment: Experiment, reviewer, now: datetime | None = None
) -> Assignment | None:
    """The pair this reviewer was shown and has not answered yet, if its lease is live."""
    current_id, _stale = _current_and_stale(experiment, reviewer, now or timezone.now())
    if current_id is None:
        return None
    return Assignment.objects.select_related("pair").get(pk=current_id)


def _current_and_stale(experiment: Experiment, reviewer, now: datetime) -> tuple[int | None, bool]:
    """In one round trip: the id of the reviewer's live shown assignment (the oldest, if
    any), and whether any lease in the experiment has run out."""
    cutoff = connection.ops.adapt_datetimefield_value(now - lease_length())
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT
                (SELECT a.id FROM reviewapp_assignment a
                 WHERE a.experiment_id = %(experiment)s AND a.reviewer_id = %(reviewer)s
                   AND a.status = 'shown' AND a.shown_at >= %(cutoff)s
                 ORDER BY a.shown_at LIMIT 1),
                EXISTS (SELECT 1 FROM reviewapp_assignment s
                 WHERE s.experiment_id = %(experiment)s AND s.status = 'shown'
                   AND s.shown_at < %(cutoff)s)
            """,
            {"experiment": experiment.pk, "reviewer": reviewer.pk, "cutoff": cutoff},
        )
        current_id, stale = cursor.fetchone()
    return current_id, bool(stale)


# How many pairs of the lowest level, read in index order from the reviewer's starting
# point, the next pair is drawn from. Bigger mixes more; each costs an index entry.
WINDOW = 50


def _xor_key(mask: int):
    # XOR written with | and & so SQLite and PostgreSQL both accept it.
    return F("shuffle_key").bitor(mask) - F("shuffle_key").bitand(mask)


def _candidates(experiment: Experiment, reviewer):
    """Regular pairs this reviewer has not had that still have a free slot.

    Gold pairs (attention checks) are not in this queue: they are not limited to
    reviews_per_pair. `is_gold=False` also matches the leading columns of the
    pair_queue index (experiment, is_gold, slots_taken, shuffle_key), which is what
    lets every query below walk the index instead of sorting the experiment."""
    # NOT IN: PostgreSQL runs it as one hashed subplan over the reviewer's own
    # assignments (an index range), whatever the table statistics say. These queries are
    # the rare fallbacks that may read every candidate anyway; the usual claim
    # (CLAIM_NEXT_PAIR_SQL) stops after a few pairs and probes those one by one instead.
    # An ORM NOT EXISTS became a nested loop that scanned the assignment table once per
    # pair whenever the statistics were stale (a fresh experiment, or inside a test).
    already_seen = Assignment.objects.filter(experiment=experiment, reviewer=reviewer).values(
        "pair_id"
    )
    return Pair.objects.filter(
        experiment=experiment, is_gold=False, slots_taken__lt=experiment.reviews_per_pair
    ).exclude(pk__in=already_seen)


# The next pair claimed in one statement (one round trip instead of five): the lowest
# slot level among the reviewer's candidates, WINDOW pairs of that level in index order
# from the reviewer's starting point for the level (wrapping around at the end), and of
# those the free one with the smallest shuffle key XOR the reviewer's mask, locked, its
# slot counted, its row returned. The CASE maps each level to the reviewer's seeded
# starting point for it. Every part walks the pair_queue index and stops early, so the
# cost does not grow with the number of pairs (sorting every candidate by the reviewer's
# key took ~6 ms at 10k pairs, ~30 ms at 100k); only the winner's wide row is read.
# "Not seen by this reviewer" is asked per pair the walk reaches (NOT {seen}: one probe
# of the assignments' pair_id index), so the cost does not grow with the reviewer's
# history either. Collecting the reviewer's assignments first (NOT IN, one hashed
# subplan) read all of them on every claim: 43 ms per claim for a reviewer with 50,000
# judgments. On PostgreSQL the probe carries OFFSET 0, which keeps the planner from
# turning it into an anti-join, or a hashed subplan, that reads all those assignments
# again.
SEEN_SQL = (
    "EXISTS (SELECT 1 FROM reviewapp_assignment s"
    " WHERE s.pair_id = p.id AND s.reviewer_id = %(reviewer)s{fence})"
)


CLAIM_NEXT_PAIR_SQL = """
WITH lowest AS (
    SELECT p.slots_taken AS level FROM reviewapp_pair p
    WHERE p.experiment_id = %(experiment)s AND NOT p.is_gold AND p.slots_taken < %(k)s
      AND NOT {seen}
    ORDER BY p.slots_taken LIMIT 1
), origin AS (
    SELECT level, CASE level {starts} END AS key FROM lowest
), nearby AS (
    SELECT id FROM (
        SELECT 0 AS part, id, shuffle_key FROM (
            SELECT p.id, p.shuffle_key FROM reviewapp_pair p
            WHERE p.experiment_id = %(experiment)s AND NOT p.is_gold
              AND p.slots_taken = (SELECT level FROM origin)
              AND p.shuffle_key >= (SELECT key FROM origin)
              AND NOT {seen}
            ORDER BY p.shuffle_key LIMIT %(window)s
        ) AS from_origin
        UNION ALL
        SELECT 1 AS part, id, shuffle_key FROM (
            SELECT p.id, p.shuffle_key FROM reviewapp_pair p
            WHERE p.experiment_id = %(experiment)s AND NOT p.is_gold
              AND p.slots_taken = (SELECT level FROM origin)
              AND p.shuffle_key < (SELECT key FROM origin)
              AND NOT {seen}
            ORDER BY p.shuffle_key LIMIT %(window)s
        ) AS wrapped
    ) AS both_parts
    ORDER BY part, shuffle_key LIMIT %(window)s
), chosen AS (
    SELECT p.id FROM reviewapp_pair p
    WHERE p.id IN (SELECT id FROM nearby) AND p.slots_taken < %(k)s
    ORDER BY (p.shuffle_key | %(mask)s) - (p.shuffle_key & %(mask)s), p.id
    LIMIT 1 {lock}
)
UPDATE reviewapp_pair SET slots_taken = slots_taken + 1
WHERE id = (SELECT id FROM chosen)
RETURNING {columns}
"""


def _lock_clause(postgres_clause: str) -> str:
    """Row locks exist on PostgreSQL; on SQLite the transaction holds the write lock."""
    return postgres_clause if connection.features.has_select_for_update else ""


def _seen_sql() -> str:
    # SQLite has no OFFSET without LIMIT, and no planner to fence off.
    return SEEN_SQL.format(fence=" OFFSET 0" if connection.vendor == "postgresql" else "")


def _claim_window_pair(experiment: Experiment, reviewer) -> Pair | None:
    """Lock, count a slot of and return the pair from the reviewer's window
    (CLAIM_NEXT_PAIR_SQL), or None when the window is empty or every pair in it is being
    taken by somebody else."""
    k = experiment.reviews_per_pair
    starts = " ".join(f"WHEN {level} THEN %(start{level})s" for level in range(k))
    params = {
        "experiment": experiment.pk,
        "reviewer": reviewer.pk,
        "k": k,
        "window": WINDOW,
        "mask": reviewer_mask(experiment.seed, reviewer.pk),
    }
    params |= {
        f"start{level}": seeded_bits(experiment.seed, "start", reviewer.pk, level)
        for level in range(k)
    }
    sql = CLAIM_NEXT_PAIR_SQL.format(
        starts=starts,
        seen=_seen_sql(),
        columns=columns(Pair, ""),
        lock=_lock_clause("FOR UPDATE OF p SKIP LOCKED"),
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return None if row is None else instance(Pair, row)


def _lock_next_pair(
    experiment: Experiment, reviewer, wait_for: int | None
) -> tuple[Pair | None, bool]:
    """Lock and return the pair to give this reviewer, or None; and whether its slot has
    been counted already (the usual way, CLAIM_NEXT_PAIR_SQL, does both at once).

    Fewest slots taken first; within that level, the pair with the smallest
    (shuffle_key XOR reviewer mask) in the reviewer's window. Rows other reviewers are
    taking right now are passed over (SKIP LOCKED), so this never waits, except on the
    one row `wait_for` (see next_assignment). A row lock re-checks
    `slots_taken < reviews_per_pair` on the newest row version.
    """
    if wait_for is not None:
        waited = (
            _candidates(experiment, reviewer)
            .filter(pk=wait_for)
            .select_for_update(of=("self",))
            .first()
        )
        if waited is not None:
            return waited, False
    claimed = _claim_window_pair(experiment, reviewer)
    if claimed is not None:
        return claimed, True
    # The whole window is being taken by others (or empty): the exact order over every
    # candidate.
    pair = (
        _candidates(experiment, reviewer)
        .annotate(order_key=_xor_key(reviewer_mask(experiment.seed, reviewer.pk)))
        .order_by("slots_taken", "order_key", "pk")
        .select_for_update(skip_locked=True, of=("self",))
        .first()
    )
    return pair, False


# Rounds of "everything left is locked by others: wait for one of them, then look again".
# Each round waits for another reviewer's short transaction to commit, so this is only
# reached near the very end of an experiment.
MAX_ROUNDS = 50


def _lock_reviewer(reviewer) -> None:
    """Lock the reviewer's user row (FOR NO KEY UPDATE) until the transaction ends. Its
    own statement: under READ COMMITTED a statement's snapshot is taken when it starts,
    so a read in the locking statement itself would miss the assignment that the request
    it waited for has just committed."""
    if not connection.features.has_select_for_update:
        return
    user_table = connection.ops.quote_name(get_user_model()._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM {user_table} WHERE id = %s FOR NO KEY UPDATE", [reviewer.pk])


def next_assignment(experiment: Experiment, reviewer, now: datetime | None = None):
    """The reviewer's current assignment, or a newly taken one, or None when nothing is left.

    Taking the pair is one short transaction:
    - the reviewer's own user row is locked (FOR NO KEY UPDATE), so a double click or two
      tabs of one reviewer queue behind each other and get the same assignment, while
      other reviewers pass freely;
    - expired leases anywhere in the experiment are released first (a subtransaction,
      only when there are any);
    - the candidate pair is locked with FOR UPDATE SKIP LOCKED, so concurrent reviewers
      each take a different row instead of queueing on the same one;
    - the unique (pair, reviewer) constraint and the slot count re-checked under the
      pair's lock keep the rules even so.
    None must mean "nothing left for you", never "somebody holds a lock this instant" (a
    pair being taken may still have a free slot). So when every candidate is locked, the
    transaction ends and a fresh one waits on one of those rows, holding no pair lock of
    its own while it waits (waiting while holding one could deadlock with a reviewer
    doing the same), then looks again.
    On SQLite select_for_update is a no-op: the transaction takes the database write lock
    (transaction_mode IMMEDIATE) and simply serialises.
    """
    now = now or timezone.now()
    wait_for = None
    for _round in range(MAX_ROUNDS):
        try:
            with transaction.atomic():
                _lock_reviewer(reviewer)
                current_id, stale = _current_and_stale(experiment, reviewer, now)
                if current_id is not None:
                    return Assignment.objects.select_related("pair").get(pk=current_id)
                if stale:
                    _release(experiment, now)
                pair, counted = _lock_next_pair(experiment, reviewer, wait_for)
                if pair is not None:
                    gold = _gold_pair_due(experiment, reviewer)
                    if gold is None:
                        return _take(experiment, reviewer, pair, now, counted=counted)
                    if counted:  # the regular pair's slot goes back; its lock ends with us
                        Pair.objects.filter(pk=pair.pk).update(slots_taken=F("slots_taken") - 1)
                    return _take(experiment, reviewer, gold, now, counted=False)
                # Read without locking: is anything left at all, locked or not?
                wait_for = _candidates(experiment, reviewer).values_list("pk", flat=True).first()
                if wait_for is None:
                    return None
        except IntegrityError:
            # Only reachable if the reviewer row lock was bypassed (SQLite with another
            # transaction mode): the other request's assignment is the current one.
            return current_assignment(experiment, reviewer, now)
    return None


# The experiment's gold pairs in the reviewer's order, each with whether the reviewer has
# had it (SEEN_SQL, probed per gold pair).
GOLD_PAIRS_SQL = """
SELECT p.id, {seen} FROM reviewapp_pair p
WHERE p.experiment_id = %(experiment)s AND p.is_gold
ORDER BY (p.shuffle_key | %(mask)s) - (p.shuffle_key & %(mask)s), p.id
"""


def _gold_pair_due(experiment: Experiment, reviewer) -> Pair | None:
    """A gold pair (attention check) when this reviewer's gold share is due, else None.

    After n pairs a reviewer has had floor(gold_rate * n + u) gold pairs, u a seeded
    per-reviewer offset in [0, 1): gold pairs arrive at the set rate but not at the same
    positions for everyone, and never first for everybody. Gold pairs are mixed in only
    while regular pairs remain (the caller holds one), so the queue never ends in gold.
    They look exactly like other pairs and have no slot limit: every reviewer may get them.
    """
    if experiment.gold_rate <= 0 or experiment.gold_pair_count == 0:
        return None
    # Each gold pair asks "seen by this reviewer?" of the assignments' pair index: a
    # handful of probes, where excluding or joining the reviewer's whole history took
    # 100 ms per claim for a reviewer with 50,000 judgments.
    with connection.cursor() as cursor:
        cursor.execute(
            GOLD_PAIRS_SQL.format(seen=_seen_sql()),
            {
                "experiment": experiment.pk,
                "reviewer": reviewer.pk,
                "mask": reviewer_mask(experiment.seed, reviewer.pk),
            },
        )
        gold = cursor.fetchall()
    unseen = [pk for pk, seen in gold if not seen]  # SQLite answers 0/1
    if not unseen:  # no gold pairs, or this reviewer has had them all
        return None
    gold_seen = len(gold) - len(unseen)  # one assignment per pair and reviewer
    seen = Assignment.objects.filter(experiment=experiment, reviewer=reviewer).count()
    offset = seeded_bits(experiment.seed, "gold", reviewer.pk) / 2**MASK_BITS
    due = math.floor(experiment.gold_rate * (seen + 1) + offset)
    return Pair.objects.get(pk=unseen[0]) if gold_seen < due else None


def _take(
    experiment: Experiment, reviewer, pair: Pair, now: datetime, *, counted: bool
) -> Assignment:
    """Record the assignment and count its slot unless `counted` already (plain
    statements: this runs on every new pair a reviewer sees)."""
    left_is_a = left_is_a_for(experiment.seed, reviewer.pk, pair.external_id)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO reviewapp_assignment"
            " (experiment_id, pair_id, reviewer_id, left_is_a, status, shown_at, rationale)"
            " VALUES (%s, %s, %s, %s, %s, %s, '') RETURNING id",
            [
                experiment.pk,
                pair.pk,
                reviewer.pk,
                left_is_a,
                Assignment.Status.SHOWN,
                connection.ops.adapt_datetimefield_value(now),
            ],
        )
        (assignment_id,) = cursor.fetchone()
        if not counted:
            cursor.execute(
                "UPDATE reviewapp_pair SET slots_taken = slots_taken + 1 WHERE id = %s", [pair.pk]
            )
            pair.slots_taken += 1
    return Assignment(
        id=assignment_id,
        experiment=experiment,
        pair=pair,
        reviewer=reviewer,
        left_is_a=left_is_a,
        status=Assignment.Status.SHOWN,
        shown_at=now,
    )


@dataclass(frozen=True)
class Progress:
    done: int
    share: int
    remaining_for_reviewer: int | None

    @property
    def percent(self) -> int:
        if self.share == 0:
            return 100
        return min(100, round(100 * self.done / self.share))


def reviewer_progress(
    experiment: Experiment, reviewer, *, count_remaining: bool = True
) -> Progress:
    """Done pairs against this reviewer's share of the work (see progress_from_counts).

    Counting the pairs still open to the reviewer reads every pair of the experiment;
    the review screen, which does not show it, skips it (`remaining_for_reviewer` is
    then None)."""
    remaining = None
    if count_remaining:
        seen = Assignment.objects.filter(experiment=experiment, reviewer=reviewer).values("pair_id")
        remaining = (
            Pair.objects.filter(
                experiment=experiment, is_gold=False, slots_taken__lt=experiment.reviews_per_pair
            )
            .exclude(pk__in=seen)
            .count()
        )
    done = Assignment.objects.filter(
        experiment=experiment, reviewer=reviewer, status=Assignment.Status.SUBMITTED
    ).count()
    return progress_from_counts(experiment, done, experiment.reviewers.count(), remaining)


def progress_from_counts(
    experiment: Experiment, done: int, n_reviewers: int, remaining: int | None = None
) -> Progress:
    """The share splits pairs x reviews_per_pair evenly over the invited reviewers, but
    one reviewer can never do more than every pair once."""
    n_pairs = experiment.pair_count
    n_reviewers = max(n_reviewers, experiment.reviews_per_pair, 1)
    share = min(n_pairs, -(-n_pairs * experiment.reviews_per_pair // n_reviewers))
    return Progress(done=done, share=max(share, done), remaining_for_reviewer=remaining)


def skip_assignment(assignment: Assignment) -> bool:
    """The reviewer passes on this pair: it frees the slot and is never offered to them again."""
    with transaction.atomic():
        locked = Assignment.objects.select_for_update().get(pk=assignment.pk)
        if locked.status != Assignment.Status.SHOWN:
            return False
        locked.status = Assignment.Status.SKIPPED
        locked.save(update_fields=["status"])
        Pair.objects.filter(pk=locked.pair_id).update(slots_taken=F("slots_taken") - 1)
    return True


def next_assignment_within_quota(membership, now: datetime | None = None):
    """next_assignment for a member, or None once their quota (invite links) is met.

    The one place the quota is checked, for the review page and the API alike."""
    if membership.quota is not None:
        done = Assignment.objects.filter(
            experiment_id=membership.experiment_id,
            reviewer_id=membership.user_id,
            status=Assignment.Status.SUBMITTED,
        ).count()
        if done >= membership.quota:
            return None
    return next_assignment(membership.experiment, membership.user, now)


def take_slot(pair_id: int, n: int = 1) -> None:
    """One of the pair's reviews_per_pair slots is held (shown with a live lease, or submitted)."""
    Pair.objects.filter(pk=pair_id).update(slots_taken=F("slots_taken") + n)


def free_slot(pair_id: int, n: int = 1) -> None:
    """A held slot goes back to the pool (skip, expired lease, removed reviewer)."""
    Pair.objects.filter(pk=pair_id).update(slots_taken=F("slots_taken") - n)
