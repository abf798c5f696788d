"""Uncertainty when judgments come in clusters (all judgments of one prompt), and the
length-adjusted win rate.

Judgments of the same prompt (several reviewers of one pair, one prompt answered by
several models) are not independent; treating them as if they were makes intervals too
narrow. The cluster of a judgment is given by the caller (the pair's prompt id, else its
exact prompt text).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import special

# A logistic fit whose coefficients pass this has no finite maximum (separation): the
# likelihood keeps rising as they grow, and the adjusted rate would be 0 or 1 by fiat.
MAX_LOGIT_COEF = 30.0
MAX_ITERATIONS = 100
TOLERANCE = 1e-10
MIN_JUDGMENTS_FOR_LENGTH = 10


def cluster_codes(clusters) -> tuple[np.ndarray, int]:
    """Cluster labels -> (codes 0..G-1 in order of first sorted label, G)."""
    _, codes = np.unique(np.asarray(clusters, dtype=object).astype(str), return_inverse=True)
    codes = codes.reshape(-1)
    return codes, int(codes.max()) + 1 if codes.size else 0


def cluster_robust_se(y, clusters) -> float | None:
    """Standard error of the mean of y with cluster-robust (CR1) covariance.

    The intercept's standard error in an intercept-only OLS,
    ``statsmodels.OLS(y, ones).fit(cov_type="cluster", cov_kwds={"groups": clusters})``
    with its defaults: V = G / (G - 1) * (N - 1) / (N - K) * sum_g (sum_{i in g} e_i)^2 / N^2
    with residuals e_i = y_i - mean(y) and K = 1 parameter. None with fewer than two
    observations or two clusters."""
    y = np.asarray(y, dtype=float)
    n = y.size
    codes, n_clusters = cluster_codes(clusters)
    if n < 2 or n_clusters < 2:
        return None
    residual_sums = np.bincount(codes, weights=y - y.mean(), minlength=n_clusters)
    variance = n_clusters / (n_clusters - 1) * float(residual_sums @ residual_sums) / n**2
    return float(np.sqrt(variance))


def iid_se(y) -> float | None:
    """sd(y, ddof=1) / sqrt(n): the standard error if every judgment were independent."""
    y = np.asarray(y, dtype=float)
    if y.size < 2:
        return None
    return float(np.std(y, ddof=1) / np.sqrt(y.size))


def design_effect(cluster_se: float | None, independent_se: float | None) -> float | None:
    """(clustered SE / iid SE)^2: how many times the variance grows through clustering."""
    if cluster_se is None or not independent_se:
        return None
    return float((cluster_se / independent_se) ** 2)


def cluster_bootstrap_draws(n_clusters: int, n_resamples: int, seed) -> np.ndarray:
    """(n_resamples, n_clusters) cluster codes drawn with replacement: each resample draws
    as many clusters as there are, and takes every judgment of each drawn cluster."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, n_clusters, size=(n_resamples, n_clusters))


def _percentile_interval(values: np.ndarray, confidence: float) -> tuple:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return (None, None)
    tail = 100 * (1 - confidence) / 2
    lo, hi = np.percentile(values, [tail, 100 - tail])
    return (float(lo), float(hi))


def cluster_bootstrap_mean_interval(
    y, codes: np.ndarray, n_clusters: int, draws: np.ndarray, confidence: float = 0.95
) -> tuple:
    """Percentile interval of the mean of y over cluster-bootstrap resamples (draws from
    cluster_bootstrap_draws over the same codes). (None, None) without resamples."""
    y = np.asarray(y, dtype=float)
    if y.size == 0 or draws.size == 0:
        return (None, None)
    sums = np.bincount(codes, weights=y, minlength=n_clusters)
    counts = np.bincount(codes, minlength=n_clusters).astype(float)
    means = sums[draws].sum(axis=1) / counts[draws].sum(axis=1)
    return _percentile_interval(means, confidence)


# --------------------------------------------------------------------------- length


class LengthFit(NamedTuple):
    intercept: float
    coef: float


def _fit_logit_batch(y: np.ndarray, d: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Newton-Raphson for logit P(y) = b0 + b1 d with fractional y, a row per problem.

    y, d, w: (R, U) outcomes, covariates, weights (frequency weights; 0 = absent).
    Returns (R, 2) coefficients, NaN where the fit has no finite maximum or does not
    converge within MAX_ITERATIONS."""
    beta = np.zeros((y.shape[0], 2))
    active = np.ones(y.shape[0], dtype=bool)
    converged = np.zeros(y.shape[0], dtype=bool)
    for _ in range(MAX_ITERATIONS):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        b, yy, dd, ww = beta[idx], y[idx], d[idx], w[idx]
        p = special.expit(b[:, :1] + b[:, 1:] * dd)
        r = ww * (yy - p)
        v = ww * p * (1 - p)
        g0, g1 = r.sum(axis=1), (r * dd).sum(axis=1)
        h00, h01, h11 = v.sum(axis=1), (v * dd).sum(axis=1), (v * dd * dd).sum(axis=1)
        det = h00 * h11 - h01 * h01
        with np.errstate(divide="ignore", invalid="ignore"):
            step0 = (h11 * g0 - h01 * g1) / det
            step1 = (h00 * g1 - h01 * g0) / det
        step = np.stack([step0, step1], axis=1)
        beta[idx] = b + step
        bad = ~np.isfinite(step).all(axis=1) | (np.abs(beta[idx]) > MAX_LOGIT_COEF).any(axis=1)
        done = np.abs(step).max(axis=1) < TOLERANCE
        converged[idx[done & ~bad]] = True
        beta[idx[bad]] = np.nan
        active[idx[bad | done]] = False
    beta[~converged] = np.nan
    return beta


def _length_covariate(diff: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """tanh(diff / s) per row, s the sample sd (ddof 1) of diff over the row's weighted
    judgments; NaN rows where s is 0 or undefined."""
    n = weights.sum(axis=1, keepdims=True)
    mean = (weights * diff).sum(axis=1, keepdims=True) / n
    with np.errstate(divide="ignore", invalid="ignore"):
        var = (weights * (diff - mean) ** 2).sum(axis=1, keepdims=True) / (n - 1)
        s = np.sqrt(var)
        s[~(s > 0)] = np.nan
        return np.tanh(diff / s)


def length_adjusted_fit(y, len_x, len_y) -> LengthFit | None:
    """The length-adjusted logistic fit over the judgments of one model pair.

    y = 1 when X won, 0 when Y won, 0.5 for a tie; d = tanh((len_x - len_y) / s) with s the
    sample sd (ddof 1) of len_x - len_y; logit P(y) = b0 + b1 d fitted by maximum likelihood
    with fractional outcomes, as ``statsmodels.GLM(y, [1, d], family=Binomial()).fit()``.
    None with fewer than MIN_JUDGMENTS_FOR_LENGTH judgments, s = 0, or no convergence."""
    y = np.asarray(y, dtype=float)
    if y.size < MIN_JUDGMENTS_FOR_LENGTH:
        return None
    diff = (np.asarray(len_x, dtype=float) - np.asarray(len_y, dtype=float))[None, :]
    weights = np.ones_like(diff)
    d = _length_covariate(diff, weights)
    if not np.isfinite(d).all():
        return None
    (b0, b1) = _fit_logit_batch(y[None, :], d, weights)[0]
    if not (np.isfinite(b0) and np.isfinite(b1)):
        return None
    return LengthFit(float(b0), float(b1))


def length_adjusted_interval(
    y,
    len_x,
    len_y,
    codes: np.ndarray,
    n_clusters: int,
    draws: np.ndarray,
    confidence: float = 0.95,
    chunk: int = 250,
) -> tuple:
    """Percentile interval of sigmoid(b0) over cluster-bootstrap resamples: each resample
    takes every judgment (ties included) of its drawn clusters and recomputes s, d and the
    fit; resamples without a fit are left out. The draws are those of the clustered win
    rate, so both intervals see the same resamples."""
    y = np.asarray(y, dtype=float)
    diff = np.asarray(len_x, dtype=float) - np.asarray(len_y, dtype=float)
    if y.size == 0 or draws.size == 0:
        return (None, None)
    # Judgments of one cluster with the same outcome and length difference are one row
    # with a count: a resample only changes how often each row is counted.
    keys = np.stack([codes.astype(float), y, diff], axis=1)
    rows, row_of, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
    row_cluster = rows[:, 0].astype(int)
    del row_of
    rates = []
    for start in range(0, draws.shape[0], chunk):
        block = draws[start : start + chunk]
        # How often each cluster was drawn in each resample -> weights per row.
        times = np.zeros((block.shape[0], n_clusters))
        np.add.at(times, (np.repeat(np.arange(block.shape[0]), block.shape[1]), block.ravel()), 1)
        weights = times[:, row_cluster] * counts[None, :]
        diff_rows = np.broadcast_to(rows[:, 2], weights.shape)
        d = _length_covariate(diff_rows, weights)
        d = np.where(weights > 0, d, 0.0)
        ok = np.isfinite(d).all(axis=1)
        beta = np.full((block.shape[0], 2), np.nan)
        if ok.any():
            y_rows = np.broadcast_to(rows[:, 1], weights.shape)
            beta[ok] = _fit_logit_batch(y_rows[ok], d[ok], weights[ok])
        rates.append(special.expit(beta[:, 0]))
    return _percentile_interval(np.concatenate(rates), confidence)
