"""Progress, defined once: what a reviewer's bar and an owner's table show (gold pairs
included from the start, so "N of M" never grows for a reviewer who stays within their share)."""

import math
from dataclasses import dataclass

from django.db.models import Count, Func, IntegerField, OuterRef, Subquery

from reviewapp.assignment import _candidates, gold_after
from reviewapp.models import Assignment, Experiment, Membership


@dataclass(frozen=True)
class Progress:
    """`done` of `share`: what a progress bar shows."""

    done: int
    share: int
    # Regular pairs still open to the reviewer, when counted (it reads the experiment's
    # pairs, so only the reviewer's home page asks for it).
    remaining_for_reviewer: int | None = None

    @property
    def percent(self) -> int:
        if self.share == 0:
            return 100
        return min(100, math.floor(100 * self.done / self.share))


def regular_share(experiment: Experiment, n_reviewers: int) -> int:
    """The regular pairs one reviewer is expected to review: pairs x reviews_per_pair split
    evenly over the members, but never more than every pair once (so with no more
    members than reviews_per_pair, every pair)."""
    n_pairs = experiment.pair_count
    n_reviewers = max(n_reviewers, experiment.reviews_per_pair, 1)
    return min(n_pairs, -(-n_pairs * experiment.reviews_per_pair // n_reviewers))


def gold_alongside(experiment: Experiment, reviewer_id: int, regular: int) -> int:
    """How many gold pairs the gold rule gives a reviewer who reviews `regular` regular
    pairs: the queue ends after a regular pair, the n-th assignment for the first n with
    n - gold_after(n) == regular."""
    n = regular
    while n - gold_after(experiment, reviewer_id, n) < regular:
        n += 1
    return n - regular


def progress_for(
    experiment: Experiment, reviewer_id: int, done: int, n_reviewers: int, quota=None
) -> Progress:
    """THE definition of a reviewer's progress: submitted assignments (gold included) of
    the pairs they will see in all, known from the start: their regular share plus the
    gold pairs the gold rule mixes in alongside it, or their quota (which counts gold
    too). Exact when every member can review every pair (no more members than
    reviews_per_pair) and for a quota; with more members it is the fair split, and only
    a reviewer who goes on past it sees the total grow with them."""
    if quota:
        return Progress(done=done, share=max(quota, done))
    regular = regular_share(experiment, n_reviewers)
    share = regular + gold_alongside(experiment, reviewer_id, regular)
    return Progress(done=done, share=max(share, done))


def _count(queryset):
    """The number of rows of a queryset, as a subquery expression. COUNT as a plain
    function, not an aggregate: no GROUP BY, so one row even when nothing matches."""
    counted = queryset.order_by().annotate(
        n=Func("pk", function="COUNT", output_field=IntegerField())
    )
    return Subquery(counted.values("n"))


def membership_progress(membership) -> Progress:
    """progress_for a reviewer's membership (access.ReviewerMembership), counting what it
    needs in one query: their submitted assignments and the experiment's members."""
    done, n_reviewers = (
        Experiment.objects.filter(pk=membership.experiment_id)
        .annotate(
            done=_count(
                Assignment.objects.filter(
                    experiment=OuterRef("pk"),
                    reviewer=membership.user_id,
                    status=Assignment.Status.SUBMITTED,
                )
            ),
            n_reviewers=_count(Membership.objects.filter(experiment=OuterRef("pk"))),
        )
        .values_list("done", "n_reviewers")
        .get()
    )
    return progress_for(
        membership.experiment, membership.user_id, done, n_reviewers, membership.quota
    )


def reviewer_progress(
    experiment: Experiment, reviewer, *, count_remaining: bool = True
) -> Progress:
    """progress_for, counting what it needs."""
    done = Assignment.objects.filter(
        experiment=experiment, reviewer=reviewer, status=Assignment.Status.SUBMITTED
    ).count()
    membership = Membership.objects.filter(experiment=experiment, user=reviewer).first()
    quota = membership.quota if membership else None
    progress = progress_for(experiment, reviewer.pk, done, experiment.reviewers.count(), quota)
    if not count_remaining:
        return progress
    remaining = _candidates(experiment, reviewer).count()
    return Progress(progress.done, progress.share, remaining_for_reviewer=remaining)


@dataclass(frozen=True)
class ExperimentProgress:
    pairs: int  # regular pairs under review
    gold_pairs: int
    reviewers: int
    reviews_done: int  # submitted assignments, gold included
    reviews_needed: int  # pairs x reviews_per_pair, plus the gold pairs every member will see

    @property
    def percent_done(self) -> int:
        if not self.reviews_needed:
            return 0
        return min(100, math.floor(100 * self.reviews_done / self.reviews_needed))


def experiment_progress(experiments) -> dict[int, ExperimentProgress]:
    """Per experiment id, the owner's view of the same numbers (two queries): the gold
    pairs each member will see come from the same gold_alongside as their own bar."""
    ids = [e.pk for e in experiments]
    done = dict(
        Assignment.objects.filter(experiment_id__in=ids, status=Assignment.Status.SUBMITTED)
        .values("experiment_id")
        .annotate(n=Count("id"))
        .values_list("experiment_id", "n")
    )
    members: dict[int, list[int]] = {pk: [] for pk in ids}
    for experiment_id, user_id in Membership.objects.filter(experiment_id__in=ids).values_list(
        "experiment_id", "user_id"
    ):
        members[experiment_id].append(user_id)
    result = {}
    for experiment in experiments:
        crew = members[experiment.pk]
        regular = regular_share(experiment, len(crew))
        gold = sum(gold_alongside(experiment, user_id, regular) for user_id in crew)
        result[experiment.pk] = ExperimentProgress(
            pairs=experiment.pair_count,
            gold_pairs=experiment.gold_pair_count,
            reviewers=len(crew),
            reviews_done=done.get(experiment.pk, 0),
            reviews_needed=experiment.pair_count * experiment.reviews_per_pair + gold,
        )
    return result
