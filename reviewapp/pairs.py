"""Browsing an experiment's pairs as its owner: search and filters, review status, how far
the reviewers agree, the disagreement ranking, and one pair with all its judgments.

Agreement is read on one rubric dimension (the first unless chosen) over the counted
judgments: submitted, by reviewers neither excluded by the owner nor automatic judges.
For a pair with n >= 2 such judgments, of which the most frequent answer (A, B or tie)
got m, `dissent` = (n - m) / n: 0 when unanimous, up to 2/3 when A, B and tie split
evenly. "Split" means dissent > 0.
"""

from dataclasses import dataclass

from django.db import transaction
from django.db.models import (
    Case,
    CharField,
    Count,
    F,
    FloatField,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import Cast, Greatest

from .experiments import recount_pairs
from .models import Assignment, Dimension, Experiment, Judgment, Membership, Pair

STATUSES = {
    "unreviewed": "Unreviewed",
    "in_progress": "In progress",
    "complete": "Complete",
}
SORTS = {
    "upload": "Upload order",
    "pair_id": "Pair id",
    "most_judged": "Most judgments",
    "most_split": "Most split first",
}
# Keys offered in the metadata filter are read from this many pairs (a sample: owners
# upload one schema per experiment).
METADATA_KEY_SAMPLE = 500


@dataclass(frozen=True)
class PairFilter:
    text: str = ""  # in the pair id, the prompt or either output
    models: str = ""  # "X vs Y", either order
    field: str = ""  # a metadata key ...
    value: str = ""  # ... and its value, compared as text
    status: str = ""  # a key of STATUSES
    gold: str = ""  # "yes" / "no"
    leak: str = ""  # "yes" / "no": flagged as a possible identity leak
    agreement: str = ""  # "unanimous" / "split"
    sort: str = "upload"


class PairEditRefused(Exception):
    pass


def agreement_dimension(experiment: Experiment, name: str = "") -> Dimension | None:
    dimensions = experiment.dimensions.order_by("position")
    if name:
        return dimensions.filter(name=name).first() or dimensions.first()
    return dimensions.first()


def left_out_reviewer_ids(experiment: Experiment) -> list[int]:
    """Reviewers whose judgments do not count: excluded by the owner, or automatic."""
    return list(
        Membership.objects.filter(experiment=experiment)
        .filter(Q(excluded=True) | Q(kind=Membership.Kind.AUTOMATIC))
        .values_list("user_id", flat=True)
    )


def model_pairs(experiment: Experiment) -> list[str]:
    """The experiment's model pairs as 'X vs Y' (alphabetical within a pair)."""
    found = set()
    for a, b in experiment.pairs.values_list("model_a", "model_b").distinct():
        found.add(" vs ".join(sorted((a, b))))
    return sorted(found)


def metadata_keys(experiment: Experiment) -> list[str]:
    keys = set()
    for metadata in experiment.pairs.values_list("metadata", flat=True)[:METADATA_KEY_SAMPLE]:
        if isinstance(metadata, dict):
            keys.update(str(k) for k in metadata)
    return sorted(keys)


def annotated_pairs(experiment: Experiment, dimension: Dimension | None) -> QuerySet:
    """The experiment's pairs with n_done (submitted assignments), review status, and the
    counted judgments on `dimension`: n_judged, n_a, n_b, n_tie, dissent."""
    # Swapped repeats are the same reviewer's second answer: never a review of their own.
    submitted = Q(assignments__status=Assignment.Status.SUBMITTED, assignments__repeat=False)
    counted = submitted & ~Q(assignments__reviewer_id__in=left_out_reviewer_ids(experiment))
    on_dimension = counted & Q(assignments__judgments__dimension=dimension)

    def judgments(choice: str | None = None):
        only = Q(assignments__judgments__choice=choice) if choice else Q()
        return Count("assignments__judgments", filter=on_dimension & only)

    return (
        Pair.objects.filter(experiment=experiment)
        .annotate(
            n_done=Count("assignments", filter=submitted, distinct=True),
            n_judged=judgments(),
            n_a=judgments(Judgment.Choice.A),
            n_b=judgments(Judgment.Choice.B),
            n_tie=judgments(Judgment.Choice.TIE),
        )
        .annotate(
            status=Case(
                When(n_done=0, then=Value("unreviewed")),
                When(n_done__gte=experiment.reviews_per_pair, then=Value("complete")),
                default=Value("in_progress"),
                output_field=CharField(),
            ),
            dissent=Case(
                When(n_judged__lt=2, then=Value(0.0)),
                default=Cast(F("n_judged") - Greatest("n_a", "n_b", "n_tie"), FloatField())
                / Cast(F("n_judged"), FloatField()),
                output_field=FloatField(),
            ),
        )
    )


def filter_pairs(experiment: Experiment, flt: PairFilter, dimension: Dimension | None):
    pairs = annotated_pairs(experiment, dimension)
    if flt.text:
        text = flt.text
        pairs = pairs.filter(
            Q(external_id__icontains=text)
            | Q(prompt__icontains=text)
            | Q(output_a__icontains=text)
            | Q(output_b__icontains=text)
        )
    if flt.models and " vs " in flt.models:
        x, y = flt.models.split(" vs ", 1)
        pairs = pairs.filter(Q(model_a=x, model_b=y) | Q(model_a=y, model_b=x))
    if flt.field and "__" not in flt.field:
        # JSON equality: the text as a JSON string, or as the number it spells.
        key = f"metadata__{flt.field}"
        matches = Q(**{key: flt.value})
        number = _as_number(flt.value)
        if number is not None:
            matches |= Q(**{key: number})
        pairs = pairs.filter(matches)
    if flt.status in STATUSES:
        pairs = pairs.filter(status=flt.status)
    if flt.gold in ("yes", "no"):
        pairs = pairs.filter(is_gold=flt.gold == "yes")
    if flt.leak == "yes":
        pairs = pairs.exclude(leak_flags=[])
    elif flt.leak == "no":
        pairs = pairs.filter(leak_flags=[])
    if flt.agreement == "unanimous":
        pairs = pairs.filter(n_judged__gte=2, dissent=0)
    elif flt.agreement == "split":
        pairs = pairs.filter(n_judged__gte=2, dissent__gt=0)
    order = {
        "pair_id": ["external_id"],
        "most_judged": ["-n_judged", "pk"],
        "most_split": ["-dissent", "-n_judged", "pk"],
    }.get(flt.sort, ["pk"])
    return pairs.order_by(*order)


def _as_number(text: str) -> int | float | None:
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return None


def disagreements(experiment: Experiment, dimension: Dimension | None):
    """Pairs whose counted judgments split, most split first (then most judged)."""
    return filter_pairs(experiment, PairFilter(agreement="split", sort="most_split"), dimension)


@dataclass(frozen=True)
class JudgmentRow:
    reviewer: str
    kind: str
    excluded: bool
    status: str
    left_model: str
    seconds: float | None
    submitted_at: object
    rationale: str
    answers: list  # [(dimension name, winning model or "tie", strength)]
    repeat: bool = False  # a swapped repeat: counted only in the reviewer's consistency


def pair_judgments(pair: Pair) -> list[JudgmentRow]:
    """Every assignment of the pair, with its answers in content terms (model names)."""
    return judgments_by_pair(pair.experiment_id, [pair])[pair.pk]


def judgments_by_pair(experiment_id: int, pairs) -> dict[int, list[JudgmentRow]]:
    """pair_judgments for several pairs of one experiment in three queries (memberships,
    assignments with their reviewers, judgments with their dimensions), however many."""
    pairs = {pair.pk: pair for pair in pairs}
    memberships = {m.user_id: m for m in Membership.objects.filter(experiment_id=experiment_id)}
    rows: dict[int, list[JudgmentRow]] = {pk: [] for pk in pairs}
    assignments = (
        Assignment.objects.filter(pair_id__in=list(pairs))
        .select_related("reviewer")
        .prefetch_related("judgments__dimension")
        .order_by("submitted_at", "pk")
    )
    for assignment in assignments:
        pair = assignment.pair = pairs[assignment.pair_id]
        membership = memberships.get(assignment.reviewer_id)
        answers = [
            (
                j.dimension.name,
                {"A": pair.model_a, "B": pair.model_b}.get(j.choice, "tie"),
                j.strength,
            )
            for j in sorted(assignment.judgments.all(), key=lambda j: j.dimension.position)
        ]
        rows[pair.pk].append(
            JudgmentRow(
                reviewer=assignment.reviewer.get_username(),
                kind=membership.kind if membership else Membership.Kind.HUMAN,
                excluded=bool(membership and membership.excluded),
                status=assignment.status,
                left_model=assignment.left_model,
                seconds=assignment.seconds_on_pair,
                submitted_at=assignment.submitted_at,
                rationale=assignment.rationale,
                answers=answers,
                repeat=assignment.repeat,
            )
        )
    return rows


def has_judgments(pair: Pair) -> bool:
    return Judgment.objects.filter(assignment__pair=pair).exists()


@transaction.atomic
def edit_pair(pair: Pair, *, prompt: str, output_a: str, output_b: str) -> None:
    """Correct a pair's texts: only before anyone judged it (a judgment is about the text
    that was shown)."""
    locked = Pair.objects.select_for_update().get(pk=pair.pk)
    if has_judgments(locked):
        raise PairEditRefused("This pair has judgments: it can no longer be edited.")
    Pair.objects.filter(pk=pair.pk).update(prompt=prompt, output_a=output_a, output_b=output_b)


@transaction.atomic
def delete_pair(pair: Pair) -> None:
    locked = Pair.objects.select_for_update().get(pk=pair.pk)
    if has_judgments(locked):
        raise PairEditRefused("This pair has judgments: it can no longer be deleted.")
    experiment = locked.experiment
    locked.delete()
    recount_pairs(experiment)
