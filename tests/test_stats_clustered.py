"""Clustered uncertainty, the length-adjusted win rate, non-inferiority, multiple testing
and the anytime-valid test, each against its library or an independent implementation."""

import math
import warnings

import numpy as np
import pytest
import statsmodels.api as sm
from scipy.special import betaln
from scipy.stats import binomtest, chi2_contingency
from statsmodels.stats.multitest import multipletests

from reviewapp.stats.clustered import (
    cluster_bootstrap_rate_interval,
    cluster_bootstrap_ratio_interval,
    cluster_codes,
    cluster_draw_counts,
    cluster_robust_se,
    design_effect,
    iid_se,
    length_adjusted_fit,
    length_adjusted_interval,
)
from reviewapp.stats.multiple import bh_adjusted, holm_adjusted, non_inferiority, tag_heterogeneity
from reviewapp.stats.sequential import anytime_interval, anytime_p_value


def clustered_sample(seed, n_clusters=40, per_cluster=(1, 6), effect=0.6):
    """Decided outcomes with a shared per-prompt tendency, so clustering matters."""
    rng = np.random.default_rng(seed)
    y, groups = [], []
    for g in range(n_clusters):
        p = np.clip(effect + rng.normal(0, 0.25), 0.02, 0.98)
        k = rng.integers(*per_cluster, endpoint=True)
        y += list((rng.random(k) < p).astype(float))
        groups += [f"prompt {g}"] * k
    return np.array(y), np.array(groups)


@pytest.mark.parametrize("seed", range(5))
def test_cluster_se_equals_statsmodels_cr1(seed):
    y, groups = clustered_sample(seed)
    codes, _ = cluster_codes(groups)
    fit = sm.OLS(y, np.ones_like(y)).fit(cov_type="cluster", cov_kwds={"groups": codes})
    assert cluster_robust_se(y, groups) == pytest.approx(float(fit.bse[0]), rel=1e-10)
    iid = np.std(y, ddof=1) / math.sqrt(y.size)
    assert iid_se(y) == pytest.approx(iid)
    assert design_effect(cluster_robust_se(y, groups), iid_se(y)) == pytest.approx(
        (float(fit.bse[0]) / iid) ** 2
    )


def test_cluster_se_undefined_with_one_cluster():
    assert cluster_robust_se([1, 0, 1], ["a", "a", "a"]) is None
    assert design_effect(None, 0.1) is None


def plain_cluster_bootstrap(y, groups, n_resamples, seed):
    """The textbook version, written independently: draw G prompts with replacement, pool
    their judgments, take the mean; the 2.5 and 97.5 percentiles."""
    rng = np.random.default_rng(seed + 1000)
    names = sorted(set(groups))
    by_name = {name: y[groups == name] for name in names}
    means = []
    for _ in range(n_resamples):
        drawn = rng.choice(len(names), size=len(names), replace=True)
        means.append(np.concatenate([by_name[names[i]] for i in drawn]).mean())
    return np.percentile(means, [2.5, 97.5])


@pytest.mark.parametrize("seed", range(3))
def test_cluster_bootstrap_is_reproducible_and_close_to_a_plain_numpy_bootstrap(seed):
    y, groups = clustered_sample(seed, n_clusters=60)
    codes, n_clusters = cluster_codes(groups)
    wins = np.bincount(codes, weights=y)
    trials = np.bincount(codes).astype(float)
    by_kind = cluster_bootstrap_rate_interval(wins, trials, 4000, seed)
    assert by_kind == cluster_bootstrap_rate_interval(wins, trials, 4000, seed)
    counts = cluster_draw_counts(n_clusters, 4000, seed)
    assert counts.sum(axis=1).tolist() == [n_clusters] * 4000
    by_cluster = cluster_bootstrap_ratio_interval(wins, trials, counts)
    reference = plain_cluster_bootstrap(y, groups, 4000, seed)
    for interval in (by_kind, by_cluster):
        assert interval[0] == pytest.approx(reference[0], abs=0.02)
        assert interval[1] == pytest.approx(reference[1], abs=0.02)
    # Wider than the iid normal interval when prompts cluster.
    iid_width = 2 * 1.96 * iid_se(y)
    assert by_kind[1] - by_kind[0] > 0.9 * iid_width


def test_cluster_draw_counts_are_uniform_draws_of_the_clusters():
    counts = cluster_draw_counts(5, 20_000, 1)
    assert counts.shape == (20_000, 5)
    assert counts.mean(axis=0) == pytest.approx([1.0] * 5, abs=0.03)
    # Binomial(5, 1/5) per cluster: variance 0.8.
    assert counts.var(axis=0) == pytest.approx([0.8] * 5, abs=0.05)


def length_sample(seed, n=300, coef=1.2, base=0.0):
    rng = np.random.default_rng(seed)
    len_x = rng.integers(50, 1500, n).astype(float)
    len_y = rng.integers(50, 1500, n).astype(float)
    diff = len_x - len_y
    d = np.tanh(diff / np.std(diff, ddof=1))
    p = 1 / (1 + np.exp(-(base + coef * d)))
    draw = rng.random(n)
    tie = rng.random(n) < 0.15
    y = np.where(tie, 0.5, (draw < p).astype(float))
    groups = np.array([f"q{i // 3}" for i in range(n)])
    return y, len_x, len_y, groups


@pytest.mark.parametrize("seed", range(4))
def test_length_fit_equals_statsmodels_glm_binomial(seed):
    y, len_x, len_y, _ = length_sample(seed)
    diff = len_x - len_y
    d = np.tanh(diff / np.std(diff, ddof=1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # statsmodels warns about non-integer outcomes
        ref = sm.GLM(y, np.column_stack([np.ones_like(d), d]), family=sm.families.Binomial()).fit()
    fit = length_adjusted_fit(y, len_x, len_y)
    assert fit.intercept == pytest.approx(ref.params[0], abs=1e-7)
    assert fit.coef == pytest.approx(ref.params[1], abs=1e-7)
    assert fit.coef > 0.5  # the simulated effect (1.2) is found


def test_length_fit_null_cases():
    assert length_adjusted_fit([1, 0] * 4, [1] * 8, [2] * 8) is None  # fewer than 10
    assert length_adjusted_fit([1, 0] * 10, [5] * 20, [3] * 20) is None  # s = 0
    # Separation: X wins exactly when it is longer -> no finite maximum.
    lengths = np.arange(20.0)
    y = (lengths > 9.5).astype(float)
    assert length_adjusted_fit(y, lengths, np.full(20, 9.5)) is None


def test_length_interval_is_reproducible_and_covers_the_point():
    y, len_x, len_y, groups = length_sample(7, n=240)
    codes, n_clusters = cluster_codes(groups)
    counts = cluster_draw_counts(n_clusters, 400, 5)
    lo, hi = length_adjusted_interval(y, len_x, len_y, codes, counts)
    fit = length_adjusted_fit(y, len_x, len_y)
    point = 1 / (1 + math.exp(-fit.intercept))
    assert lo < point < hi
    assert (lo, hi) == length_adjusted_interval(y, len_x, len_y, codes, counts, start=fit)
    # One resample done by hand: the judgments of the drawn clusters, refitted.
    take = np.concatenate(
        [np.repeat(np.flatnonzero(codes == c), k) for c, k in enumerate(counts[0])]
    )
    by_hand = length_adjusted_fit(y[take], len_x[take], len_y[take])
    one = length_adjusted_interval(y, len_x, len_y, codes, counts[:1])
    assert one[0] == pytest.approx(1 / (1 + math.exp(-by_hand.intercept)), abs=1e-9)
    # Judgments outside every drawable cluster (code -1) never come into a resample.
    outside = codes.copy()
    outside[codes == 0] = -1
    shrunk = length_adjusted_interval(y, len_x, len_y, outside, counts[:1, :])
    kept = np.concatenate(
        [np.repeat(np.flatnonzero(codes == c), k) for c, k in enumerate(counts[0]) if c]
    )
    refit = length_adjusted_fit(y[kept], len_x[kept], len_y[kept])
    assert shrunk[0] == pytest.approx(1 / (1 + math.exp(-refit.intercept)), abs=1e-9)


@pytest.mark.parametrize(
    ("wins", "decided", "margin"), [(48, 100, 0.05), (40, 100, 0.1), (7, 9, 0)]
)
def test_non_inferiority_p_value_is_scipys_one_sided_binomtest(wins, decided, margin):
    result = non_inferiority(wins, decided, margin, cluster_se=0.05)
    expected = binomtest(wins, decided, 0.5 - margin, alternative="greater").pvalue
    assert result.p_value == pytest.approx(expected, rel=1e-12)
    z = (wins / decided - (0.5 - margin)) / 0.05
    assert result.cluster_p_value == pytest.approx(0.5 * math.erfc(z / math.sqrt(2)))
    assert result.holds == (result.p_value < 0.05 and result.cluster_p_value < 0.05)


def test_non_inferiority_with_every_judgment_one_way():
    assert non_inferiority(9, 9, 0.05, cluster_se=0.0).cluster_p_value == 0.0
    assert non_inferiority(0, 9, 0.05, cluster_se=0.0).cluster_p_value == 1.0
    assert non_inferiority(3, 9, 0.05, cluster_se=None).holds is False
    assert non_inferiority(0, 0, 0.05, cluster_se=None).p_value is None


# Benjamini & Hochberg (1995), section 4: the 15 p-values of their worked example; at
# 0.05 Bonferroni rejects 3 hypotheses and their procedure 4.
BH_1995 = [0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344, 0.0459,
           0.3240, 0.4262, 0.5719, 0.6528, 0.7590, 1.000]  # fmt: skip


def test_benjamini_hochberg_worked_example():
    assert sum(p < 0.05 for p in bh_adjusted(BH_1995)) == 4
    assert sum(p * len(BH_1995) < 0.05 for p in BH_1995) == 3  # Bonferroni
    assert bh_adjusted(BH_1995) == pytest.approx(multipletests(BH_1995, method="fdr_bh")[1])


@pytest.mark.parametrize("seed", range(5))
def test_holm_and_bh_equal_multipletests(seed):
    p = np.random.default_rng(seed).random(12) ** 3
    assert holm_adjusted(p) == pytest.approx(multipletests(p, method="holm")[1])
    assert bh_adjusted(p) == pytest.approx(multipletests(p, method="fdr_bh")[1])


def test_heterogeneity_equals_scipy_chi2_contingency():
    x, y = [30, 12, 25], [10, 20, 24]
    chi2, p, dof, _ = chi2_contingency(np.column_stack([x, y]), correction=False)
    result = tag_heterogeneity(x, y)
    assert (result.chi2, result.dof) == (pytest.approx(chi2), dof)
    assert result.p_value == pytest.approx(p)
    assert tag_heterogeneity([3], [4]) is None
    assert tag_heterogeneity([3, 5], [0, 0]) is None


def martingale_by_hand(outcomes):
    """M_t for t = 1..n straight from the definition, with math.lgamma."""
    values, s = [], 0
    for t, won in enumerate(outcomes, start=1):
        s += won
        log_beta = math.lgamma(1 + s) + math.lgamma(1 + t - s) - math.lgamma(2 + t)
        values.append(math.exp(log_beta + t * math.log(2)))
    return values


@pytest.mark.parametrize("seed", range(5))
def test_anytime_p_value_matches_the_martingale_by_hand(seed):
    outcomes = (np.random.default_rng(seed).random(60) < 0.65).astype(int)
    expected = min(1.0, 1 / max(martingale_by_hand(outcomes)))
    assert anytime_p_value(outcomes) == pytest.approx(expected, rel=1e-10)


def test_anytime_interval_bounds_hold_the_threshold():
    s, n = 37, 50
    lo, hi = anytime_interval(s, n)
    assert lo < s / n < hi

    def ratio(p):
        return math.exp(betaln(1 + s, 1 + n - s) - s * math.log(p) - (n - s) * math.log(1 - p))

    assert ratio(lo) == pytest.approx(20, rel=1e-6)
    assert ratio(hi) == pytest.approx(20, rel=1e-6)
    assert ratio(lo - 1e-3) > 20 and ratio(hi + 1e-3) > 20
    assert anytime_interval(0, 0) == (0.0, 1.0)
    assert anytime_interval(0, 10)[0] == 0.0


def test_peeking_after_every_judgment_stays_under_five_percent():
    """No true difference, a look after every judgment up to 200: the share of runs that
    ever reach anytime p < 0.05 stays under 5 % (Ville's inequality)."""
    rng = np.random.default_rng(2024)
    runs, rejected = 2000, 0
    for _ in range(runs):
        outcomes = (rng.random(200) < 0.5).astype(int)
        rejected += anytime_p_value(outcomes) < 0.05
    assert rejected / runs < 0.05
