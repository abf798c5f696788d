"""The results of an experiment: one read of its judgments into a frame (frame.py), then
one small function per family of figures (pairs.py, agreement.py, reviewers.py), feeding
the pure statistics in stats.py. `compute_results` only assembles them into one plain
dict (the JSON of results.json, the API, the results page and the `results` command);
the definitions are in the README ("Results").

Which judgments count: those of submitted assignments whose reviewer is not excluded
(`Membership.excluded`) and, unless asked, not an automatic judge (`Membership.kind`).
A reviewer without a membership row (removed from the experiment) counts as a human.
Gold pairs (`Pair.is_gold`, attention checks) never count in the preference statistics.
"""

from __future__ import annotations

import math

import pandas as pd
from django.contrib.auth import get_user_model

from .. import quality
from ..models import Experiment, Membership
from .agreement import (
    agreement_figures,
    cohen_figures,
    cohen_tables,
    item_patterns,
    outcome_counts_per_item,
)
from .frame import ResultsData, orient, read_results_data
from .pairs import (
    CONFIDENCE,
    PairCounts,
    model_figures,
    pair_counts,
    pair_figures,
    position_bias_figures,
)
from .reviewers import automatic_figures, gold_scores, median_seconds, reviewer_figures
from .tables import RESULT_TABLES, result_table
from .verdict import format_p, headline_pair, strength_word, verdict

__all__ = [
    "RESULT_TABLES", "PairCounts", "compute_results", "format_p", "headline_pair", "orient",
    "outcome_counts", "result_table", "strength_word", "verdict",
]  # fmt: skip

# The name tests/test_results.py builds pair figures with.
_pair_figures = pair_figures


def _none_if_nan(value):
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) or math.isinf(value) else value


def _counted(data: ResultsData, include_automatic: bool) -> pd.Series:
    """Per judgment: does it count in the preference and agreement statistics?"""
    judgments = data.judgments
    automatic = judgments["kind"] == Membership.Kind.AUTOMATIC
    return ~judgments["reviewer_excluded"] & (include_automatic | ~automatic)


def _reviewer_row(reviewer_id, figures, memberships, left_out, seconds, gold, names, data, pooled):
    kind, excluded = memberships.get(reviewer_id, (Membership.Kind.HUMAN, False))
    f = figures.get(reviewer_id) or {
        "n": 0, "decided": 0, "left": 0, "majority_items": 0, "majority_agreed": 0,
    }  # fmt: skip
    left_share = f["left"] / f["decided"] if f["decided"] else None
    median = _none_if_nan(seconds.get(reviewer_id))
    return {
        "reviewer": names.get(reviewer_id, str(reviewer_id)),
        "kind": kind,
        "excluded": excluded,
        "counted": reviewer_id not in left_out,
        "n": f["n"],
        "decided": f["decided"],
        "left_share": left_share,
        "median_seconds": median,
        "majority_items": f["majority_items"],
        "majority_agreement": (
            f["majority_agreed"] / f["majority_items"] if f["majority_items"] else None
        ),
        "gold_pairs": gold[reviewer_id].pairs if reviewer_id in gold else 0,
        "gold_accuracy": gold[reviewer_id].accuracy if reviewer_id in gold else None,
        "flags": quality.reviewer_flags(
            decided=f["decided"],
            left_share=left_share,
            median_seconds=median,
            too_fast_seconds=data.experiment.too_fast_seconds,
            gold=gold.get(reviewer_id),
            majority_items=f["majority_items"],
            majority_agreed=f["majority_agreed"],
            pooled_majority_agreement=pooled,
        ),
    }


def compute_results(
    experiment: Experiment, *, n_resamples: int = 1000, include_automatic: bool = False
) -> dict:
    """All figures of an experiment as a plain, JSON-ready dict (None, never NaN).

    Six queries whatever the size, seven with gold pairs (a test caps them). `n_resamples=0`
    skips the bootstrap (ratings without intervals). Agreement categories: X won, Y won, tie.
    """
    data = read_results_data(experiment)
    judgments, memberships = data.judgments, data.memberships
    not_gold = judgments[~judgments["is_gold"]]
    counted_mask = _counted(data, include_automatic)[~judgments["is_gold"]]
    counted = not_gold[counted_mask]
    left_out = {
        user
        for user, (kind, excluded) in memberships.items()
        if excluded or (kind == Membership.Kind.AUTOMATIC and not include_automatic)
    }
    items = outcome_counts_per_item(counted)
    pairs = pair_counts(counted, data.dimensions)
    first = data.dimensions[0] if data.dimensions else None
    on_first = not_gold["dimension"] == first
    figures = reviewer_figures(not_gold[on_first], items, counted_mask[on_first])
    figures = {int(r): row for r, row in figures.to_dict("index").items()}
    seconds = median_seconds(data.assignments)
    gold = gold_scores(judgments)
    # Compared with the counted humans whatever the statistics include.
    is_human = ~not_gold["reviewer_excluded"] & (not_gold["kind"] == Membership.Kind.HUMAN)
    human_items = items if not include_automatic else outcome_counts_per_item(not_gold[is_human])
    is_judge = (not_gold["kind"] == Membership.Kind.AUTOMATIC).to_numpy()
    automatic = automatic_figures(not_gold[is_judge], human_items) if is_judge.any() else {}
    by_dimension = dict(iter(counted.groupby("dimension", observed=True)))
    tables = {name: cohen_tables(on_dimension) for name, on_dimension in by_dimension.items()}

    reviewer_ids = set(figures) | set(seconds) | set(gold)
    reviewer_ids.update(r for by_reviewer in automatic.values() for r in by_reviewer)
    reviewer_ids.update(r for by_pair in tables.values() for pair in by_pair for r in pair)
    User = get_user_model()
    names = dict(User.objects.filter(pk__in=reviewer_ids).values_list("pk", User.USERNAME_FIELD))

    result_dimensions = {}
    for position, name in enumerate(data.dimensions):
        dimension_pairs = pairs[name]
        on_dimension = by_dimension.get(name, counted[:0])
        patterns, multiplicity = item_patterns(
            items.loc[name] if name in items.index else items[:0]
        )
        agreement = agreement_figures(patterns, multiplicity, experiment.reviews_per_pair)
        agreement.update(cohen_figures(tables.get(name, {}), names))
        result_dimensions[name] = {
            "n_judgments": sum(c.n for c in dimension_pairs),
            "pairs": [pair_figures(c) for c in dimension_pairs],
            "models": model_figures(dimension_pairs, [experiment.seed, position], n_resamples),
            "agreement": agreement,
            "position_bias": position_bias_figures(on_dimension["chose_left"]),
            "automatic_reviewers": [
                {
                    "reviewer": names.get(reviewer_id, str(reviewer_id)),
                    "excluded": memberships[reviewer_id][1],
                    **figures_,
                }
                for reviewer_id, figures_ in sorted(
                    automatic.get(name, {}).items(), key=lambda item: names.get(item[0], "")
                )
            ],
        }

    majority = [
        (f["majority_agreed"], f["majority_items"]) for r, f in figures.items() if r not in left_out
    ]
    majority_items = sum(items_ for _, items_ in majority)
    pooled = sum(agreed for agreed, _ in majority) / majority_items if majority_items else None
    reviewers = [
        _reviewer_row(r, figures, memberships, left_out, seconds, gold, names, data, pooled)
        for r in sorted(reviewer_ids, key=lambda r: names.get(r, ""))
    ]
    results = {
        "experiment": experiment.slug,
        "baseline_model": experiment.baseline_model or None,
        "reviews_per_pair": experiment.reviews_per_pair,
        "include_automatic": include_automatic,
        "n_resamples": n_resamples,
        "confidence": CONFIDENCE,
        "first_dimension": first,
        "excluded_reviewers": sorted(
            names.get(r, str(r)) for r, (_, excluded) in memberships.items() if excluded
        ),
        "dimensions": result_dimensions,
        "reviewers": reviewers,
        "reviewers_pooled_majority_agreement": pooled,
        "too_fast_seconds": experiment.too_fast_seconds,
    }
    results["verdict"] = verdict(results)
    return results


def outcome_counts(experiment: Experiment) -> dict[str, list[PairCounts]]:
    """Per dimension (in rubric order), win/tie/loss per model pair of the counted reviewers."""
    data = read_results_data(experiment)
    counted = data.judgments[_counted(data, include_automatic=False) & ~data.judgments["is_gold"]]
    return pair_counts(counted, data.dimensions)
