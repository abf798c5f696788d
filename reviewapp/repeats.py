"""Swapped repeats: a share of each reviewer's pairs comes back to them later with the
sides swapped, to measure how consistent they are and whether the screen side sways them
(assignment.py states the rule; results/repeats.py the figures).

Pacing, like the gold pairs': of a reviewer's first n original pairs (regular pairs given
for the first time, calibration pairs included), floor(repeat_rate * n + u) are picked to
come back, u a seeded per-reviewer offset in [0, 1). A picked original records the claim
number from which its repeat is due (`Assignment.repeat_due_at`): at least
REPEAT_GAP other pairs later.
"""

import math
from datetime import datetime

from .models import Assignment, Experiment
from .seeded import seeded_fraction

# Other pairs a reviewer sees between a pair and its repeat (fewer only when nothing
# else is left for them).
REPEAT_GAP = 5


def repeats_after(experiment: Experiment, reviewer_id: int, originals: int) -> int:
    """How many of a reviewer's first `originals` original pairs are picked to come back."""
    if experiment.repeat_rate <= 0:
        return 0
    offset = seeded_fraction(experiment.seed, "repeat", reviewer_id)
    return math.floor(experiment.repeat_rate * originals + offset)


def repeat_due_at(experiment: Experiment, reviewer_id: int, originals: int, claims: int):
    """For the reviewer's next original pair (they have had `originals` before it, and it
    is their claim number `claims`): the claim number from which its repeat is due, or
    None when it is not picked to come back."""
    before = repeats_after(experiment, reviewer_id, originals)
    if repeats_after(experiment, reviewer_id, originals + 1) == before:
        return None
    return claims + REPEAT_GAP + 1


def due_repeat_sql(experiment: Experiment, assignment_table: str) -> str:
    """The claim statement's column giving the reviewer's first due repeat (the id of
    its original), or NULL: only a probe of the assignment_repeats_due index, and not
    even that when the experiment has no repeats."""
    if experiment.repeat_rate <= 0:
        return "NULL"
    return (
        f"(SELECT a.id FROM {assignment_table} a"
        " WHERE a.experiment_id = %(experiment)s AND a.reviewer_id = %(reviewer)s"
        " AND a.repeat_due_at <= %(claims)s AND a.status = %(submitted)s"
        " ORDER BY a.repeat_due_at LIMIT 1)"
    )


def pending_repeat(experiment: Experiment, reviewer) -> int | None:
    """The reviewer's first repeat still to come, due or not (nothing else is left for
    them), as the id of its original."""
    if experiment.repeat_rate <= 0:
        return None
    return (
        Assignment.objects.filter(
            experiment=experiment,
            reviewer=reviewer,
            repeat_due_at__isnull=False,
            status=Assignment.Status.SUBMITTED,
        )
        .order_by("repeat_due_at")
        .values_list("pk", flat=True)
        .first()
    )


def give_repeat(experiment: Experiment, reviewer, original_id: int, now: datetime) -> Assignment:
    """Show the reviewer the pair of `original_id` again, sides swapped. A repeat takes no
    slot: it is not one of the pair's reviews_per_pair reviews."""
    original = Assignment.objects.select_related("pair").get(pk=original_id)
    Assignment.objects.filter(pk=original_id).update(repeat_due_at=None)
    return Assignment.objects.create(
        experiment=experiment,
        pair=original.pair,
        reviewer=reviewer,
        left_is_a=None if original.left_is_a is None else not original.left_is_a,
        status=Assignment.Status.SHOWN,
        shown_at=now,
        repeat=True,
    )
