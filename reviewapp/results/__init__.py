"""The results of an experiment: one read of its judgments into a frame (frame.py), then
one small function per family of figures (pairs.py, agreement.py, reviewers.py), feeding
the pure statistics in stats.py. `compute_results` only assembles them into one plain
dict (the JSON of results.json, the API, the results page and the `results` command);
the definitions are in the README ("Results").

Which judgments count: those of submitted assignments whose reviewer is not excluded
(`Membership.excluded`) and, unless asked, not an automatic judge (`Membership.kind`).
A reviewer without a membership row (removed from the experiment) counts as a human.
Gold pairs (`Pair.is_gold`, attention checks) never count in the preference statistics.
Swapped repeats (`Assignment.repeat`) count nowhere but in each reviewer's `repeats`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from django.contrib.auth import get_user_model

from ..models import Experiment, Membership
from .acceptance import acceptability_splits, acceptance_figures, add_acceptability
from .agreement import (
    agreement_figures,
    cohen_figures,
    cohen_tables,
    item_patterns,
    outcome_counts_per_item,
)
from .by_tag import by_tag_figures
from .clustered import arrival_order, pair_extras
from .frame import ResultsData, orient, read_results_data
from .pairs import (
    CONFIDENCE,
    PairCounts,
    model_figures,
    pair_counts,
    pair_figures,
    position_bias_figures,
)
from .repeats import repeat_figures
from .reviewers import (
    automatic_figures,
    gold_scores,
    median_seconds,
    pooled_majority_agreement,
    reviewer_figures,
    reviewer_row,
)
from .tables import RESULT_TABLES, result_table
from .verdict import format_p, headline_pair, strength_word, verdict

__all__ = [
    "RESULT_TABLES", "PairCounts", "compute_results", "format_p", "headline_pair", "orient",
    "outcome_counts", "result_table", "strength_word", "verdict",
]  # fmt: skip

# The name tests/test_results.py builds pair figures with.
_pair_figures = pair_figures


def _counted(judgments: pd.DataFrame, include_automatic: bool) -> pd.Series:
    """Per judgment: does it count in the preference and agreement statistics?"""
    automatic = judgments["kind"] == Membership.Kind.AUTOMATIC
    return ~judgments["reviewer_excluded"] & (include_automatic | ~automatic)


def _left_out(data: ResultsData, include_automatic: bool) -> set[int]:
    return {
        user
        for user, (kind, excluded) in data.memberships.items()
        if excluded or (kind == Membership.Kind.AUTOMATIC and not include_automatic)
    }


# The columns the preference, agreement and reviewer figures read: a new figure adds its
# column here. The subsets below copy only these (a million judgments: 25 MB a copy).
FIGURE_COLUMNS = [
    "pair", "reviewer", "dimension", "outcome", "chose_left", "model_x", "model_y", "kind",
    "reviewer_excluded", "cluster", "length_x", "length_y", "external_id", "submitted_us",
]  # fmt: skip


GOLD_COLUMNS = ["reviewer", "pair", "choice", "gold_answer"]


@dataclass
class _ReviewerContext:
    memberships: dict
    names: dict[int, str]
    left_out: set[int]
    too_fast_seconds: float
    pooled: float | None


def compute_results(
    experiment: Experiment,
    *,
    n_resamples: int = 1000,
    include_automatic: bool = False,
    by: str | None = None,
) -> dict:
    """All figures of an experiment as a plain, JSON-ready dict (None, never NaN).

    Six queries whatever the size, seven with gold pairs (a test caps them). `n_resamples=0`
    skips the bootstrap (ratings and clustered intervals without intervals). Agreement
    categories: X won, Y won, tie. `by`: the pair metadata field of the results by tag
    (None: the experiment's `tag_field`; "": none).
    """
    tag_field = experiment.tag_field if by is None else by
    data = read_results_data(experiment, tag_field)
    memberships = data.memberships
    first = data.dimensions[0] if data.dimensions else None
    repeats = repeat_figures(data.judgments, data.assignments, first)
    # Masks, not copies of the whole frame: the subsets below copy only the columns read.
    first_showing = ~data.judgments["repeat"].to_numpy()
    is_gold = data.judgments["is_gold"].to_numpy()
    # Gold pairs (attention checks) count only in the gold accuracy.
    columns = FIGURE_COLUMNS + ["tag"] if tag_field else FIGURE_COLUMNS
    not_gold = data.judgments.loc[first_showing & ~is_gold, columns]
    is_counted = _counted(not_gold, include_automatic)
    # Usually every judgment counts: then no copy (a million judgments: 40 MB).
    counted = not_gold if is_counted.all() else not_gold[is_counted]
    left_out = _left_out(data, include_automatic)
    by_dimension = dict(iter(counted.groupby("dimension", observed=True)))
    items = outcome_counts_per_item(counted)
    pairs = pair_counts(counted, data.dimensions)
    on_first = not_gold["dimension"] == first
    figures = reviewer_figures(not_gold[on_first], items, is_counted[on_first])
    # Time per pair on first showings: a repeat is read faster, being seen before.
    seconds = median_seconds(data.assignments[~data.assignments["repeat"]])
    gold = gold_scores(data.judgments.loc[first_showing & is_gold, GOLD_COLUMNS])
    cohen = {name: cohen_tables(on_dimension) for name, on_dimension in by_dimension.items()}
    # Automatic judges are compared with the counted humans, whatever the statistics count.
    is_human = _counted(not_gold, include_automatic=False)
    human_items = outcome_counts_per_item(not_gold[is_human]) if include_automatic else items
    is_judge = not_gold["kind"] == Membership.Kind.AUTOMATIC
    automatic = automatic_figures(not_gold[is_judge], human_items) if is_judge.any() else {}

    reviewer_ids = set(figures) | set(seconds) | set(gold) | set(repeats)
    reviewer_ids.update(r for by_reviewer in automatic.values() for r in by_reviewer)
    reviewer_ids.update(r for tables in cohen.values() for duo in tables for r in duo)
    reviewer_ids.update(counted["reviewer"].unique().tolist())
    User = get_user_model()
    names = dict(User.objects.filter(pk__in=reviewer_ids).values_list("pk", User.USERNAME_FIELD))
    arrival = arrival_order(counted, names)

    dimensions = {}
    for position, name in enumerate(data.dimensions):
        on_dimension = by_dimension.get(name, counted[:0])
        patterns = item_patterns(items.loc[name] if name in items.index else items[:0])
        agreement = agreement_figures(*patterns, experiment.reviews_per_pair)
        agreement.update(cohen_figures(cohen.get(name, {}), names))
        extras = pair_extras(
            on_dimension, arrival, margin=experiment.margin,
            seed=[experiment.seed, position], n_resamples=n_resamples,
        )  # fmt: skip
        dimensions[name] = {
            "n_judgments": len(on_dimension),
            "pairs": [
                {**pair_figures(c), **extras.get((c.model_x, c.model_y), {})} for c in pairs[name]
            ],
            "by_tag": by_tag_figures(on_dimension, tag_field) if tag_field else None,
            "models": model_figures(pairs[name], [experiment.seed, position], n_resamples),
            "agreement": agreement,
            "position_bias": position_bias_figures(on_dimension["chose_left"]),
            "automatic_reviewers": [
                {"reviewer": names.get(r, str(r)), "excluded": memberships[r][1], **f}
                for r, f in sorted(
                    automatic.get(name, {}).items(), key=lambda item: names.get(item[0], "")
                )
            ],
        }

    # One answer per output per review: read from the reviews, counted as the judgments are.
    reviews = data.assignments
    counted_reviews = reviews[~reviews["is_gold"] & _counted(reviews, include_automatic)]
    if first is not None:
        add_acceptability(dimensions[first]["pairs"], acceptability_splits(counted_reviews))

    pooled = pooled_majority_agreement(figures, left_out)
    context = _ReviewerContext(memberships, names, left_out, experiment.too_fast_seconds, pooled)
    reviewers = [
        reviewer_row(
            r, figures=figures, seconds=seconds, gold=gold, context=context, repeats=repeats
        )
        for r in sorted(reviewer_ids, key=lambda r: names.get(r, ""))
    ]
    results = {
        "experiment": experiment.slug,
        "baseline_model": experiment.baseline_model or None,
        "margin": experiment.margin,
        "tag_field": tag_field or None,
        "reviews_per_pair": experiment.reviews_per_pair,
        "include_automatic": include_automatic,
        "n_resamples": n_resamples,
        "confidence": CONFIDENCE,
        "first_dimension": first,
        "excluded_reviewers": sorted(
            names.get(r, str(r)) for r, (_, excluded) in memberships.items() if excluded
        ),
        "dimensions": dimensions,
        "acceptance": acceptance_figures(counted_reviews),
        "reviewers": reviewers,
        "reviewers_pooled_majority_agreement": pooled,
        "too_fast_seconds": experiment.too_fast_seconds,
    }
    results["verdict"] = verdict(results)
    return results


def outcome_counts(experiment: Experiment) -> dict[str, list[PairCounts]]:
    """Per dimension (in rubric order), win/tie/loss per model pair of the counted reviewers."""
    judgments = read_results_data(experiment).judgments
    counted = judgments[
        _counted(judgments, include_automatic=False) & ~judgments["is_gold"] & ~judgments["repeat"]
    ]
    return pair_counts(counted, list(judgments["dimension"].cat.categories))
