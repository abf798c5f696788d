"""Creating experiments and editing their rubric: the step before any upload."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Count, Q
from django.utils.text import slugify

from .calibration import mark_calibration_pairs
from .leaks import Leak, LeakFinder
from .models import DEFAULT_DIMENSIONS, Dimension, Experiment, Judgment, Pair

# Pairs read and rewritten at a time when flagging leaks: memory stays bounded by this
# many pairs' texts, whatever the experiment's size.
LEAK_BATCH_SIZE = 500
# Flagged pairs listed on the experiment page (the pairs API lists them all).
LEAKS_LISTED = 50


class DimensionError(ValueError):
    pass


def clean_dimension_names(names: Sequence[str]) -> list[str]:
    cleaned = [name.strip() for name in names if name.strip()]
    if not cleaned:
        raise DimensionError("An experiment needs at least one dimension.")
    seen = set()
    for name in cleaned:
        if len(name) > 60:
            raise DimensionError(f"Dimension name {name[:60]!r}... is longer than 60 characters.")
        if name.lower() in seen:
            raise DimensionError(f"Dimension {name!r} is listed twice.")
        seen.add(name.lower())
    return cleaned


def unique_slug(name: str) -> str:
    base = slugify(name)[:70] or "experiment"
    slug, n = base, 2
    while Experiment.objects.filter(slug=slug).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug


@transaction.atomic
def create_experiment(
    *, owner, name: str, slug: str = "", dimensions: Sequence[str] = DEFAULT_DIMENSIONS, **fields
) -> Experiment:
    names = clean_dimension_names(dimensions)
    experiment = Experiment.objects.create(
        owner=owner, name=name, slug=slug or unique_slug(name), **fields
    )
    Dimension.objects.bulk_create(
        Dimension(experiment=experiment, name=n, position=i) for i, n in enumerate(names)
    )
    return experiment


@transaction.atomic
def save_rubric(
    experiment: Experiment, dimensions: Sequence[Dimension], removed: Sequence[Dimension] = ()
) -> None:
    """Make `dimensions` the experiment's rubric, in this order: its existing dimensions
    (names as edited) and new ones (no pk yet); delete the existing ones in `removed`.
    Every existing dimension must be in one of the two lists, so an edit made from a page
    that is out of date is refused rather than half applied. Judgments point at dimension
    rows, so a renamed dimension keeps its judgments; one that holds judgments cannot be
    removed (they would be lost)."""
    names = clean_dimension_names([d.name for d in dimensions])
    if len(names) != len(dimensions):
        raise DimensionError("Every dimension needs a name.")
    # Locking the rows also holds back judgments being written for them (a foreign key
    # check shares the row lock), so the "has judgments" check below stays true until commit.
    positions = dict(experiment.dimensions.select_for_update().values_list("pk", "position"))
    kept = [d for d in dimensions if d.pk is not None]
    mentioned = [d.pk for d in kept] + [d.pk for d in removed]
    if len(set(mentioned)) != len(mentioned) or set(mentioned) != positions.keys():
        raise DimensionError(
            "The rubric was changed meanwhile (on another page or by another owner); "
            "reload the page and make your changes again."
        )
    judged = (
        Dimension.objects.filter(pk__in=[d.pk for d in removed], judgments__isnull=False)
        .order_by("position")
        .first()
    )
    if judged is not None:
        raise DimensionError(
            f"Dimension “{judged.name}” already has judgments and cannot be removed; "
            "rename it instead."
        )
    Dimension.objects.filter(pk__in=[d.pk for d in removed]).delete()
    # (experiment, position) and (experiment, name) are unique and checked row by row, so
    # the kept rows first move to positions above every current one and to names no owner
    # can type (names are stripped), then take their places: swaps never collide midway.
    park = max(positions.values(), default=0) + 1
    Dimension.objects.bulk_update(
        [Dimension(pk=d.pk, position=park + i, name=f"\t{d.pk}") for i, d in enumerate(kept)],
        ["position", "name"],
    )
    for position, (dimension, name) in enumerate(zip(dimensions, names, strict=True)):
        dimension.experiment, dimension.position, dimension.name = experiment, position, name
    Dimension.objects.bulk_update(kept, ["position", "name"])
    Dimension.objects.bulk_create(d for d in dimensions if d.pk is None)


def recount_pairs(experiment: Experiment) -> None:
    """Store the experiment's numbers of regular and gold pairs in review (pair_count,
    gold_pair_count; excluded pairs are never assigned, so they are not counted). Called by
    whatever adds, removes or excludes pairs (the upload stage, inside its transaction)."""
    counts = Pair.objects.filter(experiment=experiment, excluded=False).aggregate(
        regular=Count("pk", filter=Q(is_gold=False)), gold=Count("pk", filter=Q(is_gold=True))
    )
    experiment.pair_count, experiment.gold_pair_count = counts["regular"], counts["gold"]
    Experiment.objects.filter(pk=experiment.pk).update(
        pair_count=counts["regular"], gold_pair_count=counts["gold"]
    )
    if (
        experiment.calibration_pairs
        or Pair.objects.filter(experiment=experiment, calibration=True).exists()
    ):
        mark_calibration_pairs(experiment)


# Fields an experiment's clone does not take over: who and what it is, its data, its
# randomness (a clone draws its own seed, so its orders and sides differ).
NOT_CLONED = {
    "id", "name", "slug", "owner", "status", "seed", "review_key", "pair_count",
    "gold_pair_count", "created_at",
}  # fmt: skip


@transaction.atomic
def clone_experiment(experiment: Experiment, *, owner, name: str, slug: str = "") -> Experiment:
    """A new draft experiment with the same settings and rubric; no pairs, reviewers,
    invite links or judgments."""
    settings = {
        f.name: getattr(experiment, f.name)
        for f in Experiment._meta.concrete_fields
        if f.name not in NOT_CLONED
    }
    dimensions = list(experiment.dimensions.order_by("position").values_list("name", flat=True))
    return create_experiment(owner=owner, name=name, slug=slug, dimensions=dimensions, **settings)


@transaction.atomic
def delete_experiment(experiment: Experiment) -> None:
    """The experiment and everything in it: pairs, assignments, judgments, invite links.
    Judgments go first: they protect their dimensions, which keeps a rubric edit from
    dropping them, and a cascade from the experiment would be refused."""
    Judgment.objects.filter(assignment__experiment=experiment).delete()
    experiment.delete()


# -- identity leaks (the checks themselves are leaks.py) -----------------------------------


def model_names(experiment: Experiment) -> set[str]:
    """Every model named in the experiment's pairs, and its baseline model."""
    names = set()
    for side in ("model_a", "model_b"):
        names.update(
            Pair.objects.filter(experiment=experiment).values_list(side, flat=True).distinct()
        )
    if experiment.baseline_model:
        names.add(experiment.baseline_model)
    return names


def reviewer_visible_texts(experiment: Experiment, dimension_names=None) -> dict[str, str]:
    """The experiment's own texts a reviewer reads, by the label an owner knows them by."""
    if dimension_names is None:
        dimension_names = experiment.dimensions.values_list("name", flat=True)
    return {
        "reviewer-facing title": experiment.reviewer_title,
        "instructions": experiment.instructions,
        "rubric": " · ".join(dimension_names),
    }


@dataclass
class LeakReport:
    """What the owner is told before anyone reviews."""

    visible: list[Leak] = field(default_factory=list)  # in text reviewers see
    owner_only: list[Leak] = field(default_factory=list)  # in the name or slug
    flagged: int = 0  # pairs in review with flags the owner has not decided on
    kept: int = 0  # pairs with flags the owner chose to keep in review
    excluded: int = 0  # flagged pairs taken out of review
    # The first undecided pairs: {"external_id": ..., "flags": Pair.leak_flags}.
    examples: list[dict] = field(default_factory=list)

    @property
    def in_review(self) -> int:
        """Flagged pairs still in review, decided on or not."""
        return self.flagged + self.kept

    @property
    def unresolved(self) -> bool:
        """Something reviewers would see that nobody has looked at: opening the
        experiment then needs an explicit confirmation."""
        return bool(self.visible or self.flagged)


def experiment_leaks_for(experiment: Experiment, names: Iterable[str]) -> LeakReport:
    """Model names in the experiment's own texts (no pair counts)."""
    finder = LeakFinder(names)
    return LeakReport(
        visible=finder.find_all(reviewer_visible_texts(experiment)),
        # Reviewers never see these, but owners tend to copy them into what they do see.
        owner_only=finder.find_all({"name": experiment.name, "slug": experiment.slug}),
    )


def leak_report(experiment: Experiment) -> LeakReport:
    """The experiment's texts checked against its model names, and its flagged pairs
    (flags as stored by flag_pair_leaks)."""
    report = experiment_leaks_for(experiment, model_names(experiment))
    flagged = Pair.objects.filter(experiment=experiment).exclude(leak_flags=[])
    counts = flagged.aggregate(
        undecided=Count("pk", filter=Q(excluded=False, leak_kept=False)),
        kept=Count("pk", filter=Q(excluded=False, leak_kept=True)),
        excluded=Count("pk", filter=Q(excluded=True)),
    )
    report.flagged, report.kept, report.excluded = (
        counts["undecided"],
        counts["kept"],
        counts["excluded"],
    )
    if report.flagged:
        undecided = flagged.filter(excluded=False, leak_kept=False).order_by("pk")
        report.examples = [
            {"external_id": external_id, "flags": flags}
            for external_id, flags in undecided.values_list("external_id", "leak_flags")[
                :LEAKS_LISTED
            ]
        ]
    return report


def flag_pair_leaks(experiment: Experiment, batch_size: int = LEAK_BATCH_SIZE) -> int:
    """Check every pair of the experiment for identity leaks against all its model names
    and store the findings in Pair.leak_flags; returns the number of flagged pairs.

    Run after an import commits (a new model name can flag older pairs too). Reads the
    pairs a batch at a time by primary key, so memory is bounded by one batch, and writes
    back only the pairs whose flags changed.
    """
    finder = LeakFinder(model_names(experiment))
    pairs = Pair.objects.filter(experiment=experiment).order_by("pk")
    pairs = pairs.only("pk", "prompt", "output_a", "output_b", "leak_flags", "leak_kept")
    n_flagged, last_pk = 0, 0
    while batch := list(pairs.filter(pk__gt=last_pk)[:batch_size]):
        changed = []
        for pair in batch:
            flags = finder.pair_flags(pair.prompt, pair.output_a, pair.output_b)
            n_flagged += bool(flags)
            if flags != pair.leak_flags:
                # A finding the owner has not seen asks again; one that went away does not.
                if any(flag not in pair.leak_flags for flag in flags):
                    pair.leak_kept = False
                pair.leak_flags = flags
                changed.append(pair)
        Pair.objects.bulk_update(changed, ["leak_flags", "leak_kept"])
        last_pk = batch[-1].pk
    return n_flagged


def exclude_flagged_pairs(experiment: Experiment) -> int:
    """Take every flagged pair out of review; returns how many were taken out. Their
    judgments so far stay stored."""
    with transaction.atomic():
        n = (
            Pair.objects.filter(experiment=experiment, excluded=False)
            .exclude(leak_flags=[])
            .update(excluded=True)
        )
        recount_pairs(experiment)
    return n


def keep_flagged_pairs(experiment: Experiment) -> int:
    """Keep the flagged pairs in review knowingly: their flags become a quiet note."""
    return (
        Pair.objects.filter(experiment=experiment, excluded=False, leak_kept=False)
        .exclude(leak_flags=[])
        .update(leak_kept=True)
    )
