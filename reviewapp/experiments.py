"""Creating experiments and editing their rubric: the step before any upload."""

from collections.abc import Sequence

from django.db import transaction
from django.db.models import Count, Q
from django.utils.text import slugify

from .models import DEFAULT_DIMENSIONS, Dimension, Experiment, Pair


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
    """Store the experiment's numbers of regular and gold pairs (pair_count,
    gold_pair_count). Called by whatever adds or removes pairs (the upload stage, inside
    its transaction)."""
    counts = Pair.objects.filter(experiment=experiment).aggregate(
        regular=Count("pk", filter=Q(is_gold=False)), gold=Count("pk", filter=Q(is_gold=True))
    )
    experiment.pair_count, experiment.gold_pair_count = counts["regular"], counts["gold"]
    Experiment.objects.filter(pk=experiment.pk).update(
        pair_count=counts["regular"], gold_pair_count=counts["gold"]
    )
