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

from .agreement import (
    cohen_kappa,
    cohen_kappa_from_table,
    fleiss_kappa,
    krippendorff_alpha_nominal,
    percent_agreement,
)
from .bradley_terry import (
    BradleyTerryBootstrap,
    bootstrap_bradley_terry,
    bradley_terry_mle_exists,
    bradley_terry_ratings,
    build_win_matrix,
    rank_ratings,
)
from .power import judgments_needed_to_exclude_half, min_detectable_win_rate
from .proportions import (
    PositionBias,
    binomial_test_one_sided_less,
    binomial_test_two_sided,
    position_bias,
    wilson_interval,
)

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
