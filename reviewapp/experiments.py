"""Creating experiments and editing their rubric: the step before any upload."""

from collections.abc import Sequence

from django.db import transaction
from django.db.models import Count, Q
from django.utils.text import slugify

from .models import DEFAULT_DIMENSIONS, Dimension, Experiment, Judgment, Pair


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
def save_dimensions(experiment: Experiment, rows: Sequence[tuple[int | None, str]]) -> None:
    """Apply the owner's edited rubric: rows of (dimension id or None for a new one, name),
    in the wanted order. Existing dimensions missing from rows are removed, which is
    refused when they already hold judgments (their judgments would be lost)."""
    names = clean_dimension_names([name for _, name in rows])
    if len(names) != len(rows):
        raise DimensionError("Every dimension needs a name.")
    existing = {d.pk: d for d in experiment.dimensions.select_for_update()}
    kept_ids = {pk for pk, _ in rows if pk is not None}
    unknown = kept_ids - existing.keys()
    if unknown:
        raise DimensionError("A dimension in the form does not belong to this experiment.")
    removed = [d for pk, d in existing.items() if pk not in kept_ids]
    for dimension in removed:
        if dimension.judgments.exists():
            raise DimensionError(
                f"Dimension {dimension.name!r} already has judgments and cannot be removed; "
                "rename it instead."
            )
    Dimension.objects.filter(pk__in=[d.pk for d in removed]).delete()
    # Park kept rows on free positions and names first so reordering and swapping
    # names never trips the unique constraints midway.
    offset = 10_000
    for i, pk in enumerate(kept_ids):
        Dimension.objects.filter(pk=pk).update(position=offset + i, name=f"__renaming_{pk}")
    for position, (pk, name) in enumerate(rows):
        if pk is None:
            Dimension.objects.create(experiment=experiment, name=name.strip(), position=position)
        else:
            Dimension.objects.filter(pk=pk).update(name=name.strip(), position=position)


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
