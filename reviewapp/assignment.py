"""Choosing the next pair for a reviewer and which output goes on the left.

Rules:
- a pair is reviewed by `reviews_per_pair` distinct reviewers, never twice by one;
- pairs holding the fewest slots come first, then a reproducible random order
  per reviewer (the pair's seeded shuffle key XOR a seeded per-reviewer mask);
- left/right is a seeded coin per (reviewer, pair), recorded on the Assignment;
- a shown but unsubmitted assignment holds its slot for a lease; when the lease
  runs out the slot is freed for somebody else.

`Pair.slots_taken` counts the assignments holding a slot (shown with a live lease,
or submitted). It only changes here and in judgments.py, always under the pair's
row lock, so two reviewers can never both take the last slot.
"""

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef
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
    """Free the slots of assignments shown longer ago than the lease. Returns how many."""
    now = now or timezone.now()
    released = 0
    with transaction.atomic():
        expired = list(
            Assignment.objects.select_for_update(skip_locked=True)
            .filter(
                experiment=experiment,
                status=Assignment.Status.SHOWN,
                shown_at__lt=now - lease_length(),
            )
            .values_list("pk", "pair_id")
        )
        for assignment_id, pair_id in expired:
            Assignment.objects.filter(pk=assignment_id).update(status=Assignment.Status.EXPIRED)
            Pair.objects.filter(pk=pair_id).update(slots_taken=F("slots_taken") - 1)
            released += 1
    return released


def current_assignment(experiment: Experiment, reviewer) -> Assignment | None:
    """The pair this reviewer was shown and has not answered yet, if its lease is live."""
    return (
        Assignment.objects.select_related("pair")
        .filter(
            experiment=experiment,
            reviewer=reviewer,
            status=Assignment.Status.SHOWN,
            shown_at__gte=timezone.now() - lease_length(),
        )
        .order_by("shown_at")
        .first()
    )


def next_assignment(experiment: Experiment, reviewer, now: datetime | None = None):
    """The reviewer's current assignment, or a newly taken one, or None when nothing is left.

    One short transaction. On PostgreSQL the candidate pair is locked with
    FOR UPDATE SKIP LOCKED, so concurrent reviewers each take a different row
    instead of queueing on the same one; the unique (pair, reviewer) constraint
    and the slot count re-checked under the lock keep the rules even so.
    On SQLite the transaction takes the database write lock and simply serialises.
    """
    now = now or timezone.now()
    release_expired_leases(experiment, now)
    existing = current_assignment(experiment, reviewer)
    if existing is not None:
        return existing
    mask = reviewer_mask(experiment.seed, reviewer.pk)
    already_seen = Assignment.objects.filter(pair=OuterRef("pk"), reviewer=reviewer)
    candidates = (
        Pair.objects.filter(experiment=experiment, slots_taken__lt=experiment.reviews_per_pair)
        .filter(~Exists(already_seen))
        # XOR written with | and & so SQLite and PostgreSQL both accept it.
        .annotate(order_key=F("shuffle_key").bitor(mask) - F("shuffle_key").bitand(mask))
        .order_by("slots_taken", "order_key")
    )
    for _attempt in range(3):
        try:
            with transaction.atomic():
                # Lock and sort on narrow rows; the texts are read once the pair is chosen.
                pair_id = (
                    candidates.select_for_update(skip_locked=True, of=("self",))
                    .values_list("pk", flat=True)
                    .first()
                )
                if pair_id is None:
                    return None
                pair = Pair.objects.get(pk=pair_id)
                assignment = Assignment.objects.create(
                    experiment=experiment,
                    pair=pair,
                    reviewer=reviewer,
                    left_is_a=left_is_a_for(experiment.seed, reviewer.pk, pair.external_id),
                    shown_at=now,
                )
                Pair.objects.filter(pk=pair.pk).update(slots_taken=F("slots_taken") + 1)
        except IntegrityError:
            # The same reviewer asked twice at once and the other request took this
            # pair first: that request's assignment is the current one now.
            existing = current_assignment(experiment, reviewer)
            if existing is not None:
                return existing
            continue
        assignment.pair = pair
        return assignment
    return current_assignment(experiment, reviewer)


@dataclass(frozen=True)
class Progress:
    done: int
    share: int
    remaining_for_reviewer: int

    @property
    def percent(self) -> int:
        if self.share == 0:
            return 100
        return min(100, round(100 * self.done / self.share))


def reviewer_progress(experiment: Experiment, reviewer) -> Progress:
    """Done pairs against this reviewer's share of the work.

    The share splits pairs x reviews_per_pair evenly over the invited reviewers,
    but one reviewer can never do more than every pair once."""
    n_pairs = experiment.pairs.count()
    n_reviewers = max(experiment.reviewers.count(), experiment.reviews_per_pair, 1)
    share = min(n_pairs, -(-n_pairs * experiment.reviews_per_pair // n_reviewers))
    done = Assignment.objects.filter(
        experiment=experiment, reviewer=reviewer, status=Assignment.Status.SUBMITTED
    ).count()
    already_seen = Assignment.objects.filter(pair=OuterRef("pk"), reviewer=reviewer)
    remaining = (
        Pair.objects.filter(experiment=experiment, slots_taken__lt=experiment.reviews_per_pair)
        .filter(~Exists(already_seen))
        .count()
    )
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
