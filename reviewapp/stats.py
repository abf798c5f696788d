"""Statistics for blind A/B review: pure functions over numpy arrays.

Everything here is a pure function of its arguments: no Django, nothing from the app, no
randomness without an explicit seed. Figures come back as plain Python ``float``/``int``
(never numpy scalars) and as ``None`` where the figure is undefined (never NaN).

Public functions, by topic (``k`` models, ``P`` model pairs, ``I`` items, ``C`` categories):

Proportions and binomial tests
    ``wilson_interval(successes, n, confidence=0.95) -> (lo, hi)``
        Wilson score interval; ``(None, None)`` when ``n == 0``.
    ``binomial_test_two_sided(k, n, p=0.5) -> float | None``
        Exact two-sided p-value, same definition as ``scipy.stats.binomtest(k, n, p).pvalue``;
        ``None`` when ``n == 0``.
    ``binomial_test_one_sided_less(k, n, p) -> float | None``
        ``P[X <= k]`` for ``X ~ Binomial(n, p)``; ``None`` when ``n == 0``.
    ``position_bias(left_wins, n_decided) -> PositionBias(share, ci_low, ci_high, p_value)``
        Share of decided judgments won by the left-hand side, its Wilson interval and the exact
        two-sided test of 1/2; all ``None`` when ``n_decided == 0``.

Bradley-Terry ratings (LMSYS Chatbot Arena scale)
    ``build_win_matrix(n_models, model_i, model_j, i_wins, j_wins, ties) -> ndarray (k, k)``
        Aggregates per-pair counts into ``W[a, b]`` = wins of ``a`` over ``b`` + half the ties.
    ``bradley_terry_mle_exists(wins) -> bool``
        Zermelo/Ford condition: the "beat" digraph of ``W > 0`` is strongly connected.
    ``bradley_terry_ratings(wins) -> list[float] | None``
        Maximum-likelihood ratings, mean exactly 1000, 400 points per factor 10 in odds;
        ``None`` when the MLE does not exist.
    ``rank_ratings(ratings) -> list[int]``
        Competition ranking, 1 = best, equal ratings share a rank ("1, 2, 2, 4").
    ``bootstrap_bradley_terry(n_models, model_i, model_j, i_wins, j_wins, ties, *, seed,
    n_resamples=1000, confidence=0.95, min_valid_fraction=0.9) -> BradleyTerryBootstrap``
        Point ratings and ranks plus percentile intervals from a multinomial resampling of the
        judgments (see the function for what happens to resamples without an MLE).

Agreement between raters (nominal categories)
    ``percent_agreement(counts) -> float | None``
    ``fleiss_kappa(counts) -> float | None``
    ``krippendorff_alpha_nominal(counts) -> float | None``
        ``counts`` is an ``I x C`` matrix: ``counts[i, c]`` = number of raters who put item ``i``
        in category ``c`` (a SQL ``GROUP BY item, category``).
    ``cohen_kappa(labels_a, labels_b) -> float | None``
    ``cohen_kappa_from_table(table) -> float | None``
        Two raters on their shared items, from the label lists or from the ``C x C`` table.

Sample size and power
    ``judgments_needed_to_exclude_half(successes, n, confidence=0.95) -> int | None``
        Smallest total number of non-tie judgments ``N >= n`` whose Wilson interval at the
        observed rate excludes 1/2 (the caller reports ``N - n`` more).
    ``min_detectable_win_rate(n, power=0.8, alpha=0.05) -> float | None``
        Smallest true win rate above 1/2 that the exact two-sided binomial test detects with the
        given power at ``n`` non-tie judgments.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy import special
from scipy.stats import binom, norm

__all__ = [
    "BradleyTerryBootstrap",
    "PositionBias",
    "binomial_test_one_sided_less",
    "binomial_test_two_sided",
    "bootstrap_bradley_terry",
    "bradley_terry_mle_exists",
    "bradley_terry_ratings",
    "build_win_matrix",
    "cohen_kappa",
    "cohen_kappa_from_table",
    "fleiss_kappa",
    "judgments_needed_to_exclude_half",
    "krippendorff_alpha_nominal",
    "min_detectable_win_rate",
    "percent_agreement",
    "position_bias",
    "rank_ratings",
    "wilson_interval",
]

# Rating scale of the LMSYS Chatbot Arena: 400 points per factor of 10 in the odds, mean 1000.
RATING_SCALE = 400.0
RATING_BASE = 10.0
RATING_MEAN = 1000.0
# Natural-log strength (logit units) -> rating points.
_POINTS_PER_NAT = RATING_SCALE / math.log(RATING_BASE)


# --------------------------------------------------------------------------- helpers


def _as_count(value, name: str) -> int:
    """A non-negative integer given as int, numpy integer or integral float."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an integer, not bool")
    if isinstance(value, int | np.integer):
        result = int(value)
    elif isinstance(value, float | np.floating) and float(value).is_integer():
        result = int(value)
    else:
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if result < 0:
        raise ValueError(f"{name} must be >= 0, got {result}")
    return result


def _check_probability(value: float, name: str, *, open_interval: bool = True) -> float:
    value = float(value)
    ok = 0.0 < value < 1.0 if open_interval else 0.0 <= value <= 1.0
    if not ok:
        bounds = "(0, 1)" if open_interval else "[0, 1]"
        raise ValueError(f"{name} must be in {bounds}, got {value}")
    return value


def _count_matrix(counts, name: str = "counts") -> np.ndarray:
    """A 2-D array of non-negative finite counts, as float64."""
    array = np.asarray(counts, dtype=float)
    if array.ndim != 2:
        raise ValueError(f"{name} must be 2-dimensional (items x categories), got {array.ndim}-D")
    if not np.all(np.isfinite(array)) or np.any(array < 0):
        raise ValueError(f"{name} must hold non-negative finite counts")
    return array


def _z_two_sided(confidence: float) -> float:
    """Standard-normal quantile z with P(|Z| <= z) = confidence."""
    confidence = _check_probability(confidence, "confidence")
    return float(norm.isf((1.0 - confidence) / 2.0))


# --------------------------------------------------------------------------- proportions


def wilson_interval(
    successes: float, n: float, confidence: float = 0.95
) -> tuple[float, float] | tuple[None, None]:
    """Wilson score interval for a binomial proportion.

    Formula: with ``p = successes / n`` and ``z`` the two-sided standard-normal quantile,
    ``(p + z^2/(2n) -/+ z * sqrt(p(1-p)/n + z^2/(4n^2))) / (1 + z^2/n)``, clipped to
    ``[0, 1]``; it is the set of ``pi`` with ``(p - pi)^2 <= z^2 pi (1 - pi) / n``.
    Reference: E. B. Wilson (1927), "Probable inference, the law of succession, and
    statistical inference", JASA 22(158):209-212; same numbers as statsmodels
    ``proportion_confint(method="wilson")``.

    ``successes`` may be fractional (e.g. ties counted as halves). Returns ``(lo, hi)`` as
    floats, or ``(None, None)`` when ``n == 0``.
    """
    successes = float(successes)
    n = float(n)
    z = _z_two_sided(confidence)
    if not (math.isfinite(n) and n >= 0) or not (0.0 <= successes <= n):
        raise ValueError(f"need 0 <= successes <= n, got successes={successes}, n={n}")
    if n == 0:
        return (None, None)
    p = successes / n
    z2 = z * z
    denom = 1.0 + z2 / n
    center = (p + z2 / (2.0 * n)) / denom
    half = z * math.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n)) / denom
    lo = min(max(center - half, 0.0), 1.0)
    hi = min(max(center + half, 0.0), 1.0)
    # The exact bounds are 0 at p == 0 and 1 at p == 1; don't let rounding say otherwise.
    if successes == 0:
        lo = 0.0
    if successes == n:
        hi = 1.0
    return (lo, hi)


def _binomial_two_sided_pvalue(k: int, n: int, p: float) -> float:
    """Two-sided exact p-value with scipy's definition (n >= 1, validated inputs)."""
    if k == p * n:
        return 1.0
    pmf_k = float(binom.pmf(k, n, p))
    # scipy counts outcomes with pmf <= pmf(k) * (1 + 1e-7) as "no more likely than k".
    threshold = pmf_k * (1.0 + 1e-7)

    def pmf(x: int) -> float:
        return float(binom.pmf(x, n, p))

    if k < p * n:
        # Upper side [ceil(pn), n]: the pmf is non-increasing there, so the outcomes at most
        # as likely as k form a suffix; find its first element by bisection.
        lo, hi = math.ceil(p * n), n + 1
        while lo < hi:
            mid = (lo + hi) // 2
            if pmf(mid) <= threshold:
                hi = mid
            else:
                lo = mid + 1
        # Upper tail P[X >= lo] (empty when lo == n + 1).
        pvalue = float(binom.cdf(k, n, p)) + float(binom.sf(lo - 1, n, p))
    else:
        # Lower side [0, floor(pn)]: pmf non-decreasing, so the outcomes form a prefix.
        lo, hi = 0, math.floor(p * n) + 1
        while lo < hi:
            mid = (lo + hi) // 2
            if pmf(mid) <= threshold:
                lo = mid + 1
            else:
                hi = mid
        # Prefix [0, lo - 1]; P[X <= -1] = 0.
        pvalue = float(binom.cdf(lo - 1, n, p)) + float(binom.sf(k - 1, n, p))
    return min(1.0, pvalue)


def binomial_test_two_sided(k: int, n: int, p: float = 0.5) -> float | None:
    """Exact two-sided binomial test p-value.

    Formula: ``sum over x in 0..n with f(x) <= f(k) * (1 + 1e-7) of f(x)``, ``f`` the
    Binomial(n, p) pmf, capped at 1 (the "minimum likelihood" / "sum of probabilities no
    larger than the observed one" definition, with scipy's relative tolerance 1e-7 for
    outcomes tied in probability). Reference: scipy ``binomtest(k, n, p).pvalue``
    (alternative="two-sided"); the definition follows Hollander, Wolfe & Chicken,
    "Nonparametric Statistical Methods" (3rd ed., 2014), sec. 2.1.

    ``k`` and ``n`` are integers with ``0 <= k <= n``. Returns ``None`` when ``n == 0`` (no
    judgments, nothing to test).
    """
    k, n, p = _binomial_arguments(k, n, p)
    if n == 0:
        return None
    return _binomial_two_sided_pvalue(k, n, p)


def _binomial_arguments(k, n, p) -> tuple[int, int, float]:
    """k successes of n trials at rate p, checked: counts, 0 <= k <= n, p in [0, 1]."""
    k = _as_count(k, "k")
    n = _as_count(n, "n")
    p = _check_probability(p, "p", open_interval=False)
    if k > n:
        raise ValueError(f"k ({k}) must not exceed n ({n})")
    return k, n, p


def binomial_test_one_sided_less(k: int, n: int, p: float) -> float | None:
    """Exact one-sided binomial test p-value against "the rate is less than p".

    Formula: ``P[X <= k]`` for ``X ~ Binomial(n, p)``. Reference: scipy
    ``binomtest(k, n, p, alternative="less").pvalue``; e.g. a reviewer who agrees with the
    majority in ``k`` of ``n`` items when the pool agrees at rate ``p``.

    Returns ``None`` when ``n == 0``.
    """
    k, n, p = _binomial_arguments(k, n, p)
    if n == 0:
        return None
    return min(1.0, float(binom.cdf(k, n, p)))


class PositionBias(NamedTuple):
    """Share of decided judgments won by the left-hand output (``None`` when undefined)."""

    share: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None


def position_bias(left_wins: int, n_decided: int, confidence: float = 0.95) -> PositionBias:
    """Position bias: share of non-tie judgments won by the left-hand side.

    Formula: ``share = left_wins / n_decided`` with its Wilson interval
    (:func:`wilson_interval`) and the exact two-sided binomial test of ``share == 1/2``
    (:func:`binomial_test_two_sided`). Reference: the position-bias check of Zheng et al.
    (2023), "Judging LLM-as-a-judge with MT-Bench and Chatbot Arena", sec. 3.3.

    Returns all ``None`` when ``n_decided == 0``.
    """
    left_wins = _as_count(left_wins, "left_wins")
    n_decided = _as_count(n_decided, "n_decided")
    if left_wins > n_decided:
        raise ValueError("left_wins must not exceed n_decided")
    if n_decided == 0:
        return PositionBias(None, None, None, None)
    lo, hi = wilson_interval(left_wins, n_decided, confidence)
    return PositionBias(
        left_wins / n_decided, lo, hi, binomial_test_two_sided(left_wins, n_decided, 0.5)
    )


# --------------------------------------------------------------------------- Bradley-Terry


def _pair_arrays(n_models, model_i, model_j, i_wins, j_wins, ties, *, integral: bool):
    n_models = _as_count(n_models, "n_models")
    model_i = np.asarray(model_i, dtype=np.int64).reshape(-1)
    model_j = np.asarray(model_j, dtype=np.int64).reshape(-1)
    arrays = [np.asarray(a, dtype=float).reshape(-1) for a in (i_wins, j_wins, ties)]
    size = model_i.size
    if any(a.size != size for a in (model_j, *arrays)):
        raise ValueError("model_i, model_j, i_wins, j_wins and ties must have the same length")
    if size and (
        model_i.min() < 0
        or model_j.min() < 0
        or model_i.max() >= n_models
        or model_j.max() >= n_models
    ):
        raise ValueError("model indices must be in 0..n_models-1")
    if np.any(model_i == model_j):
        raise ValueError("a model cannot be compared with itself")
    for name, a in zip(("i_wins", "j_wins", "ties"), arrays, strict=True):
        if not np.all(np.isfinite(a)) or np.any(a < 0):
            raise ValueError(f"{name} must hold non-negative finite counts")
        if integral and np.any(a != np.round(a)):
            raise ValueError(f"{name} must hold whole numbers of judgments")
    return n_models, model_i, model_j, *arrays


def build_win_matrix(n_models: int, model_i, model_j, i_wins, j_wins, ties) -> np.ndarray:
    """Aggregate per-pair judgment counts into the Bradley-Terry win matrix.

    Formula: ``W[a, b] = (# judgments a beat b) + (# ties between a and b) / 2``, summed over
    rows (a pair may appear on several rows, in either order). This is the LMSYS Chatbot
    Arena convention (``compute_mle_elo``: a tie enters once as an a-win and once as a
    b-win, each with the weight of half a decisive judgment). Reference: Chiang et al.
    (2024), "Chatbot Arena: An Open Platform for Evaluating LLMs by Human Preference".

    Inputs are 1-D arrays of equal length ``P``: ``model_i[r] != model_j[r]`` are model
    indices in ``0..n_models-1``; ``i_wins[r]``/``j_wins[r]``/``ties[r]`` are the numbers of
    judgments of that pair that ``model_i[r]`` won, ``model_j[r]`` won, and that were ties.
    Returns a float ``(n_models, n_models)`` array with a zero diagonal.
    """
    n_models, model_i, model_j, i_wins, j_wins, ties = _pair_arrays(
        n_models, model_i, model_j, i_wins, j_wins, ties, integral=False
    )
    wins = np.zeros((n_models, n_models))
    np.add.at(wins, (model_i, model_j), i_wins + ties / 2.0)
    np.add.at(wins, (model_j, model_i), j_wins + ties / 2.0)
    return wins


def _win_matrix_batch(wins) -> np.ndarray:
    wins = np.asarray(wins, dtype=float)
    if wins.ndim < 2 or wins.shape[-1] != wins.shape[-2]:
        raise ValueError("wins must be a square (k x k) matrix")
    if not np.all(np.isfinite(wins)) or np.any(wins < 0):
        raise ValueError("wins must hold non-negative finite counts")
    return wins


def _strongly_connected_batch(wins: np.ndarray) -> np.ndarray:
    """For each (k x k) matrix in a (B, k, k) stack: is the digraph a -> b iff W[a, b] > 0
    strongly connected? Transitive closure by repeated squaring of the reachability matrix."""
    k = wins.shape[-1]
    reach = (wins > 0) | np.eye(k, dtype=bool)
    steps = 1
    while steps < k:
        # Paths of length <= 2 * steps; float matmul is the vectorised boolean product.
        as_float = reach.astype(np.float64)
        reach = (as_float @ as_float) > 0
        steps *= 2
    return reach.all(axis=(-2, -1))


def bradley_terry_mle_exists(wins) -> bool:
    """Whether the Bradley-Terry maximum-likelihood estimate exists (and is unique).

    Condition: the directed graph with an edge ``a -> b`` whenever ``W[a, b] > 0`` (a beat
    b at least once, a tie counting as half a win each way) is strongly connected, i.e. for
    every split of the models into two non-empty groups, each group beat the other at least
    once. Otherwise the likelihood keeps increasing as the ratings of one group run off to
    infinity. References: E. Zermelo (1929), Math. Z. 29:436-460; L. R. Ford (1957), Amer.
    Math. Monthly 64(8):28-33; D. R. Hunter (2004), Ann. Statist. 32(1):384-406, Assumption 1.

    A model without any judgment makes the graph disconnected (no estimate for it); one
    model alone is trivially connected. The diagonal is ignored.
    """
    wins = _win_matrix_batch(wins)
    if wins.ndim != 2:
        raise ValueError("wins must be a single (k x k) matrix")
    return bool(_strongly_connected_batch(wins[None])[0])


def _log_likelihood_batch(wins: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """sum_ab W[a, b] * log sigma(theta_a - theta_b), for each stack member."""
    diff = theta[:, :, None] - theta[:, None, :]
    # log sigma(x) = -log(1 + e^-x), computed without overflow.
    return -(wins * np.logaddexp(0.0, -diff)).sum(axis=(1, 2))


def _fit_bradley_terry_batch(
    wins: np.ndarray, tol: float = 1e-10, max_iter: int = 100
) -> tuple[np.ndarray, np.ndarray]:
    """Newton's method with backtracking on a (B, k, k) stack of win matrices whose MLE exists.

    Returns ``(ratings (B, k), converged (B,))``; ratings have mean exactly 1000.
    The log-likelihood l(theta) = sum W_ab log sigma(theta_a - theta_b) has gradient
    g_a = sum_b [W_ab - N_ab sigma(theta_a - theta_b)], N = W + W^T, and Hessian -L with L the
    graph Laplacian of the weights N_ab sigma (1 - sigma). L has the all-ones null space (only
    rating differences are identified), so the step solves (L + c 11^T) d = g, which gives the
    sum-zero solution of L d = g because g sums to zero.
    """
    batch, k, _ = wins.shape
    theta = np.zeros((batch, k))
    converged = np.zeros(batch, dtype=bool)
    if k <= 1:
        return np.full((batch, k), RATING_MEAN), np.ones(batch, dtype=bool)
    totals = wins + np.swapaxes(wins, 1, 2)
    ones = np.ones((k, k))
    tol_nats = tol / _POINTS_PER_NAT
    last_step = np.full(batch, np.inf)
    active = np.arange(batch)
    for _ in range(max_iter):
        if active.size == 0:
            break
        w, n, t = wins[active], totals[active], theta[active]
        prob = special.expit(t[:, :, None] - t[:, None, :])
        grad = (w - n * prob).sum(axis=2)
        weight = n * prob * (1.0 - prob)
        laplacian = -weight
        idx = np.arange(k)
        laplacian[:, idx, idx] = weight.sum(axis=2) - weight[:, idx, idx]
        # Any positive multiple of 11^T pins the mean; scale it like L for conditioning.
        shift = laplacian[:, idx, idx].mean(axis=1) / k
        system = laplacian + shift[:, None, None] * ones
        step = np.linalg.solve(system, grad[:, :, None])[:, :, 0]
        step -= step.mean(axis=1, keepdims=True)
        decrement = (grad * step).sum(axis=1)
        # Backtracking (Armijo); the slack absorbs rounding noise in l once the step is tiny.
        base = _log_likelihood_batch(w, t)
        slack = 1e-12 * (np.abs(base) + 1.0)
        scale = np.ones(active.size)
        pending = np.arange(active.size)
        for _ in range(60):
            trial = t[pending] + scale[pending, None] * step[pending]
            value = _log_likelihood_batch(w[pending], trial)
            ok = (
                value >= base[pending] + 1e-4 * scale[pending] * decrement[pending] - slack[pending]
            )
            pending = pending[~ok]
            if pending.size == 0:
                break
            scale[pending] /= 2.0
        theta[active] = t + scale[:, None] * step
        size = np.abs(step).max(axis=1)
        last_step[active] = size
        done = size < tol_nats
        converged[active[done]] = True
        active = active[~done]
    # Rounding can stall the last Newton steps just above tol on ill-conditioned data; a
    # step below 1e-6 rating points is converged for every practical purpose.
    converged |= last_step * _POINTS_PER_NAT < 1e-6
    ratings = _POINTS_PER_NAT * theta
    ratings += RATING_MEAN - ratings.mean(axis=1, keepdims=True)
    return ratings, converged


def bradley_terry_ratings(wins, *, tol: float = 1e-10, max_iter: int = 100) -> list[float] | None:
    """Bradley-Terry maximum-likelihood ratings on the Chatbot Arena (Elo-like) scale.

    Model: ``P(a beats b) = 1 / (1 + 10 ** ((R_b - R_a) / 400))``: logistic regression
    without intercept on rating differences. The log-likelihood maximised is
    ``sum_ab W[a, b] * log P(a beats b)`` with ``W`` from :func:`build_win_matrix`
    (a tie is half a win for each side). This is exactly what LMSYS ``compute_mle_elo``
    fits with scikit-learn ``LogisticRegression(fit_intercept=False)`` and no penalty: for
    each ordered model pair one "a won" row and one "b won" row, weighted
    ``2 * (decisive wins) + ties`` - a decisive judgment weight 2, a tie weight 1 as an
    a-win and 1 as a b-win - i.e. weights ``2 * W``, which leave the maximiser unchanged.
    Ratings are then shifted so their mean is exactly 1000 (LMSYS then anchors one
    reference model to a fixed score; we do not).
    Fit: Newton's method (the Hessian is minus a weighted graph Laplacian) with backtracking
    line search on the aggregated counts until the largest rating update is below ``tol``
    rating points; the log-likelihood is concave and, given the mean, strictly so on the
    sum-zero subspace when the MLE exists, so the maximiser is unique.
    References: R. A. Bradley & M. E. Terry (1952), Biometrika 39:324-345; Hunter (2004),
    Ann. Statist. 32(1):384-406 (likelihood, existence); Chiang et al. (2024), "Chatbot
    Arena: An Open Platform for Evaluating LLMs by Human Preference", sec. 5, and the LMSYS
    notebook ``compute_mle_elo``.

    ``wins`` is a ``(k, k)`` array of (possibly fractional) half-win counts, diagonal ignored
    (as from :func:`build_win_matrix`; ``wins[a, b]`` = a over b). Returns a list of
    ``k`` floats, or ``None`` when the MLE does not exist (see
    :func:`bradley_terry_mle_exists`: e.g. a model that won or lost every judgment, or two
    groups of models never compared): the likelihood then has no maximum and any finite
    number would be an artefact of when the optimiser stopped. ``k == 1`` gives ``[1000.0]``.
    """
    wins = _win_matrix_batch(wins)
    if wins.ndim != 2:
        raise ValueError("wins must be a single (k x k) matrix")
    if wins.shape[0] == 0:
        return []
    # A model against itself carries no information about rating differences.
    wins = wins.copy()
    np.fill_diagonal(wins, 0.0)
    if not bradley_terry_mle_exists(wins):
        return None
    ratings, converged = _fit_bradley_terry_batch(wins[None], tol=tol, max_iter=max_iter)
    if not converged[0]:
        return None
    return [float(r) for r in ratings[0]]


def rank_ratings(ratings: Sequence[float], tol: float = 1e-6) -> list[int]:
    """Competition ranking ("1224") of ratings, 1 = best.

    Formula: ``rank_a = 1 + #{b : R_b > R_a + tol}``; ratings within ``tol`` rating points
    of each other count as equal (the fit is exact to ~1e-10 points, so equal records give
    equal ranks). Reference: "standard competition ranking", e.g. Wikipedia "Ranking",
    sec. "Standard competition ranking ('1224' ranking)".
    """
    values = np.asarray(ratings, dtype=float).reshape(-1)
    better = values[None, :] > values[:, None] + tol
    return [1 + int(count) for count in better.sum(axis=1)]


@dataclass(frozen=True)
class BradleyTerryBootstrap:
    """Result of :func:`bootstrap_bradley_terry`; per-model lists are indexed by model.

    ``ratings``/``ranks``: point estimate on all judgments (``None`` if its MLE doesn't
    exist). ``lower``/``upper``: percentile interval per model (``None`` when fewer than
    ``min_valid_fraction`` of the resamples had an MLE). ``n_resamples`` drawn, ``n_used``
    that had an MLE and were kept.
    """

    ratings: list[float] | None
    ranks: list[int] | None
    lower: list[float] | None
    upper: list[float] | None
    n_resamples: int
    n_used: int


def bootstrap_bradley_terry(
    n_models: int,
    model_i,
    model_j,
    i_wins,
    j_wins,
    ties,
    *,
    seed: int | np.random.Generator,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    min_valid_fraction: float = 0.9,
) -> BradleyTerryBootstrap:
    """Bradley-Terry ratings with percentile-bootstrap intervals over judgments.

    Resampling: drawing ``N`` judgments with replacement from the ``N`` observed ones is the
    same as drawing the cell counts from ``Multinomial(N, c / N)`` where ``c`` are the counts
    of the ``3P`` cells (pair x {i wins, j wins, tie}); each resample is aggregated with
    :func:`build_win_matrix` and fitted as in :func:`bradley_terry_ratings` (one batched
    Newton iteration over all resamples). Interval: the ``(1-confidence)/2`` and
    ``(1+confidence)/2`` quantiles (numpy's default linear interpolation) of each model's
    resampled ratings. References: B. Efron & R. Tibshirani (1993), "An Introduction to the
    Bootstrap", ch. 13 (percentile interval); Chiang et al. (2024), "Chatbot Arena", sec. 5.

    Resamples in which the MLE does not exist (the resample lost every judgment that held the
    comparison graph together) are dropped and not counted in ``n_used`` (so would be one
    whose Newton iteration failed to converge, which does not happen when the MLE exists);
    if fewer than
    ``min_valid_fraction * n_resamples`` remain, the data are too close to separation for
    the percentile interval to mean anything and ``lower``/``upper`` are ``None``. When the
    full-data MLE does not exist, nothing is resampled (``ratings`` None, ``n_used`` 0).

    Inputs as in :func:`build_win_matrix`, with whole-number counts; ``seed`` (an int or a
    ``numpy.random.Generator``) is required: same seed, same intervals.
    """
    n_models, model_i, model_j, i_wins, j_wins, ties = _pair_arrays(
        n_models, model_i, model_j, i_wins, j_wins, ties, integral=True
    )
    n_resamples = _as_count(n_resamples, "n_resamples")
    if n_resamples < 1:
        raise ValueError("n_resamples must be >= 1")
    confidence = _check_probability(confidence, "confidence")
    min_valid_fraction = _check_probability(
        min_valid_fraction, "min_valid_fraction", open_interval=False
    )
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)

    if n_models == 0:
        return BradleyTerryBootstrap([], [], [], [], n_resamples, n_resamples)
    wins = build_win_matrix(n_models, model_i, model_j, i_wins, j_wins, ties)
    ratings = bradley_terry_ratings(wins)
    if ratings is None:
        return BradleyTerryBootstrap(None, None, None, None, n_resamples, 0)
    ranks = rank_ratings(ratings)

    # Cells in the order [i wins of every pair, j wins of every pair, ties of every pair].
    cells = np.concatenate([i_wins, j_wins, ties]).astype(np.int64)
    total = int(cells.sum())
    n_pairs = model_i.size
    # Linear map cell counts -> flattened win matrix, so a whole batch aggregates in one matmul.
    to_matrix = np.zeros((3 * n_pairs, n_models * n_models))
    rows = np.arange(n_pairs)
    forward = model_i * n_models + model_j
    backward = model_j * n_models + model_i
    to_matrix[rows, forward] += 1.0
    to_matrix[n_pairs + rows, backward] += 1.0
    to_matrix[2 * n_pairs + rows, forward] += 0.5
    to_matrix[2 * n_pairs + rows, backward] += 0.5

    if total == 0:
        # No judgments at all: only a single model can have had an MLE; nothing varies.
        resampled = np.zeros((n_resamples, 3 * n_pairs))
    else:
        resampled = rng.multinomial(total, cells / total, size=n_resamples)
    batch = (resampled @ to_matrix).reshape(n_resamples, n_models, n_models)
    valid = _strongly_connected_batch(batch)
    boot = np.empty((0, n_models))
    if valid.any():
        boot, converged = _fit_bradley_terry_batch(batch[valid])
        boot = boot[converged]
    n_used = int(boot.shape[0])
    if n_used == 0 or n_used < min_valid_fraction * n_resamples:
        return BradleyTerryBootstrap(ratings, ranks, None, None, n_resamples, n_used)
    tail = (1.0 - confidence) / 2.0
    lower, upper = np.quantile(boot, [tail, 1.0 - tail], axis=0)
    return BradleyTerryBootstrap(
        ratings,
        ranks,
        [float(x) for x in lower],
        [float(x) for x in upper],
        n_resamples,
        n_used,
    )


# --------------------------------------------------------------------------- agreement


def percent_agreement(counts) -> float | None:
    """Observed pairwise agreement, averaged over items.

    Formula: for item ``i`` with ``n_i >= 2`` ratings,
    ``P_i = sum_c n_ic (n_ic - 1) / (n_i (n_i - 1))`` (share of agreeing ordered rater
    pairs); the result is the unweighted mean of ``P_i`` over those items (items with fewer
    than 2 ratings have no pairs and are skipped). Reference: Fleiss (1971), eq. 2 and the
    mean ``P-bar`` (with a constant ``n_i`` this is Fleiss' observed agreement).

    ``counts``: ``(items, categories)`` counts. Returns ``None`` when no item has 2 ratings.
    """
    counts = _count_matrix(counts)
    per_item = counts.sum(axis=1)
    keep = per_item >= 2
    if not keep.any():
        return None
    counts, per_item = counts[keep], per_item[keep]
    agreeing = (counts * (counts - 1.0)).sum(axis=1)
    return float(np.mean(agreeing / (per_item * (per_item - 1.0))))


def fleiss_kappa(counts) -> float | None:
    """Fleiss' kappa for a constant number of ratings per item.

    Formula: ``kappa = (P - P_e) / (1 - P_e)`` with ``P`` the mean over items of
    ``P_i = sum_j n_ij (n_ij - 1) / (n (n - 1))``, ``p_j = sum_i n_ij / (N n)`` and
    ``P_e = sum_j p_j^2``. Reference: J. L. Fleiss (1971), "Measuring nominal scale agreement
    among many raters", Psychological Bulletin 76(5):378-382, eqs. 2-6; same numbers as
    statsmodels ``fleiss_kappa(counts, method="fleiss")``.

    ``counts``: ``(items, categories)`` counts whose rows all sum to the same ``n >= 2``;
    otherwise ``ValueError`` (filter the items, or use :func:`krippendorff_alpha_nominal`,
    which allows a varying number of ratings). Returns ``None`` when there are no items or
    when ``P_e == 1`` (every rating in one category: agreement cannot be told from chance;
    statsmodels gives NaN there). Perfect agreement spread over several categories gives
    1.0.
    """
    counts = _count_matrix(counts)
    if counts.shape[0] == 0:
        return None
    per_item = counts.sum(axis=1)
    n = per_item[0]
    if np.any(per_item != n):
        raise ValueError("fleiss_kappa needs the same number of ratings for every item")
    if n < 2:
        raise ValueError("fleiss_kappa needs at least 2 ratings per item")
    totals = counts.sum(axis=0)
    # P_e == 1 exactly when a single category holds every rating; test on the counts.
    if np.count_nonzero(totals) <= 1:
        return None
    observed = float(np.mean((counts * (counts - 1.0)).sum(axis=1) / (n * (n - 1.0))))
    shares = totals / totals.sum()
    expected = float(np.sum(shares**2))
    return (observed - expected) / (1.0 - expected)


def krippendorff_alpha_nominal(counts) -> float | None:
    """Krippendorff's alpha for nominal data, any number of raters, missing ratings allowed.

    Formula: coincidences ``o_ck = sum_u (n_uc n_uk - [c == k] n_uc) / (n_u - 1)`` over the
    items ``u`` with ``n_u >= 2`` ratings (others are unpairable and dropped); ``n_c =
    sum_k o_ck``, ``n = sum_c n_c``; ``alpha = 1 - D_o / D_e = 1 - (n - 1) (n - sum_c o_cc)
    / (n^2 - sum_c n_c^2)``. Reference: K. Krippendorff (2011), "Computing Krippendorff's
    Alpha-Reliability", Annenberg School for Communication, Univ. of Pennsylvania, sec. C
    (nominal data, any number of observers, missing data); same numbers as the
    ``krippendorff`` package, ``level_of_measurement="nominal"``.

    ``counts``: ``(items, categories)`` counts, rows may sum to different numbers. Returns
    ``None`` when ``D_e == 0``: no pairable ratings, or every pairable rating in one
    category. Perfect agreement spread over several categories gives 1.0.
    """
    counts = _count_matrix(counts)
    per_item = counts.sum(axis=1)
    keep = per_item >= 2
    counts, per_item = counts[keep], per_item[keep]
    totals = counts.sum(axis=0)  # n_c: every pairable value is paired, so these are the margins
    if np.count_nonzero(totals) <= 1:
        return None
    n = float(totals.sum())
    agreeing = float(np.sum((counts * (counts - 1.0)).sum(axis=1) / (per_item - 1.0)))
    disagreement_expected = n * n - float(np.sum(totals**2))
    return 1.0 - (n - 1.0) * (n - agreeing) / disagreement_expected


def cohen_kappa_from_table(table) -> float | None:
    """Cohen's kappa from a two-rater contingency table.

    Formula: ``kappa = (p_o - p_e) / (1 - p_e)`` with ``p_o = sum_c t_cc / N`` and
    ``p_e = sum_c (row_c / N)(col_c / N)``. Reference: J. Cohen (1960), "A coefficient of
    agreement for nominal scales", Educ. Psychol. Meas. 20(1):37-46; same numbers as
    scikit-learn ``cohen_kappa_score``.

    ``table[a, b]``: number of items rater A put in category ``a`` and rater B in ``b``
    (same category order on both axes). Returns ``None`` when there are no items or
    ``p_e == 1`` (both raters used one and the same category for everything).
    """
    table = _count_matrix(table, "table")
    if table.shape[0] != table.shape[1]:
        raise ValueError("table must be square (same categories for both raters)")
    total = table.sum()
    if total == 0:
        return None
    rows, cols = table.sum(axis=1), table.sum(axis=0)
    # p_e == 1 iff both margins sit entirely on the same single category.
    if np.count_nonzero(rows) == 1 and np.array_equal(rows > 0, cols > 0):
        return None
    observed = float(np.trace(table) / total)
    expected = float(np.sum(rows * cols) / (total * total))
    return (observed - expected) / (1.0 - expected)


def cohen_kappa(labels_a: Sequence[Hashable], labels_b: Sequence[Hashable]) -> float | None:
    """Cohen's kappa of two raters from their labels on the same items, in the same order.

    Builds the contingency table over the union of the labels seen and applies
    :func:`cohen_kappa_from_table` (Cohen 1960). Returns ``None`` for no items or
    ``p_e == 1``.
    """
    labels_a, labels_b = list(labels_a), list(labels_b)
    if len(labels_a) != len(labels_b):
        raise ValueError("labels_a and labels_b must have the same length")
    categories = {label: index for index, label in enumerate(dict.fromkeys(labels_a + labels_b))}
    table = np.zeros((len(categories), len(categories)))
    for a, b in zip(labels_a, labels_b, strict=True):
        table[categories[a], categories[b]] += 1
    return cohen_kappa_from_table(table)


# --------------------------------------------------------------------------- sample size, power


def judgments_needed_to_exclude_half(
    successes: float, n: float, confidence: float = 0.95
) -> int | None:
    """Judgments needed for the Wilson interval to exclude 1/2 at the observed win rate.

    At fixed rate ``p = successes / n`` the Wilson interval with ``N`` trials is
    ``{pi : (p - pi)^2 <= z^2 pi (1 - pi) / N}``, so it excludes 1/2 exactly when
    ``(p - 1/2)^2 > z^2 / (4 N)``, i.e. ``N > z^2 / (4 (p - 1/2)^2)``: the bound moves
    monotonically toward ``p`` as ``N`` grows. The candidate from that inequality is then
    checked (and corrected by whole steps) against :func:`wilson_interval` itself, so the
    answer is exact for the interval the app displays. Reference: Wilson (1927); the
    equivalence with the score test is in A. Agresti & B. A. Coull (1998), Amer. Statist.
    52(2):119-126.

    ``successes``/``n``: non-tie judgments won / decided (``successes`` may be fractional).
    Returns the smallest total ``N >= n`` (so ``N - n`` more judgments, 0 if the interval
    already excludes 1/2), or ``None`` when ``n == 0`` or ``p == 1/2`` exactly (no number
    of judgments at that rate excludes 1/2).
    """
    successes, n = float(successes), float(n)
    if not (0.0 <= successes <= n):
        raise ValueError(f"need 0 <= successes <= n, got successes={successes}, n={n}")
    z = _z_two_sided(confidence)
    if n == 0:
        return None
    p = successes / n
    if p == 0.5:
        return None

    def excludes(trials: int) -> bool:
        lo, hi = wilson_interval(p * trials, trials, confidence)
        return lo > 0.5 if p > 0.5 else hi < 0.5

    start = max(math.ceil(n), 1)
    candidate = max(start, math.floor(z * z / (4.0 * (p - 0.5) ** 2)) + 1)
    # The closed form can be off by one where rounding puts the bound on 1/2; walk to it.
    while candidate > start and excludes(candidate - 1):
        candidate -= 1
    while not excludes(candidate):
        candidate += 1
    return candidate


def _rejection_cutoff(n: int, alpha: float) -> int:
    """Largest a with p-value(a) <= alpha for the exact two-sided test of 1/2 at n, or -1.

    By symmetry of Binomial(n, 1/2) the rejection region is {k <= a} u {k >= n - a}; the
    p-value grows as k approaches n/2, so a is found by bisection on 0..floor(n/2).
    """
    # For k < n/2 the two-sided p-value at 1/2 is 2 P[X <= k] (symmetry); bisect on that
    # with scipy.special's bdtr (no distribution-object overhead), then confirm the edge
    # with the exact definition used by binomial_test_two_sided.
    lo, hi = 0, n // 2 + 1  # invariant: p-value(k) <= alpha for k < lo, > alpha for k >= hi
    while lo < hi:
        mid = (lo + hi) // 2
        if 2.0 * float(special.bdtr(mid, n, 0.5)) <= alpha:
            lo = mid + 1
        else:
            hi = mid
    cutoff = lo - 1
    while cutoff >= 0 and _binomial_two_sided_pvalue(cutoff, n, 0.5) > alpha:
        cutoff -= 1
    while cutoff + 1 <= n // 2 and _binomial_two_sided_pvalue(cutoff + 1, n, 0.5) <= alpha:
        cutoff += 1
    return cutoff


def min_detectable_win_rate(n: int, power: float = 0.8, alpha: float = 0.05) -> float | None:
    """Smallest true win rate above 1/2 detected with the given power at ``n`` judgments.

    The test is the exact two-sided binomial test of 1/2 (:func:`binomial_test_two_sided`,
    as scipy ``binomtest``). Its rejection region ``R = {k : p-value(k) <= alpha}`` is fixed
    for ``n`` and, by symmetry, is ``{k <= a} u {k >= n - a}``; the power at true rate ``p``
    is ``P_p[X <= a] + P_p[X >= n - a]`` (the sum of the Binomial(n, p) pmf over ``R``),
    which increases on ``(1/2, 1]``. The result is the smallest ``p`` whose power is
    ``>= power``, found by bisection to within 1e-12: the value returned reaches the power,
    anything more than 1e-12 below it does not. Reference: exact power of the binomial
    test, e.g. S. Chow, J. Shao & H. Wang, "Sample Size Calculations in Clinical Research"
    (2nd ed., 2008), sec. 12.1; J. M. Hoenig & D. M. Heisey (2001), Amer. Statist.
    55(1):19-24 on why this is computed for the design, not from the observed effect.

    ``n``: number of non-tie judgments. Returns ``None`` when even ``p = 1`` does not reach
    the power (``n`` too small for all-wins to be significant), including ``n == 0``.
    (If ``power`` is at most the size of the test, 0.5 itself is returned.)
    """
    n = _as_count(n, "n")
    power = _check_probability(power, "power")
    alpha = _check_probability(alpha, "alpha")
    if n == 0:
        return None
    cutoff = _rejection_cutoff(n, alpha)
    if cutoff < 0:
        return None

    def power_at(p: float) -> float:
        # Two disjoint tails (cutoff < n / 2); bdtr/bdtrc (the cdf and sf) keep the small
        # tail accurate.
        return float(special.bdtr(cutoff, n, p)) + float(special.bdtrc(n - cutoff - 1, n, p))

    if power_at(1.0) < power:
        return None
    if power_at(0.5) >= power:
        return 0.5
    # A 1e-12 margin on the power absorbs rounding differences between ways of summing
    # the tails (bdtr here, pmf sums elsewhere), so the rate returned reaches the power
    # however it is recomputed.
    target = power + 1e-12
    lo, hi = 0.5, 1.0  # invariant: power_at(lo) < target <= power_at(hi)
    while hi - lo > 1e-12:
        mid = (lo + hi) / 2.0
        if power_at(mid) >= target:
            hi = mid
        else:
            lo = mid
    return hi
