"""Bradley-Terry ratings on the LMSYS Chatbot Arena scale, with a bootstrap."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special

from ._checks import _as_count, _check_probability

# Rating scale of the LMSYS Chatbot Arena: 400 points per factor of 10 in the odds, mean 1000.
RATING_SCALE = 400.0
RATING_BASE = 10.0
RATING_MEAN = 1000.0
# Natural-log strength (logit units) -> rating points.
_POINTS_PER_NAT = RATING_SCALE / math.log(RATING_BASE)


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
