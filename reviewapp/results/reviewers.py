"""Figures per reviewer: judgments, left share and agreement with the majority of the
others on the first dimension, time per pair, gold accuracy, and the automatic reviewers
compared with the human majority of each item."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .. import quality, stats
from ..models import Membership
from ..quality import GoldScore
from .agreement import COHEN_MIN_SHARED_ITEMS
from .pairs import position_bias_figures
from .repeats import position_bias_on_repeats, repeats_entry

# Items where fewer others judged have no majority to compare with.
MAJORITY_MIN = 2


def _strict_majority(others: np.ndarray) -> np.ndarray:
    """Per row of (n, 3) counts: the category with a strict plurality among at least
    MAJORITY_MIN judgments, else -1."""
    top = others.max(axis=1, initial=0)
    strict = (others == top[:, None]).sum(axis=1) == 1
    return np.where(strict & (others.sum(axis=1) >= MAJORITY_MIN), others.argmax(axis=1), -1)


def _others_on_item(rows: pd.DataFrame, items: pd.DataFrame, own_counted: np.ndarray) -> np.ndarray:
    """The (X, Y, tie) counts of the others on each row's item: the item's counts, less the
    row's own judgment where it is among them."""
    keys = pd.MultiIndex.from_arrays([rows["dimension"], rows["pair"]])
    others = items.reindex(keys, fill_value=0).to_numpy(dtype=np.int64, copy=True)
    own = rows["outcome"].cat.codes.to_numpy()
    at = np.flatnonzero(own_counted)
    others[at, own[at]] -= 1
    return others


def reviewer_figures(
    first: pd.DataFrame, items: pd.DataFrame, counted: pd.Series
) -> dict[int, dict]:
    """Per reviewer with judgments in `first` (one dimension, any reviewer, gold pairs
    left out): n, decided (not a tie, side known), left, majority_items, majority_agreed.

    `items`: the counted reviewers' (X, Y, tie) per (dimension, pair); `counted`: whether
    each row of `first` is among them."""
    own = first["outcome"].cat.codes.to_numpy()
    majority = _strict_majority(_others_on_item(first, items, counted.to_numpy()))
    chose_left = first["chose_left"]
    per_row = pd.DataFrame(
        {
            "reviewer": first["reviewer"].to_numpy(),
            "n": 1,
            "decided": chose_left.notna().to_numpy(),
            "left": chose_left.fillna(False).to_numpy(dtype=bool),
            "majority_items": majority >= 0,
            "majority_agreed": (majority >= 0) & (majority == own),
        }
    )
    sums = per_row.groupby("reviewer").sum()
    return {int(r): row for r, row in sums.to_dict("index").items()}


def median_seconds(assignments: pd.DataFrame) -> dict[int, float]:
    """Per reviewer: the median seconds per pair over all their submitted assignments
    (gold pairs too); NaN when none was timed."""
    medians = assignments.groupby("reviewer")["seconds"].median()
    return {int(r): float(s) for r, s in medians.items()}


def gold_scores(judgments: pd.DataFrame) -> dict[int, GoldScore]:
    """Per reviewer: their judgments on gold pairs against the expected answers (only
    (pair, dimension)s that have one)."""
    gold = judgments[judgments["gold_answer"].notna()]
    per_reviewer = (
        pd.DataFrame(
            {
                "reviewer": gold["reviewer"].to_numpy(),
                "pair": gold["pair"].to_numpy(),
                "correct": (
                    gold["choice"].astype(object) == gold["gold_answer"].astype(object)
                ).to_numpy(),
            }
        )
        .groupby("reviewer")
        .agg(correct=("correct", "sum"), judged=("pair", "size"), pairs=("pair", "nunique"))
    )
    return {
        int(r): GoldScore(int(row.correct), int(row.judged), int(row.pairs))
        for r, row in per_reviewer.iterrows()
    }


def automatic_figures(judges: pd.DataFrame, items: pd.DataFrame) -> dict[str, dict[int, dict]]:
    """Per dimension: {reviewer id: figures} for the automatic reviewers' judgments
    `judges` (gold pairs left out), compared with the majority of the counted humans'
    (X, Y, tie) per (dimension, pair) in `items`."""
    own = judges["outcome"].cat.codes.to_numpy()
    majority = _strict_majority(_others_on_item(judges, items, np.zeros(len(judges), bool)))
    compared = majority >= 0
    table = np.zeros((len(judges), 9), dtype=np.int64)
    table[np.flatnonzero(compared), own[compared] * 3 + majority[compared]] = 1
    result: dict[str, dict[int, dict]] = {}
    groups = judges.groupby(["dimension", "reviewer"], observed=True).indices
    for (dimension, reviewer), at in groups.items():
        agreement = table[at].sum(axis=0).reshape(3, 3).astype(float)
        items_compared = int(agreement.sum())
        result.setdefault(dimension, {})[int(reviewer)] = {
            "n": len(at),
            "majority_items": items_compared,
            "agreement_with_human_majority": (
                float(np.trace(agreement)) / items_compared if items_compared else None
            ),
            "cohen_kappa_vs_human_majority": (
                stats.cohen_kappa_from_table(agreement)
                if items_compared >= COHEN_MIN_SHARED_ITEMS
                else None
            ),
            "position_bias": position_bias_figures(judges["chose_left"].iloc[at]),
        }
    return result


def pooled_majority_agreement(figures: dict[int, dict], left_out: set[int]) -> float | None:
    """How often the counted reviewers chose the majority of the others, all together."""
    counted = [f for r, f in figures.items() if r not in left_out]
    items = sum(f["majority_items"] for f in counted)
    return sum(f["majority_agreed"] for f in counted) / items if items else None


def _none_if_nan(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) or math.isinf(value) else float(value)


def reviewer_row(
    reviewer_id: int, *, figures: dict, seconds: dict, gold: dict, context, repeats=None
) -> dict:
    """The reviewers table's row of one reviewer (every reviewer with a submitted
    assignment; one without a judgment on the first dimension gets zeros). `repeats`:
    results/repeats.repeat_figures."""
    kind, excluded = context.memberships.get(reviewer_id, (Membership.Kind.HUMAN, False))
    f = figures.get(reviewer_id) or {
        "n": 0, "decided": 0, "left": 0, "majority_items": 0, "majority_agreed": 0,
    }  # fmt: skip
    left_share = f["left"] / f["decided"] if f["decided"] else None
    median = _none_if_nan(seconds.get(reviewer_id))
    own_repeats = (repeats or {}).get(reviewer_id)
    flags = quality.reviewer_flags(
        decided=f["decided"],
        left_share=left_share,
        median_seconds=median,
        too_fast_seconds=context.too_fast_seconds,
        gold=gold.get(reviewer_id),
        majority_items=f["majority_items"],
        majority_agreed=f["majority_agreed"],
        pooled_majority_agreement=context.pooled,
    )
    if position_bias_on_repeats(own_repeats) and "position_bias" not in flags:
        flags.insert(0, "position_bias")
    return {
        "reviewer": context.names.get(reviewer_id, str(reviewer_id)),
        "kind": kind,
        "excluded": excluded,
        "counted": reviewer_id not in context.left_out,
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
        "repeats": repeats_entry(own_repeats),
        "flags": flags,
    }
