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
from scipy import sparse, special

# A logistic fit whose coefficients pass this has no finite maximum (separation): the
# likelihood keeps rising as they grow, and the adjusted rate would be 0 or 1 by fiat.
MAX_LOGIT_COEF = 30.0
MAX_ITERATIONS = 100
TOLERANCE = 1e-10
MIN_JUDGMENTS_FOR_LENGTH = 10
# Resamples x length differences held at once by the length bootstrap (8 bytes each):
# arrays that stay in the processor's cache (bench/README.md, "Results").
RESAMPLE_CELLS = 100_000


def cluster_codes(clusters) -> tuple[np.ndarray, int]:
    """Cluster labels (numbers or strings) -> (codes 0..G-1 in sorted label order, G)."""
    _, codes = np.unique(np.asarray(clusters), return_inverse=True)
    codes = codes.reshape(-1)
    return codes, int(codes.max()) + 1 if codes.size else 0


def cluster_robust_se(y, clusters) -> float | None:
    """Standard error of the mean of y with cluster-robust (CR1) covariance.

    The intercept's standard error in an intercept-only OLS,
    ``statsmodels.OLS(y, ones).fit(cov_type="cluster", cov_kwds={"groups": clusters})``
    with its defaults: V = G / (G - 1) * (N - 1) / (N - K) * sum_g (sum_{i in g} e_i)^2 / N^2
    with residuals e_i = y_i - mean(y) and K = 1 parameter (so (N - 1) / (N - K) = 1).
    None with fewer than two observations or two clusters."""
    y = np.asarray(y, dtype=float)
    codes, n_clusters = cluster_codes(clusters)
    sums = np.bincount(codes, weights=y, minlength=n_clusters)
    return cluster_robust_se_from_sums(sums, np.bincount(codes, minlength=n_clusters))


def cluster_robust_se_from_sums(sums, counts) -> float | None:
    """cluster_robust_se from each cluster's sum of y and number of observations (the
    residuals' sum in cluster g is sum_g - n_g * mean(y))."""
    sums, counts = np.asarray(sums, dtype=float), np.asarray(counts, dtype=float)
    n, n_clusters = float(counts.sum()), int(np.count_nonzero(counts))
    if n < 2 or n_clusters < 2:
        return None
    residual_sums = sums - counts * (sums.sum() / n)
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


def cluster_draw_counts(n_clusters: int, n_resamples: int, rng) -> np.ndarray:
    """(n_resamples, n_clusters): how often each cluster is drawn when each resample draws
    n_clusters clusters uniformly with replacement (every judgment of a drawn cluster
    comes along as many times)."""
    rng = np.random.default_rng(rng)
    draws = rng.integers(0, n_clusters, size=(n_resamples, n_clusters))
    draws += np.arange(n_resamples)[:, None] * n_clusters
    return np.bincount(draws.ravel(), minlength=n_resamples * n_clusters).reshape(
        n_resamples, n_clusters
    )


def _percentile_interval(values: np.ndarray, confidence: float) -> tuple:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return (None, None)
    tail = 100 * (1 - confidence) / 2
    lo, hi = np.percentile(values, [tail, 100 - tail])
    return (float(lo), float(hi))


def cluster_bootstrap_ratio_interval(
    successes, trials, counts: np.ndarray, confidence: float = 0.95
) -> tuple:
    """Percentile interval of sum(successes) / sum(trials) over cluster-bootstrap
    resamples: `successes`, `trials` per cluster, `counts` from cluster_draw_counts."""
    if counts.size == 0:
        return (None, None)
    # One product for both sums: the counts are read (and made floats) once.
    sums = counts @ np.stack([successes, trials], axis=1).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return _percentile_interval(sums[:, 0] / sums[:, 1], confidence)


def cluster_bootstrap_rate_interval(
    successes, trials, n_resamples: int, rng, confidence: float = 0.95
) -> tuple:
    """The same interval as cluster_bootstrap_ratio_interval over cluster_draw_counts, drawn
    by cluster kind: a resample's ratio only depends on how many clusters of each
    (successes, trials) were drawn, and drawing G clusters uniformly with replacement
    draws those numbers from Multinomial(G, share of each kind). So the cost is
    n_resamples x the kinds (a few dozen), not n_resamples x G. Successes and trials are
    whole numbers."""
    successes = np.asarray(successes, dtype=float)
    trials = np.asarray(trials, dtype=float)
    n_clusters = successes.size
    if n_clusters == 0 or n_resamples <= 0:
        return (None, None)
    rng = np.random.default_rng(rng)
    # One number per kind (whole numbers, successes <= trials).
    key = successes * (trials.max() + 1) + trials
    _, first, frequency = np.unique(key, return_index=True, return_counts=True)
    counts = rng.multinomial(n_clusters, frequency / n_clusters, size=n_resamples)
    return cluster_bootstrap_ratio_interval(successes[first], trials[first], counts, confidence)


# --------------------------------------------------------------------------- length


class LengthFit(NamedTuple):
    intercept: float
    coef: float


def _fit_logit_batch(
    y: np.ndarray, d: np.ndarray, w: np.ndarray, start: tuple[float, float] = (0.0, 0.0)
) -> np.ndarray:
    """Newton-Raphson for logit P(y) = b0 + b1 d with fractional y, a row per problem.

    y, d, w: (R, U) outcomes, covariates, weights (frequency weights; 0 = absent).
    Returns (R, 2) coefficients, NaN where the fit has no finite maximum or does not
    converge within MAX_ITERATIONS. `start` only changes how fast it gets there."""
    beta = np.tile(np.asarray(start, dtype=float), (y.shape[0], 1))
    converged = np.zeros(y.shape[0], dtype=bool)
    rows = np.arange(y.shape[0])  # the problems still iterating: y, d, w hold only these
    for _ in range(MAX_ITERATIONS):
        if rows.size == 0:
            break
        b = beta[rows]
        p = special.expit(b[:, :1] + b[:, 1:] * d)
        r = w * (y - p)
        v = w * p * (1 - p)
        vd = v * d
        # Row sums and row-wise dot products without temporaries of the full size.
        g0, g1 = r.sum(axis=1), np.einsum("ij,ij->i", r, d)
        h00, h01, h11 = v.sum(axis=1), vd.sum(axis=1), np.einsum("ij,ij->i", vd, d)
        det = h00 * h11 - h01 * h01
        with np.errstate(divide="ignore", invalid="ignore"):
            step0 = (h11 * g0 - h01 * g1) / det
            step1 = (h00 * g1 - h01 * g0) / det
        step = np.stack([step0, step1], axis=1)
        beta[rows] = b + step
        bad = ~np.isfinite(step).all(axis=1) | (np.abs(beta[rows]) > MAX_LOGIT_COEF).any(axis=1)
        done = np.abs(step).max(axis=1) < TOLERANCE
        converged[rows[done & ~bad]] = True
        beta[rows[bad]] = np.nan
        going = ~(bad | done)
        if not going.all():  # copy the arrays only when some problem has finished
            rows, y, d, w = rows[going], y[going], d[going], w[going]
    beta[~converged] = np.nan
    return beta


def _length_covariate(diff: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """tanh(diff / s) per row, s the sample sd (ddof 1) of diff over the row's weighted
    judgments; NaN rows where s is 0 or undefined."""
    n = weights.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = (weights * diff).sum(axis=1, keepdims=True) / n
        var = (weights * (diff - mean) ** 2).sum(axis=1, keepdims=True) / (n - 1)
        s = np.sqrt(var)
        s[~(s > 0)] = np.nan
        return np.tanh(diff / s)


def _by_difference(diff: np.ndarray):
    """Judgments with the same length difference share d, so in the likelihood they are
    one row weighted by their number, with their mean outcome: (values, index of each
    judgment's value)."""
    values, at = np.unique(diff, return_inverse=True)
    return values, at.reshape(-1)


def length_adjusted_fit(y, len_x, len_y) -> LengthFit | None:
    """The length-adjusted logistic fit over the judgments of one model pair.

    y = 1 when X won, 0 when Y won, 0.5 for a tie; d = tanh((len_x - len_y) / s) with s the
    sample sd (ddof 1) of len_x - len_y; logit P(y) = b0 + b1 d fitted by maximum likelihood
    with fractional outcomes, as ``statsmodels.GLM(y, [1, d], family=Binomial()).fit()``.
    None with fewer than MIN_JUDGMENTS_FOR_LENGTH judgments, s = 0, or no convergence."""
    y = np.asarray(y, dtype=float)
    if y.size < MIN_JUDGMENTS_FOR_LENGTH:
        return None
    diff = np.asarray(len_x, dtype=float) - np.asarray(len_y, dtype=float)
    if diff.min() == diff.max():
        return None  # s = 0
    values, at = _by_difference(diff)
    weights = np.bincount(at, minlength=values.size).astype(float)[None, :]
    y_sums = np.bincount(at, weights=y, minlength=values.size)[None, :]
    d = _length_covariate(values[None, :], weights)
    if not np.isfinite(d).all():
        return None
    (b0, b1) = _fit_logit_batch(y_sums / weights, d, weights)[0]
    if not (np.isfinite(b0) and np.isfinite(b1)):
        return None
    return LengthFit(float(b0), float(b1))


def length_adjusted_interval(
    y,
    len_x,
    len_y,
    codes: np.ndarray,
    counts: np.ndarray,
    confidence: float = 0.95,
    start: LengthFit | None = None,
) -> tuple:
    """Percentile interval of sigmoid(b0) over cluster-bootstrap resamples: each resample
    takes every judgment (ties included) of its drawn clusters as often as the cluster was
    drawn (`counts` from cluster_draw_counts; `codes` the cluster of each judgment, -1 for
    one in no drawable cluster) and recomputes s, d and the fit; resamples without a fit
    are left out. `start` (the full-sample fit) only speeds up the fits."""
    y = np.asarray(y, dtype=float)
    diff = np.asarray(len_x, dtype=float) - np.asarray(len_y, dtype=float)
    codes = np.asarray(codes)
    drawable = codes >= 0
    if not drawable.any() or counts.size == 0:
        return (None, None)
    values, at = _by_difference(diff[drawable])
    shape = (counts.shape[1], values.size)
    # Per cluster and length difference: judgments and the sum of their outcomes; a
    # resample's weights are then the draw counts times these.
    cluster_judgments = sparse.csr_matrix(
        (np.ones(at.size), (codes[drawable], at)), shape=shape
    ).T.tocsr()
    cluster_outcomes = sparse.csr_matrix(
        (y[drawable], (codes[drawable], at)), shape=shape
    ).T.tocsr()
    begin = (0.0, 0.0) if start is None else (start.intercept, start.coef)
    chunk = max(1, RESAMPLE_CELLS // values.size)
    rates = []
    for first in range(0, counts.shape[0], chunk):
        block = counts[first : first + chunk].T.astype(float)
        weights = np.asarray(cluster_judgments @ block).T
        outcome_sums = np.asarray(cluster_outcomes @ block).T
        d = _length_covariate(np.broadcast_to(values, weights.shape), weights)
        ok = np.isfinite(d).all(axis=1)
        beta = np.full((weights.shape[0], 2), np.nan)
        if ok.any():
            with np.errstate(divide="ignore", invalid="ignore"):
                outcome = np.where(weights > 0, outcome_sums / weights, 0.0)
            beta[ok] = _fit_logit_batch(outcome[ok], d[ok], weights[ok], begin)
        rates.append(special.expit(beta[:, 0]))
    return _percentile_interval(np.concatenate(rates), confidence)
