"""Slots and leases: how many reviews of a pair are spoken for, and for how long an
unanswered one holds its slot (the rule itself is stated in assignment.py).

`Pair.slots_taken` counts the assignments holding a slot (not repeats; shown with a live
lease, or submitted). Every stage (claim, submit after an expired lease, skip, lease
release, removing a reviewer) changes it through take_slot / free_slot only.
"""

from collections import Counter
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from .models import Assignment, Experiment, Pair

# -- slots --------------------------------------------------------------------------------


def take_slot(pair_id: int, n: int = 1) -> None:
    """Count n more assignments holding a slot of the pair. Call under the pair's row lock."""
    Pair.objects.filter(pk=pair_id).update(slots_taken=F("slots_taken") + n)


def free_slot(pair_id: int, n: int = 1) -> None:
    """Count n fewer assignments holding a slot of the pair (the update takes its lock)."""
    Pair.objects.filter(pk=pair_id).update(slots_taken=F("slots_taken") - n)


# -- leases -------------------------------------------------------------------------------


def lease_length() -> timedelta:
    return timedelta(minutes=settings.REVIEWAPP_LEASE_MINUTES)


def release_expired_leases(experiment: Experiment, now: datetime | None = None) -> int:
    """Free the slots of assignments shown longer ago than the lease. Returns how many."""
    now = now or timezone.now()
    if not _stale_leases(experiment, now).exists():
        return 0
    return release_stale_leases(experiment, now)


def _stale_leases(experiment: Experiment, now: datetime):
    return Assignment.objects.filter(
        experiment=experiment, status=Assignment.Status.SHOWN, shown_at__lt=now - lease_length()
    )


def live_leases(experiment: Experiment, now: datetime):
    return Assignment.objects.filter(
        experiment=experiment, status=Assignment.Status.SHOWN, shown_at__gte=now - lease_length()
    )


def release_stale_leases(experiment: Experiment, now: datetime) -> int:
    """Its own (sub)transaction. Assignments being submitted right now are locked by
    record_submission and skipped (SKIP LOCKED); pairs are updated in id order, so two
    concurrent releases can never wait on each other in a cycle."""
    with transaction.atomic():
        expired = list(
            _stale_leases(experiment, now)
            .select_for_update(skip_locked=True)
            .values_list("pk", "pair_id", "repeat")
        )
        if not expired:
            return 0
        # An unanswered original will not come back: its repeat is no longer due.
        Assignment.objects.filter(pk__in=[pk for pk, _, _ in expired]).update(
            status=Assignment.Status.EXPIRED, repeat_due_at=None
        )
        holding = Counter(pair_id for _, pair_id, repeat in expired if not repeat)
        for pair_id, count in sorted(holding.items()):
            free_slot(pair_id, count)
    return len(expired)
