"""Tests that stay valid whatever the stopping time: owners look at results as judgments
arrive and stop when it looks decided.

With S_t wins of X after t decided judgments (in arrival order), the Beta(1, 1) mixture
martingale under H0: p = 1/2 is M_t = B(1 + S_t, 1 + t - S_t) / 0.5^t (B the Beta
function). By Ville's inequality P(sup_t M_t >= 1/alpha) <= alpha under H0, so
anytime p = min(1, 1 / max_{t <= n} M_t) can be read after every judgment. The 95 %
confidence sequence at n is the set of p with
B(1 + S_n, 1 + n - S_n) / (p^S_n (1 - p)^(n - S_n)) < 20.
(Howard, Ramdas, McAuliffe & Sekhon 2021, "Time-uniform, nonparametric, nonasymptotic
confidence sequences"; Robbins 1970.)
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from scipy import optimize, special

CONFIDENCE_BOUND = 20.0  # 1 / alpha for 95 %


class Anytime(NamedTuple):
    p_value: float
    interval: tuple[float, float]


def anytime_p_value(x_won) -> float:
    """min(1, 1 / max_{1 <= t <= n} M_t) for the decided outcomes in order (1 = X won)."""
    x_won = np.asarray(x_won, dtype=float)
    if x_won.size == 0:
        return 1.0
    t = np.arange(1, x_won.size + 1)
    s = np.cumsum(x_won).astype(np.int64)
    # B(1 + s, 1 + f) = s! f! / (s + f + 1)!: one table of log k! serves every t.
    log_factorial = special.gammaln(np.arange(x_won.size + 2) + 1.0)
    log_m = log_factorial[s] + log_factorial[t - s] - log_factorial[t + 1] + t * math.log(2.0)
    return float(min(1.0, math.exp(-float(log_m.max()))))


def anytime_interval(successes: int, n: int) -> tuple[float, float]:
    """The p in [0, 1] with B(1 + S, 1 + n - S) / (p^S (1 - p)^(n - S)) < 20, as [lo, hi]
    (the set is an interval: log p^S (1 - p)^(n - S) is concave in p)."""
    if n == 0:
        return (0.0, 1.0)
    threshold = float(special.betaln(1 + successes, 1 + n - successes)) - math.log(CONFIDENCE_BOUND)

    def margin(p: float) -> float:  # > 0 inside the set
        return float(special.xlogy(successes, p) + special.xlog1py(n - successes, -p)) - threshold

    peak = successes / n
    lo = 0.0 if margin(0.0) > 0 else optimize.brentq(margin, 0.0, peak, xtol=1e-14)
    hi = 1.0 if margin(1.0) > 0 else optimize.brentq(margin, peak, 1.0, xtol=1e-14)
    return (float(lo), float(hi))


def anytime(x_won) -> Anytime:
    x_won = np.asarray(x_won, dtype=float)
    return Anytime(anytime_p_value(x_won), anytime_interval(int(x_won.sum()), int(x_won.size)))
