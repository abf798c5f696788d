"""Figures per model pair (X vs Y) and per model: counts, win rates, Bradley-Terry ratings."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import stats
from .frame import count_outcomes

CONFIDENCE = 0.95
POWER = 0.8


@dataclass
class PairCounts:
    """Outcomes of one model pair on one dimension, oriented as X vs Y."""

    model_x: str
    model_y: str
    x_wins: int = 0
    y_wins: int = 0
    ties: int = 0

    @property
    def n(self) -> int:
        return self.x_wins + self.y_wins + self.ties


def pair_counts(counted: pd.DataFrame, dimensions: list[str]) -> dict[str, list[PairCounts]]:
    """Per dimension (every one, in rubric order): the outcomes of each model pair,
    sorted by (X, Y) in code-point order."""
    table = count_outcomes(counted, ["dimension", "model_x", "model_y"])
    result: dict[str, list[PairCounts]] = {name: [] for name in dimensions}
    for (dimension, x, y), (x_wins, y_wins, ties) in zip(
        table.index, table.to_numpy().tolist(), strict=True
    ):
        result[dimension].append(PairCounts(x, y, x_wins, y_wins, ties))
    for pairs in result.values():
        pairs.sort(key=lambda c: (c.model_x, c.model_y))
    return result


@functools.lru_cache(maxsize=8192)
def _min_detectable_win_rate(decided: int) -> float | None:
    # Pure and slow-ish (exact binomial power by bisection): memoised,
    # so reloading a page or a dimension with the same n does not pay again.
    return stats.min_detectable_win_rate(decided, POWER, 0.05)


def pair_figures(counts: PairCounts) -> dict:
    decided = counts.x_wins + counts.y_wins
    lo, hi = stats.wilson_interval(counts.x_wins, decided, CONFIDENCE)
    rate = counts.x_wins / decided if decided else None
    excludes = None if lo is None else (lo > 0.5 or hi < 0.5)
    needed = stats.judgments_needed_to_exclude_half(counts.x_wins, decided, CONFIDENCE)
    return {
        "model_x": counts.model_x,
        "model_y": counts.model_y,
        "n": counts.n,
        "x_wins": counts.x_wins,
        "y_wins": counts.y_wins,
        "ties": counts.ties,
        "decided": decided,
        "x_win_rate": rate,
        "x_win_rate_ci": [lo, hi],
        "x_win_rate_ties_half": (counts.x_wins + counts.ties / 2) / counts.n if counts.n else None,
        "p_value": stats.binomial_test_two_sided(counts.x_wins, decided),
        "ci_excludes_half": excludes,
        # Non-tie judgments still needed (at the observed rate) for the interval to
        # exclude 50 %; 0 once it does, null when the rate is exactly 50 % or n is 0.
        "more_decided_needed": None if needed is None else needed - decided,
        "min_detectable_win_rate": _min_detectable_win_rate(decided),
    }


def model_figures(pairs: list[PairCounts], seed: list[int], n_resamples: int) -> list[dict]:
    """Per model: wins, losses, ties and its Bradley-Terry rating with a bootstrap interval
    (`n_resamples` = 0: no interval), best first."""
    models = sorted({m for c in pairs for m in (c.model_x, c.model_y)})
    if not models:
        return []
    index = {m: i for i, m in enumerate(models)}
    record = {m: [0, 0, 0] for m in models}  # wins, losses, ties
    for c in pairs:
        record[c.model_x][0] += c.x_wins
        record[c.model_x][1] += c.y_wins
        record[c.model_x][2] += c.ties
        record[c.model_y][0] += c.y_wins
        record[c.model_y][1] += c.x_wins
        record[c.model_y][2] += c.ties
    model_i = [index[c.model_x] for c in pairs]
    model_j = [index[c.model_y] for c in pairs]
    x_wins = [c.x_wins for c in pairs]
    y_wins = [c.y_wins for c in pairs]
    ties = [c.ties for c in pairs]
    if n_resamples > 0:
        fit = stats.bootstrap_bradley_terry(
            len(models), model_i, model_j, x_wins, y_wins, ties,
            seed=np.random.default_rng(seed), n_resamples=n_resamples, confidence=CONFIDENCE,
        )  # fmt: skip
        ratings, ranks, lower, upper = fit.ratings, fit.ranks, fit.lower, fit.upper
    else:
        wins = stats.build_win_matrix(len(models), model_i, model_j, x_wins, y_wins, ties)
        ratings = stats.bradley_terry_ratings(wins)
        ranks = None if ratings is None else stats.rank_ratings(ratings)
        lower = upper = None
    rows = []
    for i, model in enumerate(models):
        wins_, losses, ties_ = record[model]
        rows.append(
            {
                "model": model,
                "wins": wins_,
                "losses": losses,
                "ties": ties_,
                "n": wins_ + losses + ties_,
                "rating": None if ratings is None else ratings[i],
                "rating_ci": [
                    None if lower is None else lower[i],
                    None if upper is None else upper[i],
                ],
                "rank": None if ranks is None else ranks[i],
            }
        )
    # Best first; models without a rating (no MLE) by name.
    rows.sort(key=lambda r: (r["rank"] is None, r["rank"] or 0, r["model"]))
    return rows


def position_bias_figures(chose_left: pd.Series) -> dict:
    """How often the output shown on the left won, over decided judgments with a known side
    (`chose_left` not missing)."""
    left_wins, n = int(chose_left.sum()), int(chose_left.count())
    bias = stats.position_bias(left_wins, n, CONFIDENCE)
    return {
        "n": n,
        "left_wins": left_wins,
        "left_share": bias.share,
        "left_share_ci": [bias.ci_low, bias.ci_high],
        "p_value": bias.p_value,
    }
