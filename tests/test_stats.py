"""Tests for reviewapp/stats.py against established libraries and published examples.

Oracles: statsmodels (Wilson interval, Fleiss' kappa), scipy (binomtest, binom), the
``krippendorff`` package, scikit-learn (cohen_kappa_score, unpenalised LogisticRegression for
Bradley-Terry as LMSYS fits it). Published tables live in tests/resources/stats/ (see the
README there). No Django needed.
"""

from __future__ import annotations

import csv
import itertools
import math
import time
import warnings
from pathlib import Path

import krippendorff
import numpy as np
import pytest
import sklearn
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse.csgraph import connected_components
from scipy.stats import binom, binomtest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss_kappa
from statsmodels.stats.proportion import proportion_confint

from reviewapp import stats

RESOURCES = Path(__file__).parent / "resources" / "stats"
LIBRARY_TOL = 1e-9


def read_counts(name: str) -> np.ndarray:
    with open(RESOURCES / name, newline="") as handle:
        rows = list(csv.reader(handle))
    return np.array([[int(cell) for cell in row[1:]] for row in rows[1:]])


def read_reliability_data(name: str) -> np.ndarray:
    """Observers x units matrix, NaN where the observer gave no value."""
    with open(RESOURCES / name, newline="") as handle:
        rows = list(csv.reader(handle))
    return np.array(
        [[float(cell) if cell else np.nan for cell in row[1:]] for row in rows[1:]], dtype=float
    )


def reliability_to_counts(data: np.ndarray) -> np.ndarray:
    values = np.unique(data[~np.isnan(data)])
    return np.array([[np.sum(unit == v) for v in values] for unit in data.T])


def counts_to_reliability(counts: np.ndarray) -> np.ndarray:
    """Raters x items matrix giving item i the categories in counts[i] (NaN-padded).

    Which rater gave which value does not matter to Fleiss or Krippendorff."""
    counts = np.asarray(counts, dtype=int)
    n_raters = max(int(counts.sum(axis=1).max()), 2)
    data = np.full((n_raters, counts.shape[0]), np.nan)
    for item, row in enumerate(counts):
        values = np.repeat(np.arange(counts.shape[1]), row)
        data[: values.size, item] = values
    return data


def is_plain_float(value) -> bool:
    return type(value) is float and math.isfinite(value)


# --------------------------------------------------------------------------- Wilson interval


@pytest.mark.parametrize("n_max", [5, 50, 1000, 100_000])
@pytest.mark.parametrize("confidence", [0.8, 0.95, 0.99])
def test_wilson_matches_statsmodels(n_max, confidence):
    rng = np.random.default_rng(n_max)
    for _ in range(40):
        n = int(rng.integers(1, n_max + 1))
        successes = int(rng.integers(0, n + 1))
        lo, hi = stats.wilson_interval(successes, n, confidence)
        ref_lo, ref_hi = proportion_confint(successes, n, alpha=1 - confidence, method="wilson")
        assert is_plain_float(lo) and is_plain_float(hi)
        assert lo == pytest.approx(ref_lo, abs=LIBRARY_TOL)
        assert hi == pytest.approx(ref_hi, abs=LIBRARY_TOL)
        assert 0.0 <= lo <= successes / n <= hi <= 1.0


def test_wilson_edges():
    assert stats.wilson_interval(0, 0) == (None, None)
    lo, hi = stats.wilson_interval(0, 10)
    assert lo == 0.0 and 0 < hi < 1
    lo, hi = stats.wilson_interval(10, 10)
    assert hi == 1.0 and 0 < lo < 1
    # Fractional successes (ties as halves) are allowed and continuous.
    assert stats.wilson_interval(5.5, 10)[0] == pytest.approx(
        proportion_confint(5.5, 10, method="wilson")[0], abs=LIBRARY_TOL
    )
    with pytest.raises(ValueError):
        stats.wilson_interval(11, 10)
    with pytest.raises(ValueError):
        stats.wilson_interval(1, 10, confidence=1.0)


# --------------------------------------------------------------------------- binomial tests


def test_binomial_two_sided_matches_scipy_exhaustively_small_n():
    for p in (0.5, 0.3, 0.77, 0.01):
        for n in range(1, 41):
            for k in range(n + 1):
                ours = stats.binomial_test_two_sided(k, n, p)
                assert is_plain_float(ours)
                assert ours == pytest.approx(binomtest(k, n, p).pvalue, rel=1e-12, abs=1e-300)


@pytest.mark.parametrize("n_max", [100, 2000, 50_000])
def test_binomial_tests_match_scipy_random(n_max):
    rng = np.random.default_rng(n_max)
    for _ in range(60):
        n = int(rng.integers(1, n_max + 1))
        k = int(rng.integers(0, n + 1))
        p = float(rng.choice([0.5, rng.uniform(0.02, 0.98), k / n]))
        assert stats.binomial_test_two_sided(k, n, p) == pytest.approx(
            binomtest(k, n, p).pvalue, rel=1e-12, abs=1e-300
        )
        assert stats.binomial_test_one_sided_less(k, n, p) == pytest.approx(
            binomtest(k, n, p, alternative="less").pvalue, rel=1e-12, abs=1e-300
        )


def test_binomial_edges():
    assert stats.binomial_test_two_sided(0, 0) is None
    assert stats.binomial_test_one_sided_less(0, 0, 0.5) is None
    assert stats.binomial_test_two_sided(5, 10) == 1.0
    assert stats.binomial_test_two_sided(0, 1) == 1.0  # one judgment proves nothing
    assert stats.binomial_test_two_sided(10, 10) == pytest.approx(2 / 1024)
    assert stats.binomial_test_one_sided_less(10, 10, 0.9) == 1.0
    assert stats.binomial_test_two_sided(3, 5, 1.0) == 0.0
    with pytest.raises(ValueError):
        stats.binomial_test_two_sided(6, 5)
    with pytest.raises(TypeError):
        stats.binomial_test_two_sided(2.5, 5)


def test_position_bias():
    result = stats.position_bias(70, 100)
    assert result.share == 0.7
    assert (result.ci_low, result.ci_high) == stats.wilson_interval(70, 100)
    assert result.p_value == pytest.approx(binomtest(70, 100).pvalue, rel=1e-12)
    assert stats.position_bias(0, 0) == (None, None, None, None)


# --------------------------------------------------------------------------- agreement


def random_counts(rng, n_items, n_categories, raters_per_item):
    """items x categories counts; raters_per_item an int (constant) or an array."""
    per_item = np.broadcast_to(raters_per_item, (n_items,))
    probs = rng.dirichlet(np.ones(n_categories) * 0.7)
    return np.array([rng.multinomial(m, probs) for m in per_item])


@pytest.mark.parametrize(
    "n_items,n_categories,n_raters", [(5, 2, 2), (12, 3, 3), (40, 3, 5), (200, 5, 7)]
)
def test_fleiss_matches_statsmodels(n_items, n_categories, n_raters):
    rng = np.random.default_rng(n_items * 100 + n_raters)
    for _ in range(20):
        counts = random_counts(rng, n_items, n_categories, n_raters)
        if np.count_nonzero(counts.sum(axis=0)) < 2:
            continue
        ours = stats.fleiss_kappa(counts)
        assert is_plain_float(ours)
        assert ours == pytest.approx(sm_fleiss_kappa(counts, method="fleiss"), abs=LIBRARY_TOL)


def test_fleiss_wikipedia_example():
    counts = read_counts("fleiss_kappa_wikipedia.csv")
    assert counts.shape == (10, 5) and set(counts.sum(axis=1)) == {14}
    # The intermediate figures printed on the page pin the table itself.
    shares = counts.sum(axis=0) / counts.sum()
    assert [round(x, 3) for x in shares] == [0.143, 0.200, 0.279, 0.150, 0.229]
    assert round(stats.percent_agreement(counts), 3) == 0.378
    assert round(float(np.sum(shares**2)), 3) == 0.213
    kappa = stats.fleiss_kappa(counts)
    assert round(kappa, 3) == 0.210
    assert kappa == pytest.approx(sm_fleiss_kappa(counts), abs=LIBRARY_TOL)


def test_fleiss_1971_table1():
    counts = read_counts("fleiss_1971_table1.csv")
    assert counts.shape == (30, 5) and set(counts.sum(axis=1)) == {6}
    assert list(counts.sum(axis=0)) == [26, 26, 30, 55, 43]
    kappa = stats.fleiss_kappa(counts)
    assert round(kappa, 3) == 0.430  # Fleiss (1971)
    assert kappa == pytest.approx(0.4302445, abs=5e-8)  # R irr::kappam.fleiss(diagnoses)
    assert kappa == pytest.approx(sm_fleiss_kappa(counts), abs=LIBRARY_TOL)
    # Per-category kappas (Fleiss 1971 eq. 20; irr detail=TRUE) pin every column.
    m, n_items = 6, counts.shape[0]
    shares = counts.sum(axis=0) / (n_items * m)
    per_category = 1 - (counts * (m - counts)).sum(axis=0) / (
        n_items * m * (m - 1) * shares * (1 - shares)
    )
    assert [round(x, 3) for x in per_category] == [0.245, 0.245, 0.520, 0.471, 0.566]
    # Krippendorff's alpha on complete data is Fleiss' kappa corrected for sample size.
    alpha = stats.krippendorff_alpha_nominal(counts)
    total = counts.sum()
    assert alpha == pytest.approx(1 - (1 - kappa) * (total - 1) / total, abs=1e-12)


def test_fleiss_degenerate():
    assert stats.fleiss_kappa(np.zeros((0, 3))) is None
    # Everyone always picks the same category: P_e == 1, undefined (statsmodels: NaN).
    same = np.array([[4, 0, 0]] * 5)
    assert stats.fleiss_kappa(same) is None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert np.isnan(sm_fleiss_kappa(same))
    # Perfect agreement spread over categories.
    assert stats.fleiss_kappa(np.array([[3, 0, 0], [0, 3, 0], [0, 0, 3], [3, 0, 0]])) == 1.0
    # One item, split ratings: kappa is defined (and negative).
    assert stats.fleiss_kappa([[1, 1]]) == pytest.approx(sm_fleiss_kappa(np.array([[1, 1]])))
    with pytest.raises(ValueError, match="same number"):
        stats.fleiss_kappa([[2, 1], [1, 1]])
    with pytest.raises(ValueError, match="at least 2"):
        stats.fleiss_kappa([[1, 0], [0, 1]])
    with pytest.raises(ValueError):
        stats.fleiss_kappa([[-1, 3]])


@pytest.mark.parametrize("n_items,n_categories,max_raters", [(6, 2, 3), (25, 3, 4), (150, 4, 9)])
def test_krippendorff_matches_package(n_items, n_categories, max_raters):
    rng = np.random.default_rng(n_items + max_raters)
    for _ in range(15):
        # Variable numbers of ratings, including unpairable items with 0 or 1 rating.
        per_item = rng.integers(0, max_raters + 1, size=n_items)
        counts = random_counts(rng, n_items, n_categories, per_item)
        pairable = counts[counts.sum(axis=1) >= 2]
        if np.count_nonzero(pairable.sum(axis=0)) < 2:
            continue
        ours = stats.krippendorff_alpha_nominal(counts)
        reference = krippendorff.alpha(
            reliability_data=counts_to_reliability(counts), level_of_measurement="nominal"
        )
        assert is_plain_float(ours)
        assert ours == pytest.approx(reference, abs=LIBRARY_TOL)


def test_krippendorff_2011_example():
    data = read_reliability_data("krippendorff_2011_nominal.csv")
    assert data.shape == (4, 12) and int(np.sum(~np.isnan(data))) == 41
    counts = reliability_to_counts(data)
    alpha = stats.krippendorff_alpha_nominal(counts)
    assert round(alpha, 3) == 0.743
    reference = krippendorff.alpha(reliability_data=data, level_of_measurement="nominal")
    assert alpha == pytest.approx(reference, abs=LIBRARY_TOL)
    # Dropping the unpairable unit 12 changes nothing.
    assert stats.krippendorff_alpha_nominal(counts[:11]) == pytest.approx(alpha, abs=1e-15)


def test_krippendorff_degenerate():
    assert stats.krippendorff_alpha_nominal(np.zeros((0, 3))) is None
    assert stats.krippendorff_alpha_nominal([[1, 0], [0, 1]]) is None  # nothing pairable
    assert stats.krippendorff_alpha_nominal([[3, 0], [2, 0], [0, 1]]) is None  # one category
    assert stats.krippendorff_alpha_nominal([[3, 0], [0, 2], [0, 1]]) == 1.0
    # One item, split: defined.
    one = np.array([[1, 1, 0]])
    assert stats.krippendorff_alpha_nominal(one) == pytest.approx(
        krippendorff.alpha(value_counts=one, level_of_measurement="nominal"), abs=LIBRARY_TOL
    )


@given(
    st.lists(st.lists(st.integers(0, 4), min_size=3, max_size=3), min_size=1, max_size=12).filter(
        lambda rows: sum(1 for r in rows if sum(r) >= 2) >= 1
    )
)
@settings(max_examples=60, deadline=None, derandomize=True)
def test_krippendorff_property_matches_package(rows):
    counts = np.array(rows)
    pairable = counts[counts.sum(axis=1) >= 2]
    ours = stats.krippendorff_alpha_nominal(counts)
    if np.count_nonzero(pairable.sum(axis=0)) < 2:
        assert ours is None
        return
    reference = krippendorff.alpha(value_counts=counts, level_of_measurement="nominal")
    assert ours == pytest.approx(reference, abs=LIBRARY_TOL)
    # Relabelling categories changes nothing.
    assert stats.krippendorff_alpha_nominal(counts[:, ::-1]) == pytest.approx(ours, abs=1e-12)


def brute_force_percent_agreement(counts: np.ndarray) -> float | None:
    shares = []
    for row in counts:
        labels = np.repeat(np.arange(row.size), row)
        pairs = list(itertools.combinations(labels, 2))
        if pairs:
            shares.append(np.mean([a == b for a, b in pairs]))
    return float(np.mean(shares)) if shares else None


def test_percent_agreement_matches_pair_enumeration():
    rng = np.random.default_rng(7)
    for _ in range(30):
        counts = random_counts(rng, 15, 3, rng.integers(0, 6, size=15))
        ours = stats.percent_agreement(counts)
        assert ours == pytest.approx(brute_force_percent_agreement(counts), abs=1e-12)
    assert stats.percent_agreement([[1, 0, 0], [0, 0, 0]]) is None
    assert stats.percent_agreement([[2, 0, 0]]) == 1.0
    assert stats.percent_agreement([[1, 1, 0]]) == 0.0


@pytest.mark.parametrize("n_items,n_categories", [(10, 2), (60, 3), (500, 3)])
def test_cohen_matches_sklearn(n_items, n_categories):
    rng = np.random.default_rng(n_items)
    labels = ["x_wins", "y_wins", "tie"][:n_categories]
    for _ in range(20):
        a = rng.choice(labels, size=n_items)
        # B agrees with A 60 % of the time, otherwise picks at random.
        b = np.where(rng.random(n_items) < 0.6, a, rng.choice(labels, size=n_items))
        if len(set(a) | set(b)) < 2:
            continue
        ours = stats.cohen_kappa(list(a), list(b))
        assert is_plain_float(ours)
        assert ours == pytest.approx(cohen_kappa_score(a, b), abs=LIBRARY_TOL)


def test_cohen_degenerate_and_table():
    assert stats.cohen_kappa([], []) is None
    assert stats.cohen_kappa(["tie"] * 4, ["tie"] * 4) is None  # p_e == 1
    assert stats.cohen_kappa(["a", "b", "a"], ["a", "b", "a"]) == 1.0
    # One rater constant, the other not: p_e < 1, kappa 0 (no agreement beyond chance).
    assert stats.cohen_kappa(["a", "a", "a", "a"], ["a", "b", "a", "b"]) == 0.0
    # Textbook 2x2: p_o = 0.7, p_e = 0.5, kappa = 0.4.
    assert stats.cohen_kappa_from_table([[20, 5], [10, 15]]) == pytest.approx(0.4)
    assert stats.cohen_kappa_from_table(np.zeros((3, 3))) is None
    with pytest.raises(ValueError):
        stats.cohen_kappa(["a"], [])


# --------------------------------------------------------------------------- Bradley-Terry


def unpenalized_logistic_regression() -> LogisticRegression:
    """LogisticRegression without intercept or penalty, across scikit-learn versions.

    scikit-learn 1.8 deprecated penalty=None in favour of C=np.inf (removal in 1.10)."""
    version = tuple(int(part) for part in sklearn.__version__.split(".")[:2])
    options = {"fit_intercept": False, "tol": 1e-12, "max_iter": 100_000}
    if version >= (1, 8):
        return LogisticRegression(C=np.inf, **options)
    return LogisticRegression(penalty=None, **options)


def random_tournament(rng, n_models, *, density=1.0, tie_rate=0.2, max_n=200):
    pairs = np.array(
        [p for p in itertools.combinations(range(n_models), 2) if rng.random() < density]
    )
    true = rng.normal(0, 150, n_models)
    n = rng.integers(5, max_n, len(pairs))
    p_i = 1 / (1 + 10 ** ((true[pairs[:, 1]] - true[pairs[:, 0]]) / 400))
    ties = rng.binomial(n, tie_rate)
    i_wins = rng.binomial(n - ties, p_i)
    j_wins = n - ties - i_wins
    return pairs[:, 0], pairs[:, 1], i_wins, j_wins, ties


def lmsys_design(n_models, model_i, model_j, i_wins, j_wins, ties):
    """The design of LMSYS compute_mle_elo: for each ordered pair (a, b), one row with y=1
    weighted ptbl_win[a, b] and one with y=0 weighted ptbl_win[b, a], where
    ptbl_win = 2 * decisive wins + ties (+ its transpose): a tie is an a-win and a b-win of
    weight 1 each, a decisive judgment weight 2. Features +-log(10)."""
    win = np.zeros((n_models, n_models))
    tie = np.zeros((n_models, n_models))
    np.add.at(win, (model_i, model_j), i_wins)
    np.add.at(win, (model_j, model_i), j_wins)
    np.add.at(tie, (model_i, model_j), ties)
    ptbl_win = 2 * win + tie + tie.T
    rows, labels, weights = [], [], []
    for a in range(n_models):
        for b in range(n_models):
            if a == b:
                continue
            x = np.zeros(n_models)
            x[a], x[b] = math.log(10), -math.log(10)
            rows += [x, x]
            labels += [1, 0]
            weights += [ptbl_win[a, b], ptbl_win[b, a]]
    return np.array(rows), np.array(labels), np.array(weights)


def judgment_rows_design(n_models, model_i, model_j, i_wins, j_wins, ties):
    """One row per judgment (duplicated design): a decisive judgment is one row of weight
    1; a tie is two rows (i won, j won) of weight 1/2 each."""
    rows, labels, weights = [], [], []
    for i, j, wi, wj, t in zip(model_i, model_j, i_wins, j_wins, ties, strict=True):
        x = np.zeros(n_models)
        x[i], x[j] = math.log(10), -math.log(10)
        rows += [x] * int(wi + wj + 2 * t)
        labels += [1] * int(wi) + [0] * int(wj) + [1, 0] * int(t)
        weights += [1.0] * int(wi + wj) + [0.5] * int(2 * t)
    return np.array(rows), np.array(labels), np.array(weights)


def sklearn_ratings(design) -> np.ndarray:
    x, y, w = design
    model = unpenalized_logistic_regression()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(x, y, sample_weight=w)
    ratings = 400 * model.coef_[0]
    return ratings + 1000 - ratings.mean()


@pytest.mark.parametrize("n_models,max_n", [(2, 30), (3, 60), (5, 100), (8, 200)])
def test_bradley_terry_matches_sklearn_lmsys_design(n_models, max_n):
    rng = np.random.default_rng(n_models)
    for _ in range(3):
        pairs = random_tournament(rng, n_models, max_n=max_n)
        wins = stats.build_win_matrix(n_models, *pairs)
        ours = stats.bradley_terry_ratings(wins)
        assert ours is not None and all(is_plain_float(r) for r in ours)
        assert np.mean(ours) == pytest.approx(1000, abs=1e-9)
        lmsys = sklearn_ratings(lmsys_design(n_models, *pairs))
        np.testing.assert_allclose(ours, lmsys, atol=1e-3)


def test_bradley_terry_tie_weighting_equivalences():
    """Aggregated half-win counts == LMSYS duplicated rows == one row per judgment with a
    tie as two half-weight rows; and ties do move the ratings (they are not dropped)."""
    rng = np.random.default_rng(11)
    n_models = 4
    pairs = random_tournament(rng, n_models, tie_rate=0.35, max_n=40)
    ours = stats.bradley_terry_ratings(stats.build_win_matrix(n_models, *pairs))
    np.testing.assert_allclose(ours, sklearn_ratings(lmsys_design(n_models, *pairs)), atol=1e-3)
    np.testing.assert_allclose(
        ours, sklearn_ratings(judgment_rows_design(n_models, *pairs)), atol=1e-3
    )
    model_i, model_j, i_wins, j_wins, ties = pairs
    without_ties = stats.bradley_terry_ratings(
        stats.build_win_matrix(n_models, model_i, model_j, i_wins, j_wins, 0 * ties)
    )
    assert np.max(np.abs(np.subtract(ours, without_ties))) > 1.0


def test_bradley_terry_closed_forms_and_score_equations():
    # Two models: R_a - R_b = 400 log10(W_ab / W_ba).
    ratings = stats.bradley_terry_ratings([[0, 10], [1, 0]])
    assert ratings[0] - ratings[1] == pytest.approx(400.0, abs=1e-9)
    assert ratings == pytest.approx([1200.0, 800.0], abs=1e-9)
    # 3 wins, 1 loss, 2 ties -> 4 half-wins against 2.
    wins = stats.build_win_matrix(2, [0], [1], [3], [1], [2])
    assert wins.tolist() == [[0.0, 4.0], [2.0, 0.0]]
    a, b = stats.bradley_terry_ratings(wins)
    assert a - b == pytest.approx(400 * math.log10(2), abs=1e-9)
    # Pairs may be listed in either order and repeated.
    assert stats.build_win_matrix(2, [1, 0], [0, 1], [1, 1], [2, 0], [0, 2]).tolist() == [
        [0.0, 4.0],
        [2.0, 0.0],
    ]
    # MLE score equations: each model's expected half-wins equal its observed ones.
    rng = np.random.default_rng(5)
    wins = stats.build_win_matrix(6, *random_tournament(rng, 6, density=0.7))
    ratings = np.array(stats.bradley_terry_ratings(wins))
    expected = 1 / (1 + 10 ** ((ratings[None, :] - ratings[:, None]) / 400))
    totals = wins + wins.T
    np.testing.assert_allclose((totals * expected).sum(axis=1), wins.sum(axis=1), rtol=0, atol=1e-8)


def test_bradley_terry_existence():
    # Cycle a > b > c > a: strongly connected.
    cycle = [[0, 1, 0], [0, 0, 1], [1, 0, 0]]
    assert stats.bradley_terry_mle_exists(cycle)
    assert stats.bradley_terry_ratings(cycle) == pytest.approx([1000.0] * 3, abs=1e-9)
    # A model that won every judgment.
    dominant = [[0, 3, 2], [0, 0, 1], [0, 1, 0]]
    assert not stats.bradley_terry_mle_exists(dominant)
    assert stats.bradley_terry_ratings(dominant) is None
    # A model that lost every judgment; a chain a > b > c.
    assert stats.bradley_terry_ratings([[0, 1, 1], [1, 0, 1], [0, 0, 0]]) is None
    assert stats.bradley_terry_ratings([[0, 5, 0], [0, 0, 5], [0, 0, 0]]) is None
    # Two groups never compared with each other.
    two_groups = stats.build_win_matrix(4, [0, 2], [1, 3], [2, 2], [1, 1], [0, 0])
    assert stats.bradley_terry_ratings(two_groups) is None
    # A model without any judgment.
    assert stats.bradley_terry_ratings([[0, 1, 0], [1, 0, 0], [0, 0, 0]]) is None
    # A tie alone connects both ways; all ties -> everyone equal.
    assert stats.bradley_terry_ratings(stats.build_win_matrix(2, [0], [1], [0], [0], [3])) == (
        pytest.approx([1000.0, 1000.0], abs=1e-9)
    )
    all_ties = stats.build_win_matrix(3, [0, 1, 0], [1, 2, 2], [0, 0, 0], [0, 0, 0], [2, 5, 1])
    assert stats.bradley_terry_ratings(all_ties) == pytest.approx([1000.0] * 3, abs=1e-9)
    # One model alone; nothing at all.
    assert stats.bradley_terry_ratings([[0]]) == [1000.0]
    assert stats.bradley_terry_ratings(np.zeros((0, 0))) == []
    # No judgments between two models.
    assert stats.bradley_terry_ratings(np.zeros((2, 2))) is None


def test_bradley_terry_existence_matches_scipy_strong_components():
    """Existence == one strongly connected component (scipy.sparse.csgraph); where it
    exists the fit satisfies the score equations, over sparse, skewed, large and tiny data."""
    rng = np.random.default_rng(17)
    seen = {True: 0, False: 0}
    for _ in range(300):
        k = int(rng.integers(2, 10))
        wins = rng.exponential(1, (k, k)) * (rng.random((k, k)) < rng.uniform(0.1, 0.9))
        wins *= 10 ** rng.uniform(-1, 5) * np.exp(rng.normal(0, 2, (k, 1)))
        np.fill_diagonal(wins, 0)
        n_components = connected_components(wins > 0, directed=True, connection="strong")[0]
        exists = stats.bradley_terry_mle_exists(wins)
        assert exists == (n_components == 1)
        seen[exists] += 1
        ratings = stats.bradley_terry_ratings(wins)
        if not exists:
            assert ratings is None
            continue
        r = np.array(ratings)
        expected = 1 / (1 + 10 ** ((r[None, :] - r[:, None]) / 400))
        residual = (wins + wins.T) * expected
        np.testing.assert_allclose(residual.sum(axis=1), wins.sum(axis=1), rtol=1e-9)
    assert min(seen.values()) > 50


def test_bradley_terry_near_separation_is_finite_and_exact():
    # One loss in 1000 judgments: the MLE exists and is far out, but finite and exact.
    ratings = stats.bradley_terry_ratings([[0, 999], [1, 0]])
    assert ratings[0] - ratings[1] == pytest.approx(400 * math.log10(999), abs=1e-8)


def test_rank_ratings():
    assert stats.rank_ratings([1000.0, 1100.0, 1000.0, 900.0]) == [2, 1, 2, 4]
    assert stats.rank_ratings([1000.0, 1000.0 + 1e-9]) == [1, 1]
    assert stats.rank_ratings([]) == []
    rng = np.random.default_rng(2)
    wins = stats.build_win_matrix(5, *random_tournament(rng, 5))
    ratings = stats.bradley_terry_ratings(wins)
    order = np.argsort(ratings)[::-1]
    assert [stats.rank_ratings(ratings)[m] for m in order] == [1, 2, 3, 4, 5]


def eight_model_tournament():
    rng = np.random.default_rng(2024)
    return random_tournament(rng, 8, max_n=120)


def test_bootstrap_reproducible_and_contains_estimate():
    pairs = eight_model_tournament()
    first = stats.bootstrap_bradley_terry(8, *pairs, seed=42, n_resamples=500)
    again = stats.bootstrap_bradley_terry(8, *pairs, seed=42, n_resamples=500)
    other = stats.bootstrap_bradley_terry(8, *pairs, seed=43, n_resamples=500)
    assert first == again
    assert first.lower != other.lower
    generator = stats.bootstrap_bradley_terry(
        8, *pairs, seed=np.random.default_rng(42), n_resamples=500
    )
    assert generator == first
    assert first.ratings == stats.bradley_terry_ratings(stats.build_win_matrix(8, *pairs))
    assert first.ranks == stats.rank_ratings(first.ratings)
    assert first.n_resamples == 500 and first.n_used == 500
    for low, point, high in zip(first.lower, first.ratings, first.upper, strict=True):
        assert is_plain_float(low) and is_plain_float(high)
        assert low < point < high
        assert 10 < high - low < 300


def test_bootstrap_matches_slow_judgment_resampling():
    """Reference: resample individual judgment rows with replacement, fit each resample on
    its own. Same number of resamples; widths must agree up to Monte Carlo error."""
    n_models = 4
    rng = np.random.default_rng(99)
    pairs = random_tournament(rng, n_models, max_n=60)
    model_i, model_j, i_wins, j_wins, ties = pairs
    n_resamples = 400
    fast = stats.bootstrap_bradley_terry(n_models, *pairs, seed=1, n_resamples=n_resamples)

    # Judgment rows: (pair index, outcome 0 = i wins, 1 = j wins, 2 = tie).
    cells = np.concatenate([i_wins, j_wins, ties])
    cell_of_row = np.repeat(np.arange(cells.size), cells)
    n_pairs = len(model_i)
    reference = []
    resample_rng = np.random.default_rng(2)
    for _ in range(n_resamples):
        picked = cell_of_row[resample_rng.integers(0, cell_of_row.size, cell_of_row.size)]
        counts = np.bincount(picked, minlength=cells.size)
        wins = stats.build_win_matrix(
            n_models,
            model_i,
            model_j,
            counts[:n_pairs],
            counts[n_pairs : 2 * n_pairs],
            counts[2 * n_pairs :],
        )
        ratings = stats.bradley_terry_ratings(wins)
        if ratings is not None:
            reference.append(ratings)
    reference = np.array(reference)
    ref_lower, ref_upper = np.quantile(reference, [0.025, 0.975], axis=0)
    fast_width = np.subtract(fast.upper, fast.lower)
    np.testing.assert_allclose(fast_width, ref_upper - ref_lower, rtol=0.2)
    np.testing.assert_allclose(fast.lower, ref_lower, atol=0.25 * fast_width.mean())
    np.testing.assert_allclose(fast.upper, ref_upper, atol=0.25 * fast_width.mean())


def test_bootstrap_degenerate():
    # Full-data MLE missing: nothing resampled.
    result = stats.bootstrap_bradley_terry(2, [0], [1], [5], [0], [0], seed=0)
    assert result.ratings is None and result.lower is None and result.n_used == 0
    # Near-separation: 30-1; about (30/31)^31 ~ 36 % of resamples lose the single loss and
    # have no MLE, so too few remain for an interval (the point estimate stays).
    result = stats.bootstrap_bradley_terry(2, [0], [1], [30], [1], [0], seed=0, n_resamples=300)
    assert result.ratings is not None
    assert result.lower is None and result.upper is None
    assert 150 < result.n_used < 240
    relaxed = stats.bootstrap_bradley_terry(
        2, [0], [1], [30], [1], [0], seed=0, n_resamples=300, min_valid_fraction=0.5
    )
    assert relaxed.n_used == result.n_used and relaxed.lower is not None
    # One model pair with both outcomes present; all ties.
    result = stats.bootstrap_bradley_terry(2, [0], [1], [12], [8], [5], seed=0, n_resamples=200)
    assert result.lower[0] < result.ratings[0] < result.upper[0]
    assert result.lower[0] - 1000 == pytest.approx(1000 - result.upper[1], abs=1e-9)
    ties_only = stats.bootstrap_bradley_terry(2, [0], [1], [0], [0], [7], seed=0, n_resamples=50)
    assert ties_only.lower == pytest.approx([1000.0, 1000.0], abs=1e-9)
    assert ties_only.upper == pytest.approx([1000.0, 1000.0], abs=1e-9)
    # One model, no pairs.
    single = stats.bootstrap_bradley_terry(1, [], [], [], [], [], seed=0, n_resamples=10)
    assert single.ratings == [1000.0] and single.lower == [1000.0] and single.ranks == [1]
    with pytest.raises(ValueError):
        stats.bootstrap_bradley_terry(2, [0], [1], [1.5], [1], [0], seed=0)
    with pytest.raises(ValueError):
        stats.bootstrap_bradley_terry(2, [0], [0], [1], [1], [0], seed=0)
    with pytest.raises(TypeError):
        stats.bootstrap_bradley_terry(2, [0], [1], [1], [1], [0])  # seed is required


def test_bootstrap_speed_8_models_28_pairs():
    pairs = eight_model_tournament()
    assert len(pairs[0]) == 28
    stats.bootstrap_bradley_terry(8, *pairs, seed=0, n_resamples=50)  # warm-up
    start = time.perf_counter()
    result = stats.bootstrap_bradley_terry(8, *pairs, seed=0, n_resamples=1000)
    elapsed = time.perf_counter() - start
    assert result.n_used == 1000
    assert elapsed < 1.0, f"1000 resamples took {elapsed:.3f} s"


# --------------------------------------------------------------------------- sample size, power


def brute_force_power(n: int, p: float, alpha: float = 0.05) -> float:
    region = [k for k in range(n + 1) if binomtest(k, n, 0.5).pvalue <= alpha]
    return float(binom.pmf(region, n, p).sum())


@pytest.mark.parametrize("n", [6, 7, 10, 17, 30, 50, 100, 250, 600])
def test_min_detectable_win_rate_brute_force(n):
    p = stats.min_detectable_win_rate(n)
    assert is_plain_float(p) and 0.5 < p <= 1.0
    assert brute_force_power(n, p) >= 0.8
    assert brute_force_power(n, p - 1e-9) < 0.8


def test_min_detectable_win_rate_edges():
    # n <= 5: even 5 wins out of 5 has p-value 2/32 > 0.05.
    for n in range(6):
        assert stats.min_detectable_win_rate(n) is None
    # n = 6: region {0, 6}; power p^6 + (1-p)^6 = 0.8.
    p = stats.min_detectable_win_rate(6)
    assert p**6 + (1 - p) ** 6 == pytest.approx(0.8, abs=1e-9)
    # Monotone: more judgments detect smaller effects; other power and alpha.
    assert stats.min_detectable_win_rate(400) < stats.min_detectable_win_rate(100)
    p = stats.min_detectable_win_rate(80, power=0.9, alpha=0.01)
    assert brute_force_power(80, p, 0.01) >= 0.9 > brute_force_power(80, p - 1e-9, 0.01)


def statsmodels_excludes_half(p: float, trials: int, confidence: float) -> bool:
    lo, hi = proportion_confint(p * trials, trials, alpha=1 - confidence, method="wilson")
    return lo > 0.5 or hi < 0.5


@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_judgments_needed_to_exclude_half_against_statsmodels(confidence):
    rng = np.random.default_rng(int(confidence * 100))
    checked = 0
    for _ in range(80):
        n = int(rng.integers(1, 400))
        # Mostly close calls (they need more judgments), some clear ones.
        successes = int(
            round(n * rng.uniform(0.3, 0.7) if rng.random() < 0.8 else n * rng.random())
        )
        if 2 * successes == n:
            continue
        needed = stats.judgments_needed_to_exclude_half(successes, n, confidence)
        assert type(needed) is int and needed >= n
        p = successes / n
        assert statsmodels_excludes_half(p, needed, confidence)
        if needed > n:
            assert not statsmodels_excludes_half(p, needed - 1, confidence)
            checked += 1
    assert checked > 20


def test_judgments_needed_edges():
    assert stats.judgments_needed_to_exclude_half(0, 0) is None
    assert stats.judgments_needed_to_exclude_half(5, 10) is None  # exactly 50 %: never
    # Already excluded: no more needed.
    assert stats.judgments_needed_to_exclude_half(90, 100) == 100
    # 60 % needs N > 1.96^2 / (4 * 0.01) = 96.04 -> 97 judgments.
    assert stats.judgments_needed_to_exclude_half(6, 10) == 97
    assert stats.judgments_needed_to_exclude_half(4, 10) == 97
    # All wins: N > z^2 = 3.84 -> 4.
    assert stats.judgments_needed_to_exclude_half(1, 1) == 4
