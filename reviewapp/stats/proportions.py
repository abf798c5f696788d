"""Proportions: the Wilson interval, exact binomial tests, position bias."""

from __future__ import annotations

import math
from typing import NamedTuple

from scipy.stats import binom

from ._checks import _as_count, _check_probability, _z_two_sided


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
