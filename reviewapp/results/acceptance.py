"""Is each output acceptable? The Tulu 1 protocol's second question, beside the preference.

Answers live on the submitted assignments (`a_acceptable`, `b_acceptable`: one per output,
in content terms; missing when the experiment did not ask), so these figures read the
assignments frame, one row per pair review, with the same reviewers counted as in the
preference statistics and gold pairs left out (the caller passes them so).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import stats
from .pairs import CONFIDENCE

SPLIT = ("both_acceptable", "only_x", "only_y", "neither")


def _per_model(models: pd.Series, acceptable: pd.Series) -> pd.DataFrame:
    """Outputs judged (`n`) and judged acceptable, per model, of one output column."""
    known = acceptable.notna().to_numpy()
    frame = pd.DataFrame(
        {
            "model": np.asarray(models, dtype=object)[known],
            "acceptable": acceptable.to_numpy(dtype=bool, na_value=False)[known],
        }
    )
    return frame.groupby("model")["acceptable"].agg(n="size", acceptable="sum")


def acceptance_figures(assignments: pd.DataFrame) -> list[dict]:
    """Per model (by name), over every output of it judged for acceptability, pooled over
    the model's pairings: `n` outputs judged, `acceptable` of them, `rate` = acceptable / n
    and its Wilson 95 % interval `rate_ci`. Models with no output judged are left out."""
    counts = _per_model(assignments["model_a"], assignments["a_acceptable"]).add(
        _per_model(assignments["model_b"], assignments["b_acceptable"]), fill_value=0
    )
    rows = []
    for model, (n, acceptable) in sorted(
        zip(counts.index, counts.to_numpy().tolist(), strict=True)
    ):
        n, acceptable = int(n), int(acceptable)
        lo, hi = stats.wilson_interval(acceptable, n, CONFIDENCE)
        rows.append(
            {
                "model": model,
                "n": n,
                "acceptable": acceptable,
                "rate": acceptable / n,
                "rate_ci": [lo, hi],
            }
        )
    return rows


def acceptability_splits(assignments: pd.DataFrame) -> dict[tuple[str, str], dict]:
    """Per model pair (X, Y), oriented as the preference figures are: of the reviews that
    judged both outputs, how many found both acceptable, only X's, only Y's, neither."""
    both_known = assignments["a_acceptable"].notna() & assignments["b_acceptable"].notna()
    reviews = assignments[both_known.to_numpy()]
    if reviews.empty:
        return {}
    a_ok = reviews["a_acceptable"].to_numpy(dtype=bool)
    b_ok = reviews["b_acceptable"].to_numpy(dtype=bool)
    x_is_a = reviews["x_is_a"].to_numpy(dtype=bool)
    x_ok, y_ok = np.where(x_is_a, a_ok, b_ok), np.where(x_is_a, b_ok, a_ok)
    table = (
        pd.DataFrame(
            {
                "model_x": reviews["model_x"].array,
                "model_y": reviews["model_y"].array,
                "both_acceptable": x_ok & y_ok,
                "only_x": x_ok & ~y_ok,
                "only_y": ~x_ok & y_ok,
                "neither": ~x_ok & ~y_ok,
            }
        )
        .groupby(["model_x", "model_y"], observed=True, sort=False)[list(SPLIT)]
        .sum()
    )
    return {
        (x, y): dict(zip(SPLIT, map(int, counts), strict=True))
        for (x, y), counts in zip(table.index, table.to_numpy().tolist(), strict=True)
    }


def add_acceptability(pairs: list[dict], splits: dict[tuple[str, str], dict]) -> None:
    """Put each pair's split beside its win/tie/loss counts (`acceptability`; null when
    no review of the pair judged both outputs)."""
    for pair in pairs:
        pair["acceptability"] = splits.get((pair["model_x"], pair["model_y"]))
