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
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from .models import Assignment, Experiment, Pair

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
    """Free the slots of assignments shown longer ago than the lease. Returns how many.

    Its own short transaction. Assignments being submitted right now are locked by
    record_submission and skipped (SKIP LOCKED); pairs are updated in id order, so two
    concurrent releases can never wait on each other in a cycle.
    """
    now = now or timezone.now()
    stale = Assignment.objects.filter(
        experiment=experiment, status=Assignment.Status.SHOWN, shown_at__lt=now - lease_length()
    )
    # Called on every next_assignment: one indexed read when nothing has expired (the
    # usual case) instead of a transaction of three round trips.
    if not stale.exists():
        return 0
    with transaction.atomic():
        expired = list(stale.select_for_update(skip_locked=True).values_list("pk", "pair_id"))
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
    now = now or timezone.now()
    return (
        Assignment.objects.select_related("pair")
        .filter(
            experiment=experiment,
            reviewer=reviewer,
            status=Assignment.Status.SHOWN,
            shown_at__gte=now - lease_length(),
        )
        .order_by("shown_at")
        .first()
    )


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
    # NOT IN, not NOT EXISTS: PostgreSQL runs it as one hashed subplan over the
    # reviewer's own assignments (an index range), whatever the table statistics say.
    # NOT EXISTS became a nested loop that scanned the assignment table once per pair
    # whenever the statistics were stale (a fresh experiment, or inside a test).
    already_seen = Assignment.objects.filter(experiment=experiment, reviewer=reviewer).values(
        "pair_id"
    )
    return Pair.objects.filter(
        experiment=experiment, is_gold=False, slots_taken__lt=experiment.reviews_per_pair
    ).exclude(pk__in=already_seen)


def _window(experiment: Experiment, reviewer) -> list[int]:
    """Up to WINDOW candidate pair ids at the lowest slot level, in index order from a
    reproducible per-(reviewer, level) starting point, wrapping around at the end.

    Every query here walks the (experiment, slots_taken, shuffle_key) index and stops
    early, so the cost does not grow with the number of pairs (sorting every candidate
    by the reviewer's key took ~6 ms at 10k pairs and ~30 ms at 100k)."""
    candidates = _candidates(experiment, reviewer)
    level = candidates.order_by("slots_taken").values_list("slots_taken", flat=True).first()
    if level is None:
        return []
    start = seeded_bits(experiment.seed, "start", reviewer.pk, level)
    at_level = candidates.filter(slots_taken=level).order_by("shuffle_key")
    ids = list(at_level.filter(shuffle_key__gte=start).values_list("pk", flat=True)[:WINDOW])
    if len(ids) < WINDOW:
        ids += at_level.filter(shuffle_key__lt=start).values_list("pk", flat=True)[
            : WINDOW - len(ids)
        ]
    return ids


def _lock_next_pair(experiment: Experiment, reviewer, wait_for: int | None) -> Pair | None:
    """Lock and return the pair to give this reviewer, or None.

    Fewest slots taken first; within that level, the pair with the smallest
    (shuffle_key XOR reviewer mask) in the reviewer's window. Rows other reviewers are
    taking right now are passed over (SKIP LOCKED), so this never waits, except on the
    one row `wait_for` (see next_assignment). A row lock re-checks
    `slots_taken < reviews_per_pair` on the newest row version.
    """
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
    mask = reviewer_mask(experiment.seed, reviewer.pk)
    window = _window(experiment, reviewer)
    if not window:
        return None
    locked = (
        Pair.objects.filter(pk__in=window, slots_taken__lt=k)
        .annotate(order_key=_xor_key(mask))
        .order_by("order_key", "pk")
        .select_for_update(skip_locked=True, of=("self",))
        .first()
    )
    if locked is not None:
        return locked
    # The whole window is being taken by others: the exact order over every candidate.
    return (
        _candidates(experiment, reviewer)
        .annotate(order_key=_xor_key(mask))
        .order_by("slots_taken", "order_key", "pk")
        .select_for_update(skip_locked=True, of=("self",))
        .first()
    )


# Rounds of "everything left is locked by others: wait for one of them, then look again".
# Each round waits for another reviewer's short transaction to commit, so this is only
# reached near the very end of an experiment.
MAX_ROUNDS = 50


def next_assignment(experiment: Experiment, reviewer, now: datetime | None = None):
    """The reviewer's current assignment, or a newly taken one, or None when nothing is left.

    Expired leases are released first (a separate short transaction); then taking the
    pair is one short transaction:
    - the reviewer's own user row is locked (FOR NO KEY UPDATE), so a double click or two
      tabs of one reviewer queue behind each other and get the same assignment, while
      other reviewers pass freely;
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
    release_expired_leases(experiment, now)
    wait_for = None
    for _round in range(MAX_ROUNDS):
        try:
            with transaction.atomic():
                list(
                    get_user_model()
                    .objects.select_for_update(no_key=True)
                    .filter(pk=reviewer.pk)
                    .values_list("pk", flat=True)
                )
                existing = current_assignment(experiment, reviewer, now)
                if existing is not None:
                    return existing
                pair = _lock_next_pair(experiment, reviewer, wait_for)
                if pair is not None:
                    gold = _gold_pair_due(experiment, reviewer)
                    return _take(experiment, reviewer, gold or pair, now)
                # Read without locking: is anything left at all, locked or not?
                wait_for = _candidates(experiment, reviewer).values_list("pk", flat=True).first()
                if wait_for is None:
                    return None
        except IntegrityError:
            # Only reachable if the reviewer row lock was bypassed (SQLite with another
            # transaction mode): the other request's assignment is the current one.
            return current_assignment(experiment, reviewer, now)
    return None


def _gold_pair_due(experiment: Experiment, reviewer) -> Pair | None:
    """A gold pair (attention check) when this reviewer's gold share is due, else None.

    After n pairs a reviewer has had floor(gold_rate * n + u) gold pairs, u a seeded
    per-reviewer offset in [0, 1): gold pairs arrive at the set rate but not at the same
    positions for everyone, and never first for everybody. Gold pairs are mixed in only
    while regular pairs remain (the caller holds one), so the queue never ends in gold.
    They look exactly like other pairs and have no slot limit: every reviewer may get them.
    """
    if experiment.gold_rate <= 0:
        return None
    assignments = Assignment.objects.filter(experiment=experiment, reviewer=reviewer)
    candidate = (
        Pair.objects.filter(experiment=experiment, is_gold=True)
        .exclude(pk__in=assignments.values("pair_id"))
        .annotate(order_key=_xor_key(reviewer_mask(experiment.seed, reviewer.pk)))
        .order_by("order_key")
        .first()
    )
    if candidate is None:  # no gold pairs, or this reviewer has had them all
        return None
    counts = assignments.aggregate(
        seen=Count("pk"), gold_seen=Count("pk", filter=Q(pair__is_gold=True))
    )
    offset = seeded_bits(experiment.seed, "gold", reviewer.pk) / 2**MASK_BITS
    due = math.floor(experiment.gold_rate * (counts["seen"] + 1) + offset)
    return candidate if counts["gold_seen"] < due else None


def _take(experiment: Experiment, reviewer, pair: Pair, now: datetime) -> Assignment:
    assignment = Assignment.objects.create(
        experiment=experiment,
        pair=pair,
        reviewer=reviewer,
        left_is_a=left_is_a_for(experiment.seed, reviewer.pk, pair.external_id),
        shown_at=now,
    )
    Pair.objects.filter(pk=pair.pk).update(slots_taken=F("slots_taken") + 1)
    return assignment


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
    """Done pairs against this reviewer's share of the work.

    The share splits pairs x reviews_per_pair evenly over the invited reviewers,
    but one reviewer can never do more than every pair once. Counting the pairs still
    open to the reviewer reads every pair of the experiment; the review screen, which
    does not show it, skips it (`remaining_for_reviewer` is then None)."""
    if count_remaining:
        # Both pair counts in one pass over the experiment's pairs.
        seen = Assignment.objects.filter(experiment=experiment, reviewer=reviewer).values("pair_id")
        counts = Pair.objects.filter(experiment=experiment, is_gold=False).aggregate(
            total=Count("pk"),
            remaining=Count(
                "pk", filter=Q(slots_taken__lt=experiment.reviews_per_pair) & ~Q(pk__in=seen)
            ),
        )
    else:
        counts = {
            "total": Pair.objects.filter(experiment=experiment, is_gold=False).count(),
            "remaining": None,
        }
    n_pairs = counts["total"]
    n_reviewers = max(experiment.reviewers.count(), experiment.reviews_per_pair, 1)
    share = min(n_pairs, -(-n_pairs * experiment.reviews_per_pair // n_reviewers))
    done = Assignment.objects.filter(
        experiment=experiment, reviewer=reviewer, status=Assignment.Status.SUBMITTED
    ).count()
    return Progress(done=done, share=max(share, done), remaining_for_reviewer=counts["remaining"])


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
