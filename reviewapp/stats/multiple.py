"""Many comparisons at once (results by tag), heterogeneity across tags, and
non-inferiority."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import special
from scipy import stats as scipy_stats

from ._checks import _as_count


def holm_adjusted(p_values) -> list[float]:
    """Holm's step-down adjusted p-values, as statsmodels' multipletests(method="holm"):
    sorted ascending, p_(i) * (m - i + 1), running maximum, capped at 1."""
    p = np.asarray(p_values, dtype=float)
    m = p.size
    if m == 0:
        return []
    order = np.argsort(p, kind="stable")
    stepped = np.maximum.accumulate(p[order] * (m - np.arange(m)))
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(stepped, 1.0)
    return [float(v) for v in adjusted]


def bh_adjusted(p_values) -> list[float]:
    """Benjamini-Hochberg (1995) adjusted p-values, as multipletests(method="fdr_bh"):
    sorted ascending, p_(i) * m / i, running minimum from the largest, capped at 1."""
    p = np.asarray(p_values, dtype=float)
    m = p.size
    if m == 0:
        return []
    order = np.argsort(p, kind="stable")
    scaled = p[order] * m / np.arange(1, m + 1)
    stepped = np.minimum.accumulate(scaled[::-1])[::-1]
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(stepped, 1.0)
    return [float(v) for v in adjusted]


class Heterogeneity(NamedTuple):
    chi2: float
    dof: int
    p_value: float


def tag_heterogeneity(x_wins, y_wins) -> Heterogeneity | None:
    """Pearson's chi-square test of independence on the tags x (X wins, Y wins) table, as
    ``scipy.stats.chi2_contingency(table, correction=False)``; the caller passes the tags
    with decided judgments. None with fewer than two tags or a zero column."""
    table = np.column_stack([np.asarray(x_wins, dtype=float), np.asarray(y_wins, dtype=float)])
    if table.shape[0] < 2 or (table.sum(axis=0) == 0).any():
        return None
    chi2, p, dof, _ = scipy_stats.chi2_contingency(table, correction=False)
    return Heterogeneity(float(chi2), int(dof), float(p))


class NonInferiority(NamedTuple):
    margin: float
    p_value: float | None
    cluster_p_value: float | None
    holds: bool


def non_inferiority(
    x_wins: int, decided: int, margin: float, cluster_se: float | None, alpha: float = 0.05
) -> NonInferiority:
    """H0: X's win rate <= 1/2 - margin. `p_value`: the exact one-sided binomial test,
    ``scipy.stats.binomtest(x_wins, decided, 0.5 - margin, alternative="greater")``;
    `cluster_p_value`: 1 - Phi((rate - (1/2 - margin)) / cluster_se). `holds` when both
    are below alpha."""
    x_wins, decided = _as_count(x_wins, "x_wins"), _as_count(decided, "decided")
    if not 0 <= margin < 0.5:
        raise ValueError(f"margin must be in [0, 0.5), got {margin}")
    if decided == 0:
        return NonInferiority(margin, None, None, False)
    null = 0.5 - margin
    # P[X >= x_wins] for X ~ Binomial(decided, null): scipy's binom.sf without its
    # per-call overhead (bdtrc(k, n, p) = P[X > k]).
    p_value = 1.0 if x_wins == 0 else float(special.bdtrc(x_wins - 1, decided, null))
    rate = x_wins / decided
    cluster_p = None
    if cluster_se:
        cluster_p = float(special.ndtr((null - rate) / cluster_se))  # 1 - Phi(z) = Phi(-z)
    elif cluster_se == 0 and rate != null:
        # Every judgment went one way: the limit of 1 - Phi(z) as z goes to +-infinity.
        cluster_p = 0.0 if rate > null else 1.0
    holds = cluster_p is not None and p_value < alpha and cluster_p < alpha
    return NonInferiority(margin, min(p_value, 1.0), cluster_p, bool(holds))
