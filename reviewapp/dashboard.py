"""The reviewers of an experiment as its owner follows them: progress, last activity, time
per pair and the quality figures of the results; removing a reviewer.

Quality figures (median seconds, flags, gold accuracy, agreement with the majority) are the
results' own (compute_results' `reviewers`), so the dashboard and the results never differ.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Count, Max, Q
from django.utils import timezone

from .models import Assignment, Experiment, Membership
from .progress import Progress, progress_for
from .results import compute_results
from .slots import free_slot


@dataclass(frozen=True)
class ReviewerRow:
    membership_id: int
    username: str
    kind: str
    excluded: bool
    removed: bool
    done: int
    shown: int  # live or stale leases: pairs on their screen, not answered
    last_activity: datetime | None
    median_seconds: float | None
    gold_accuracy: float | None
    majority_agreement: float | None
    # Pairs of the first dimension where at least two others judged and most agreed: none
    # while reviewers share no pair (fewest-reviewed-first hands everyone different pairs).
    majority_items: int
    flags: list
    progress: Progress  # progress.progress_for, from the counts read here


def reviewer_rows(experiment: Experiment) -> list[ReviewerRow]:
    activity = {
        row["reviewer_id"]: row
        for row in Assignment.objects.filter(experiment=experiment)
        .values("reviewer_id")
        .annotate(
            done=Count("pk", filter=Q(status=Assignment.Status.SUBMITTED)),
            shown=Count("pk", filter=Q(status=Assignment.Status.SHOWN)),
            last_shown=Max("shown_at"),
            last_submitted=Max("submitted_at"),
        )
    }
    quality = {
        r["reviewer"]: r
        for r in compute_results(experiment, n_resamples=0, include_automatic=True)["reviewers"]
    }
    rows = []
    memberships = list(experiment.memberships.select_related("user").order_by("user__username"))
    for membership in memberships:
        figures = activity.get(membership.user_id, {})
        name = membership.user.get_username()
        q = quality.get(name, {})
        last = [t for t in (figures.get("last_shown"), figures.get("last_submitted")) if t]
        rows.append(
            ReviewerRow(
                membership_id=membership.pk,
                username=name,
                kind=membership.kind,
                excluded=membership.excluded,
                removed=membership.removed_at is not None,
                done=figures.get("done", 0),
                shown=figures.get("shown", 0),
                last_activity=max(last) if last else None,
                median_seconds=q.get("median_seconds"),
                gold_accuracy=q.get("gold_accuracy"),
                majority_agreement=q.get("majority_agreement"),
                majority_items=q.get("majority_items", 0),
                flags=q.get("flags") or [],
                progress=progress_for(
                    experiment,
                    membership.user_id,
                    figures.get("done", 0),
                    len(memberships),
                    membership.quota,
                ),
            )
        )
    return rows


def remove_reviewer(membership: Membership, *, exclude: bool) -> int:
    """The reviewer gets no more pairs; the pairs on their screen go back to the pool (their
    slots are freed at once, not when the lease runs out). Their judgments stay, counted
    in the results unless `exclude`. Returns how many leases were freed."""
    with transaction.atomic():
        Membership.objects.filter(pk=membership.pk).update(
            removed_at=timezone.now(), excluded=exclude
        )
        live = list(
            Assignment.objects.select_for_update()
            .filter(
                experiment_id=membership.experiment_id,
                reviewer_id=membership.user_id,
                status=Assignment.Status.SHOWN,
            )
            .order_by("pair_id")
            .values_list("pk", "pair_id")
        )
        Assignment.objects.filter(pk__in=[pk for pk, _ in live]).update(
            status=Assignment.Status.EXPIRED
        )
        for _, pair_id in live:
            free_slot(pair_id)
    return len(live)


def restore_reviewer(membership: Membership) -> None:
    Membership.objects.filter(pk=membership.pk).update(removed_at=None)
