"""The calibration set: the first `calibration_pairs` pairs go to every reviewer before
anything else (assignment.py states the rule), so every reviewer's answers can be
compared on the same pairs from the start.

"The first N pairs" are the experiment's first N regular pairs in review (not gold, not
excluded) in upload order (the order of the files, then of their rows): the owner
chooses them by putting them first, a later upload never changes them, and excluding one
brings in the next.
"""

from django.db.models import OuterRef, Subquery

from .models import Assignment, Experiment, Pair
from .seeded import by_pick_key


def mark_calibration_pairs(experiment: Experiment) -> None:
    """Flag exactly the pairs the calibration set is made of now (Pair.calibration).
    Called with recount_pairs (whatever adds, removes or excludes pairs) and when the
    setting changes."""
    wanted = list(
        Pair.objects.filter(experiment=experiment, is_gold=False, excluded=False)
        .order_by("pk")
        .values_list("pk", flat=True)[: experiment.calibration_pairs]
    )
    flagged = Pair.objects.filter(experiment=experiment, calibration=True)
    flagged.exclude(pk__in=wanted).update(calibration=False)
    Pair.objects.filter(pk__in=wanted, calibration=False).update(calibration=True)


def calibration_pair_due(experiment: Experiment, reviewer) -> Pair | None:
    """The calibration pair this reviewer has not had yet, first in their own random
    order, else None. One small statement (the pair_calibration index, then a probe of
    the (pair, reviewer) index per calibration pair); no lock: calibration pairs have no
    slot limit."""
    had = Assignment.objects.filter(pair=OuterRef("pk"), reviewer=reviewer)
    open_pairs = list(
        Pair.objects.filter(experiment=experiment, calibration=True, excluded=False)
        .alias(had=Subquery(had.order_by().values("pk")[:1]))
        .filter(had__isnull=True)
    )
    if not open_pairs:
        return None
    pick = by_pick_key(experiment.seed, reviewer.pk)
    return min(open_pairs, key=lambda pair: pick((pair.pk, pair.shuffle_key)))
