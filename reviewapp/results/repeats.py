"""Swapped repeats (repeats.py gives them): how each reviewer's second answer to a pair,
shown with the sides swapped, compares with their first. Repeats count nowhere else."""

from __future__ import annotations

import pandas as pd

# Decided repeats on the first dimension needed before same_side can flag position bias.
REPEAT_MIN_DECIDED = 10

_KEY = ["reviewer", "pair", "dimension"]


def repeat_figures(judgments: pd.DataFrame, assignments: pd.DataFrame, first) -> dict:
    """Per reviewer with a submitted repeat: {n, consistent, same_side, same_side_n}.

    n: repeats answered. consistent: among every (repeat, dimension) answered both times,
    the share whose repeat answer is the first answer in content (A, B or tie: the same
    output preferred although it moved to the other side). same_side: among repeats
    decided both times (not a tie, side known) on the `first` dimension, the share where
    the same screen side was chosen both times (same_side_n of them)."""
    answered = assignments.loc[assignments["repeat"].to_numpy(dtype=bool), "reviewer"]
    if answered.empty:
        return {}
    columns = [*_KEY, "choice", "chose_left"]
    is_repeat = judgments["repeat"].to_numpy(dtype=bool)
    second = judgments.loc[is_repeat, columns]
    first_answers = judgments.loc[~is_repeat & judgments["reviewer"].isin(answered), columns]
    both = second.merge(first_answers, on=_KEY, suffixes=("", "_first"))
    both["consistent"] = both["choice"].astype(object) == both["choice_first"].astype(object)
    on_first = both[both["dimension"] == first]
    decided = on_first[on_first["chose_left"].notna() & on_first["chose_left_first"].notna()]
    same = decided["chose_left"].astype(bool) == decided["chose_left_first"].astype(bool)
    consistent = both.groupby("reviewer")["consistent"].agg(["mean", "size"])
    same_side = same.groupby(decided["reviewer"]).agg(["mean", "size"])
    figures = {}
    for reviewer, n in answered.value_counts().items():
        c = consistent.loc[reviewer] if reviewer in consistent.index else None
        s = same_side.loc[reviewer] if reviewer in same_side.index else None
        figures[int(reviewer)] = {
            "n": int(n),
            "consistent": float(c["mean"]) if c is not None else None,
            "same_side": float(s["mean"]) if s is not None else None,
            "same_side_n": int(s["size"]) if s is not None else 0,
        }
    return figures


def repeats_entry(figures: dict | None) -> dict:
    """The `repeats` entry of a reviewers row: {n, consistent, same_side}."""
    figures = figures or {"n": 0, "consistent": None, "same_side": None}
    return {key: figures[key] for key in ("n", "consistent", "same_side")}


def position_bias_on_repeats(figures: dict | None) -> bool:
    """same_side > 0.5 over at least REPEAT_MIN_DECIDED decided repeats."""
    return bool(
        figures and figures["same_side_n"] >= REPEAT_MIN_DECIDED and figures["same_side"] > 0.5
    )
