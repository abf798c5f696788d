"""Per model pair: what the plain counts cannot say. Intervals clustered by prompt, the
length-adjusted win rate, non-inferiority against a margin, and the test that stays valid
however often the owner looks (docs/results.md, "Clustered by prompt" and after).

Every figure is a function of one dimension's counted judgments; the statistics are in
stats/clustered.py, stats/multiple.py and stats/sequential.py.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special

from .. import stats
from ..stats import clustered, multiple, sequential
from .pairs import CONFIDENCE

# x_longer_share outside [LONGER_SHARE_LOW, 1 - LONGER_SHARE_LOW]: the adjusted rate is a
# statement about equal lengths that the data hardly contain.
LONGER_SHARE_LOW = 0.1


@dataclass
class ArrivalOrder:
    """What orders judgments as they arrived: submitted_at, then the pair id, then the
    reviewer's username (both by code point). `pair_rank`: the rank of each external_id
    category; `reviewers` (sorted ids) and their `reviewer_rank`."""

    pair_rank: np.ndarray
    reviewers: np.ndarray
    reviewer_rank: np.ndarray

    def keys(self, judgments: pd.DataFrame) -> np.ndarray:
        """(n, 3) integer keys of `judgments`, to sort by in that order."""
        reviewers = judgments["reviewer"].to_numpy()
        return np.column_stack(
            [
                judgments["submitted_us"].to_numpy(),
                self.pair_rank[judgments["external_id"].cat.codes.to_numpy()],
                self.reviewer_rank[np.searchsorted(self.reviewers, reviewers)],
            ]
        )


def arrival_order(counted: pd.DataFrame, names: dict[int, str]) -> ArrivalOrder:
    external_ids = np.array(counted["external_id"].cat.categories, dtype=object)
    reviewers = np.unique(counted["reviewer"].to_numpy())
    by_name = sorted(reviewers.tolist(), key=lambda r: names.get(r, str(r)))
    reviewer_rank = np.empty(reviewers.size, dtype=np.int64)
    reviewer_rank[np.searchsorted(reviewers, by_name)] = np.arange(reviewers.size)
    return ArrivalOrder(np.argsort(np.argsort(external_ids)), reviewers, reviewer_rank)


def _pair_seed(seed: list[int], model_x: str, model_y: str) -> list[int]:
    # Per model pair and stable whatever other pairs exist: the experiment seed, the
    # dimension's position and a checksum of the two names.
    return [*seed, zlib.crc32(f"{model_x}\0{model_y}".encode())]


def _length_figures(model_x: str, length_x, length_y, fit, interval) -> dict:
    share = float((length_x > length_y).mean())
    warning = None
    if share < LONGER_SHARE_LOW or share > 1 - LONGER_SHARE_LOW:
        warning = (
            f"{model_x}'s output is longer in {100 * share:.0f} % of the judgments: the "
            "adjusted rate extrapolates to equal lengths, which the data hardly contain."
        )
    return {
        "x_mean_chars": float(length_x.mean()),
        "y_mean_chars": float(length_y.mean()),
        "x_longer_share": share,
        "coef": None if fit is None else fit.coef,
        "adjusted_x_win_rate": None if fit is None else float(special.expit(fit.intercept)),
        "adjusted_ci": list(interval),
        "warning": warning,
    }


def _more_needed(rate, decided, interval, effect) -> int | None:
    """Decided judgments still needed for the clustered interval to exclude 1/2: 0 once it
    does; else the Wilson count at the observed rate times the design effect, minus the
    decided judgments so far (at least 1)."""
    lo, hi = interval
    if lo > 0.5 or hi < 0.5:
        return 0
    if effect is None or rate == 0.5:
        return None
    wilson = stats.judgments_needed_to_exclude_half(rate, 1, CONFIDENCE)
    return max(1, math.ceil(effect * wilson) - decided)


def _anytime(x_won: np.ndarray, keys: np.ndarray) -> tuple:
    """The anytime-valid p-value and 95 % confidence sequence of the decided outcomes,
    taken in arrival order (`keys`: their rows of ArrivalOrder.keys)."""
    if x_won.size == 0:
        return None, [None, None]
    order = np.argsort(keys[:, 0], kind="stable")
    if (np.diff(keys[order, 0]) == 0).any():  # equal instants: the full order
        order = np.lexsort(keys.T[::-1])
    in_order = x_won[order]
    lo, hi = sequential.anytime_interval(int(in_order.sum()), int(in_order.size))
    return sequential.anytime_p_value(in_order), [lo, hi]


def pair_extras(
    on_dimension: pd.DataFrame,
    arrival: ArrivalOrder,
    *,
    margin: float,
    seed: list[int],
    n_resamples: int,
) -> dict[tuple[str, str], dict]:
    """{(X, Y): figures} for each model pair judged on one dimension."""
    keys = arrival.keys(on_dimension)
    result = {}
    groups = on_dimension.groupby(["model_x", "model_y"], observed=True, sort=False).indices
    outcome_codes = on_dimension["outcome"].cat.codes.to_numpy()  # 0 X, 1 Y, 2 tie
    cluster_all = on_dimension["cluster"].cat.codes.to_numpy()
    n_categories = len(on_dimension["cluster"].cat.categories)
    length_x_all = on_dimension["length_x"].to_numpy()
    length_y_all = on_dimension["length_y"].to_numpy()
    for (model_x, model_y), at in groups.items():
        outcome, cluster = outcome_codes[at], cluster_all[at]
        length_x, length_y = length_x_all[at].astype(float), length_y_all[at].astype(float)
        decided = outcome < 2
        x_won = (outcome[decided] == 0).astype(float)
        # Per prompt holding decided judgments (the clusters drawn): X wins and decided.
        trials = np.bincount(cluster[decided], minlength=n_categories)
        prompts = np.flatnonzero(trials)
        wins = np.bincount(cluster[decided], weights=x_won, minlength=n_categories)[prompts]
        trials = trials[prompts].astype(float)
        n_prompts, n_decided, x_wins = prompts.size, int(decided.sum()), int(x_won.sum())
        cluster_se = clustered.cluster_robust_se_from_sums(wins, trials)
        effect = clustered.design_effect(cluster_se, clustered.iid_se(x_won))
        # Every judgment, ties as half: what the length adjustment is fitted on.
        y = np.where(outcome == 0, 1.0, np.where(outcome == 1, 0.0, 0.5))
        fit = clustered.length_adjusted_fit(y, length_x, length_y)
        interval = adjusted = (None, None)
        if n_prompts >= 2 and n_resamples > 0:
            rng = np.random.default_rng(_pair_seed(seed, model_x, model_y))
            if fit is None:
                interval = clustered.cluster_bootstrap_rate_interval(
                    wins, trials, n_resamples, rng, CONFIDENCE
                )
            else:
                # The same draws for both intervals: a drawn prompt brings all its judgments
                # of this pair, ties included; prompts holding only ties are never drawn.
                counts = clustered.cluster_draw_counts(n_prompts, n_resamples, rng)
                interval = clustered.cluster_bootstrap_ratio_interval(
                    wins, trials, counts, CONFIDENCE
                )
                position = np.full(n_categories, -1)
                position[prompts] = np.arange(n_prompts)
                codes = position[cluster]
                adjusted = clustered.length_adjusted_interval(
                    y, length_x, length_y, codes, counts, CONFIDENCE, start=fit
                )
        rate = x_wins / n_decided if n_decided else None
        ni = multiple.non_inferiority(x_wins, n_decided, margin, cluster_se)
        anytime_p, anytime_ci = _anytime(x_won, keys[at[decided]])
        figures = {
            "prompts": n_prompts,
            "x_win_rate_cluster_se": cluster_se,
            "design_effect": effect,
            "x_win_rate_cluster_ci": list(interval),
            "length": _length_figures(model_x, length_x, length_y, fit, adjusted),
            "noninferiority": {
                "margin": ni.margin,
                "p_value": ni.p_value,
                "cluster_p_value": ni.cluster_p_value,
                "holds": ni.holds,
            },
            "anytime_p_value": anytime_p,
            "anytime_ci": anytime_ci,
        }
        if interval[0] is not None:
            figures["more_decided_needed"] = _more_needed(rate, n_decided, interval, effect)
        result[(model_x, model_y)] = figures
    return result
