"""Gold pairs (attention checks): when a reviewer gets one (assignment.py states the rule)."""

import math

from django.db.models import OuterRef, Subquery

from .models import Assignment, Experiment, Pair
from .seeded import by_pick_key, seeded_fraction


def gold_after(experiment: Experiment, reviewer_id: int, n: int) -> int:
    """How many gold pairs the rule has given a reviewer after n pairs from the queue (while
    regular pairs remained for them): min(G, floor(gold_rate * n + u))."""
    if experiment.gold_rate <= 0 or experiment.gold_pair_count == 0:
        return 0
    offset = seeded_fraction(experiment.seed, "gold", reviewer_id)  # u
    due = math.floor(experiment.gold_rate * n + offset)
    return min(experiment.gold_pair_count, due)


def gold_pair_due(experiment: Experiment, reviewer, claims: int) -> Pair | None:
    """The gold pair to give instead of a regular one, when this reviewer's gold share is
    due (gold_after), else None. Each gold pair is one probe of the (pair, reviewer) index:
    a handful, never the reviewer's whole history."""
    if gold_after(experiment, reviewer.pk, claims + 1) == 0:
        return None
    # "Had it?" as a scalar subquery, as in _candidates: an EXISTS here may be run as one
    # hashed read of the reviewer's whole history.
    had = Assignment.objects.filter(pair=OuterRef("pk"), reviewer=reviewer)
    gold = list(
        Pair.objects.filter(experiment=experiment, is_gold=True)
        .annotate(had=Subquery(had.order_by().values("pk")[:1]))
        .values_list("pk", "shuffle_key", "excluded", "had")
    )
    gold = [(pk, key, excluded, had_id is not None) for pk, key, excluded, had_id in gold]
    had_count = sum(1 for *_, had_it in gold if had_it)
    if had_count >= gold_after(experiment, reviewer.pk, claims + 1):
        return None
    open_gold = [(pk, key) for pk, key, excluded, had_it in gold if not (excluded or had_it)]
    if not open_gold:
        return None
    pk, _ = min(open_gold, key=by_pick_key(experiment.seed, reviewer.pk))
    return Pair.objects.get(pk=pk)
