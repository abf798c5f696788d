"""Agreement among the counted reviewers on each dimension: Fleiss' kappa, Krippendorff's
alpha and percent agreement over items (pairs), Cohen's kappa per pair of reviewers.
Categories: X won, Y won, tie."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import stats
from .frame import count_outcomes

COHEN_MIN_SHARED_ITEMS = 10


def outcome_counts_per_item(judgments: pd.DataFrame) -> pd.DataFrame:
    """Per (dimension, pair): how many judgments chose X, Y, tie (columns X, Y, tie)."""
    return count_outcomes(judgments, ["dimension", "pair"])


def item_patterns(items: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The distinct (X, Y, tie) counts of one dimension's items, sorted, and how many items
    have each: stats.py's item x category matrix without repeating equal rows."""
    patterns = items.value_counts(sort=False).sort_index()
    return (
        np.array(patterns.index.tolist(), dtype=float).reshape(-1, 3),
        patterns.to_numpy(dtype=np.int64),
    )


def agreement_figures(
    patterns: np.ndarray, multiplicity: np.ndarray, reviews_per_pair: int
) -> dict:
    """Items with 2+ judgments; Fleiss' kappa over those with exactly `reviews_per_pair`."""
    per_item = patterns.sum(axis=1)
    keep = per_item >= 2
    counts = np.repeat(patterns[keep], multiplicity[keep], axis=0)
    fleiss_rows = per_item[keep] == reviews_per_pair
    fleiss_counts = np.repeat(patterns[keep][fleiss_rows], multiplicity[keep][fleiss_rows], axis=0)
    return {
        "items": int(counts.shape[0]),
        "percent_agreement": stats.percent_agreement(counts) if counts.shape[0] else None,
        "fleiss_kappa": (
            stats.fleiss_kappa(fleiss_counts)
            if reviews_per_pair >= 2 and fleiss_counts.shape[0]
            else None
        ),
        "fleiss_items": int(fleiss_counts.shape[0]) if reviews_per_pair >= 2 else 0,
        "krippendorff_alpha": stats.krippendorff_alpha_nominal(counts) if counts.shape[0] else None,
    }


def cohen_tables(judgments: pd.DataFrame) -> dict[tuple[int, int], np.ndarray]:
    """Per pair of reviewers (lower id first) who judged the same items of one dimension:
    the 3 x 3 table of their outcomes on those items.

    Sorted by (pair, reviewer), the judgments of an item are consecutive rows, so each
    pair of reviewers on an item is a row and the row `step` further down with the same
    pair, for step = 1, 2, ... while there is one."""
    one = pd.DataFrame(
        {
            "pair": judgments["pair"].to_numpy(),
            "reviewer": judgments["reviewer"].to_numpy(),
            "outcome": judgments["outcome"].cat.codes.to_numpy(),
        }
    ).sort_values(["pair", "reviewer"])
    pair, reviewer, outcome = (one[column].to_numpy() for column in one.columns)
    both = []
    for step in range(1, len(one)):
        same = pair[:-step] == pair[step:]
        if not same.any():
            break
        both.append(
            pd.DataFrame(
                {
                    "reviewer_1": reviewer[:-step][same],
                    "reviewer_2": reviewer[step:][same],
                    "outcome_1": outcome[:-step][same],
                    "outcome_2": outcome[step:][same],
                }
            )
        )
    tables: dict[tuple[int, int], np.ndarray] = {}
    if not both:
        return tables
    counts = pd.concat(both).groupby(["reviewer_1", "reviewer_2", "outcome_1", "outcome_2"]).size()
    for (r1, r2, o1, o2), n in counts.items():
        tables.setdefault((int(r1), int(r2)), np.zeros((3, 3)))[o1, o2] += n
    return tables


def cohen_figures(tables: dict[tuple[int, int], np.ndarray], names: dict[int, str]) -> dict:
    """Cohen's kappa of every pair of reviewers sharing enough items, and their mean."""
    detail = []
    for (r1, r2), table in tables.items():
        shared = int(table.sum())
        if shared < COHEN_MIN_SHARED_ITEMS:
            continue
        detail.append(
            {
                "reviewer_1": names.get(r1, str(r1)),
                "reviewer_2": names.get(r2, str(r2)),
                "items": shared,
                "kappa": stats.cohen_kappa_from_table(table),
            }
        )
    detail.sort(key=lambda d: (d["reviewer_1"], d["reviewer_2"]))
    defined = [d["kappa"] for d in detail if d["kappa"] is not None]
    return {
        "cohen_kappa_mean": float(np.mean(defined)) if defined else None,
        "cohen_pairs": len(detail),
        "cohen_pairs_detail": detail,
    }
