"""Sample size and power for the win rate."""

from __future__ import annotations

import math

from scipy import special

from ._checks import _as_count, _check_probability, _z_two_sided
from .proportions import _binomial_two_sided_pvalue, wilson_interval


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
