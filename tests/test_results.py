"""Results: the figures computed from the database agree with established libraries applied
to the raw exported judgments (statsmodels, scipy, krippendorff, scikit-learn), the
degenerate cases give defined results, and the page, JSON and command show them.

stats.py's own tests check each formula; these check the wiring: which judgments are
counted, the orientation X vs Y, the categories, the grouping by item and by reviewer.
"""

import csv
import io
import itertools
import json
import math
import re
import warnings
from datetime import timedelta
from html import unescape

import krippendorff
import numpy as np
import pandas as pd
import pytest
import sklearn
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from scipy.stats import binomtest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa
from statsmodels.stats.proportion import proportion_confint

from reviewapp.assignment import next_assignment
from reviewapp.experiments import create_experiment
from reviewapp.exports import write_judgments_csv
from reviewapp.judgments import Answer, record_submission
from reviewapp.models import Assignment, Judgment, Membership, Pair, pair_shuffle_key
from reviewapp.results import compute_results, orient, strength_word, verdict
from tests.conftest import make_experiment, make_user

# --------------------------------------------------------------------------- builders


def build_judged(
    owner,
    *,
    slug="judged",
    models=("base", "ft-v1", "ft-v2", "ft-v3"),
    baseline="base",
    n_pairs=120,
    reviewer_names=("ann", "bob", "cat", "dan", "eve"),
    reviews_per_pair=3,
    seed=7,
    tie_rate=0.2,
    unknown_side_rate=0.1,
    dimensions=("overall", "accuracy"),
    quality=None,
    choose=None,
):
    """An experiment with random pairs (both A/B orders), 1..reviews_per_pair+1 reviewers
    per pair (so some items have fewer and some more judgments than asked for), random
    screen sides (some unknown, as if imported) and random times, built with bulk inserts.

    `choose(rng, pair, reviewer, dimension)` may return "A"/"B"/"tie" to script choices."""
    rng = np.random.default_rng(seed)
    experiment = create_experiment(
        owner=owner, name=slug, slug=slug, baseline_model=baseline,
        reviews_per_pair=reviews_per_pair, dimensions=list(dimensions), status="open",
    )  # fmt: skip
    # No password: hashing one takes longer than building the whole experiment.
    users = [get_user_model().objects.create(username=name) for name in reviewer_names]
    experiment.reviewers.add(*users)
    quality = quality or {
        m: float(q) for m, q in zip(models, rng.normal(0, 1, len(models)), strict=True)
    }
    model_pairs = list(itertools.combinations(models, 2))
    pairs = []
    for i in range(n_pairs):
        a, b = model_pairs[i % len(model_pairs)]
        if rng.random() < 0.5:
            a, b = b, a
        external_id = f"p{i:04d}"
        pairs.append(
            Pair(
                experiment=experiment, external_id=external_id, prompt=f"prompt {i}",
                model_a=a, output_a="x", model_b=b, output_b="y",
                shuffle_key=pair_shuffle_key(experiment.seed, external_id),
            )
        )  # fmt: skip
    Pair.objects.bulk_create(pairs)
    now = timezone.now()
    assignments = []
    for pair in pairs:
        k = int(rng.integers(1, min(len(users), reviews_per_pair + 1) + 1))
        for idx in rng.choice(len(users), size=k, replace=False):
            side = rng.random()
            left_is_a = None if side < unknown_side_rate else bool(rng.random() < 0.6)
            shown = now - timedelta(seconds=float(rng.uniform(100, 10_000)))
            assignments.append(
                Assignment(
                    experiment=experiment, pair=pair, reviewer=users[idx], left_is_a=left_is_a,
                    status="submitted", shown_at=shown,
                    submitted_at=shown + timedelta(seconds=float(rng.gamma(2.0, 20.0))),
                )
            )  # fmt: skip
    Assignment.objects.bulk_create(assignments)
    dims = list(experiment.dimensions.all())
    judgments = []
    for assignment in assignments:
        pair = assignment.pair
        for dim in dims:
            choice = choose(rng, pair, assignment.reviewer, dim) if choose else None
            if choice is None:
                if rng.random() < tie_rate:
                    choice = "tie"
                else:
                    diff = quality[pair.model_a] - quality[pair.model_b]
                    p_a = 1 / (1 + math.exp(-diff))
                    # Reviewers lean a little to the left: position bias to detect.
                    if assignment.left_is_a is not None:
                        p_a += 0.08 if assignment.left_is_a else -0.08
                    choice = "A" if rng.random() < min(max(p_a, 0), 1) else "B"
            strength = "" if choice == "tie" else "clear"
            judgments.append(
                Judgment(assignment=assignment, dimension=dim, choice=choice, strength=strength)
            )
    Judgment.objects.bulk_create(judgments)
    return experiment


def exported(experiment) -> pd.DataFrame:
    out = io.StringIO()
    write_judgments_csv(experiment, out)
    return pd.read_csv(io.StringIO(out.getvalue()), dtype=str, keep_default_na=False)


def oriented(frame: pd.DataFrame, baseline: str) -> pd.DataFrame:
    """Adds model_x, model_y and the category (x / y / tie) of every exported row."""
    frame = frame.copy()
    xy = [orient(a, b, baseline) for a, b in zip(frame.model_a, frame.model_b, strict=True)]
    frame["model_x"] = [x for x, _ in xy]
    frame["model_y"] = [y for _, y in xy]
    frame["category"] = np.where(
        frame.winner == "tie", "tie", np.where(frame.winner == frame.model_x, "x", "y")
    )
    return frame


def unpenalized_logistic_regression() -> LogisticRegression:
    version = tuple(int(part) for part in sklearn.__version__.split(".")[:2])
    options = {"fit_intercept": False, "tol": 1e-12, "max_iter": 100_000}
    if version >= (1, 8):
        return LogisticRegression(C=np.inf, **options)
    return LogisticRegression(penalty=None, **options)


def sklearn_bradley_terry(frame: pd.DataFrame) -> dict[str, float]:
    """LMSYS compute_mle_elo on the raw judgments: every judgment twice, a tie once as a
    win of each side; features +-log(10); ratings 400 * coefficient, mean 1000."""
    models = sorted(set(frame.model_x) | set(frame.model_y))
    index = {m: i for i, m in enumerate(models)}
    rows, labels = [], []
    for x, y, category in zip(frame.model_x, frame.model_y, frame.category, strict=True):
        features = np.zeros(len(models))
        features[index[x]], features[index[y]] = math.log(10), -math.log(10)
        rows += [features, features]
        labels += {"x": [1, 1], "y": [0, 0], "tie": [1, 0]}[category]
    model = unpenalized_logistic_regression()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(np.array(rows), np.array(labels))
    ratings = 400 * model.coef_[0]
    ratings += 1000 - ratings.mean()
    return dict(zip(models, ratings, strict=True))


def assert_close(got, want, tol=1e-9):
    if want is None or (isinstance(want, float) and math.isnan(want)):
        assert got is None
    else:
        assert got == pytest.approx(want, abs=tol)


def assert_json_clean(results):
    """Serialisable as strict JSON: None where undefined, never NaN or infinity."""
    json.dumps(results, allow_nan=False)


# --------------------------------------------------------------------------- wiring


def check_against_libraries(experiment, results, frame):
    """Every figure of `results` against libraries applied to the exported rows."""
    baseline = experiment.baseline_model
    everyone = oriented(frame, baseline)
    frame = everyone[everyone.excluded == "false"]
    assert_json_clean(results)
    for dim_name, dim in results["dimensions"].items():
        rows = frame[frame.dimension == dim_name]
        assert dim["n_judgments"] == len(rows)
        # Model pairs: counts, Wilson (statsmodels), exact binomial test (scipy).
        groups = rows.groupby(["model_x", "model_y"]).category.value_counts().unstack(fill_value=0)
        assert [(p["model_x"], p["model_y"]) for p in dim["pairs"]] == list(groups.index)
        for pair in dim["pairs"]:
            g = groups.loc[(pair["model_x"], pair["model_y"])]
            x, y, t = int(g.get("x", 0)), int(g.get("y", 0)), int(g.get("tie", 0))
            assert (pair["x_wins"], pair["y_wins"], pair["ties"], pair["n"]) == (x, y, t, x + y + t)
            if x + y:
                lo, hi = proportion_confint(x, x + y, alpha=0.05, method="wilson")
                assert pair["x_win_rate"] == pytest.approx(x / (x + y))
                assert pair["x_win_rate_ci"] == pytest.approx([lo, hi], abs=1e-9)
                assert pair["p_value"] == pytest.approx(binomtest(x, x + y, 0.5).pvalue, rel=1e-9)
            else:
                assert pair["x_win_rate"] is None and pair["p_value"] is None
            assert pair["x_win_rate_ties_half"] == pytest.approx((x + t / 2) / (x + y + t))
        # Ratings: scikit-learn logistic regression on the duplicated judgments.
        if len(rows):
            want = sklearn_bradley_terry(rows)
            got = {m["model"]: m for m in dim["models"]}
            assert set(got) == set(want)
            for model, rating in want.items():
                assert got[model]["rating"] == pytest.approx(rating, abs=1e-3)
                lo, hi = got[model]["rating_ci"]
                if lo is not None:
                    assert lo <= got[model]["rating"] <= hi
                as_x = rows[rows.model_x == model].category.value_counts()
                as_y = rows[rows.model_y == model].category.value_counts()
                assert got[model]["wins"] == as_x.get("x", 0) + as_y.get("y", 0)
                assert got[model]["losses"] == as_x.get("y", 0) + as_y.get("x", 0)
                assert got[model]["ties"] == as_x.get("tie", 0) + as_y.get("tie", 0)
            # Competition ranking: equal records (the same rating) share a rank.
            for m in got.values():
                above = sum(o["rating"] > m["rating"] + 1e-6 for o in got.values())
                assert m["rank"] == 1 + above
        # Agreement over items (pairs) with >= 2 judgments.
        items = rows.groupby("pair_id").category.value_counts().unstack(fill_value=0)
        items = items.reindex(columns=["x", "y", "tie"], fill_value=0)
        sizes = items.sum(axis=1)
        multi = items[sizes >= 2].to_numpy(dtype=float)
        agreement = dim["agreement"]
        assert agreement["items"] == len(multi)
        n_i = multi.sum(axis=1)
        want_percent = np.mean((multi * (multi - 1)).sum(axis=1) / (n_i * (n_i - 1)))
        assert_close(agreement["percent_agreement"], float(want_percent))
        rpp = experiment.reviews_per_pair
        exact = rows[rows.pair_id.isin(sizes[sizes == rpp].index)]
        assert agreement["fleiss_items"] == exact.pair_id.nunique()
        by_rater = exact.assign(k=exact.groupby("pair_id").cumcount()).pivot(
            index="pair_id", columns="k", values="category"
        )
        table, _ = aggregate_raters(by_rater.replace({"x": 0, "y": 1, "tie": 2}).to_numpy(int))
        assert_close(agreement["fleiss_kappa"], fleiss_kappa(table, method="fleiss"))
        reliability = (
            rows.pivot(index="reviewer", columns="pair_id", values="category")
            .replace({"x": 0, "y": 1, "tie": 2})
            .to_numpy(dtype=float)
        )
        assert_close(
            agreement["krippendorff_alpha"],
            krippendorff.alpha(reliability_data=reliability, level_of_measurement="nominal"),
        )
        # Cohen's kappa per reviewer pair sharing >= 10 items (scikit-learn).
        wide = rows.pivot(index="pair_id", columns="reviewer", values="category")
        detail = []
        for r1, r2 in itertools.combinations(sorted(wide.columns), 2):
            both = wide[[r1, r2]].dropna()
            if len(both) >= 10:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    kappa = cohen_kappa_score(both[r1], both[r2])
                detail.append((r1, r2, len(both), None if math.isnan(kappa) else kappa))
        got_detail = agreement["cohen_pairs_detail"]
        assert [(d["reviewer_1"], d["reviewer_2"], d["items"]) for d in got_detail] == [
            d[:3] for d in detail
        ]
        for got, want in zip(got_detail, detail, strict=True):
            assert_close(got["kappa"], want[3])
        assert agreement["cohen_pairs"] == len(detail)
        defined = [d[3] for d in detail if d[3] is not None]
        assert_close(agreement["cohen_kappa_mean"], float(np.mean(defined)) if defined else None)
        # Position bias: decided judgments with a known side, exact test (scipy).
        sided = rows[(rows.left_model != "") & (rows.winner != "tie")]
        left = int((sided.winner == sided.left_model).sum())
        bias = dim["position_bias"]
        assert bias["n"] == len(sided)
        if len(sided):
            assert bias["left_share"] == pytest.approx(left / len(sided))
            assert bias["p_value"] == pytest.approx(binomtest(left, len(sided)).pvalue, rel=1e-9)
    check_reviewers(experiment, results, everyone)


def check_reviewers(experiment, results, everyone):
    """Per reviewer, on the first dimension (rows of every reviewer, counted or not)."""
    first = experiment.dimensions.first().name
    everyone = everyone[everyone.dimension == first]
    counted_rows = everyone[everyone.excluded == "false"]
    by_name = {r["reviewer"]: r for r in results["reviewers"]}
    assert sorted(by_name) == sorted(everyone.reviewer.unique())
    for name, rows in everyone.groupby("reviewer"):
        got = by_name[name]
        assert got["n"] == len(rows)
        sided = rows[(rows.left_model != "") & (rows.winner != "tie")]
        assert_close(
            got["left_share"],
            float((sided.winner == sided.left_model).mean()) if len(sided) else None,
        )
        assert got["median_seconds"] == pytest.approx(
            float(np.median(rows.seconds_on_pair.astype(float))), abs=2e-3
        )
        agreed = considered = 0
        for pair_id, category in zip(rows.pair_id, rows.category, strict=True):
            others = counted_rows[
                (counted_rows.pair_id == pair_id) & (counted_rows.reviewer != name)
            ]
            if len(others) < 2:
                continue
            tally = others.category.value_counts()
            if (tally == tally.max()).sum() > 1:
                continue
            considered += 1
            agreed += tally.idxmax() == category
        assert got["majority_items"] == considered
        assert_close(got["majority_agreement"], agreed / considered if considered else None)
        assert got["gold_accuracy"] is None  # no gold pairs here
        # Flags (thresholds tested in test_quality.py) follow the figures checked above.
        median = got["median_seconds"]
        too_fast = median is not None and 0 < median < experiment.too_fast_seconds
        assert ("too_fast" in got["flags"]) == too_fast
        assert set(got["flags"]) <= {"position_bias", "too_fast", "low_agreement"}


@pytest.mark.django_db
@pytest.mark.parametrize("seed", [1, 2])
def test_results_agree_with_libraries_on_exported_judgments(owner, seed):
    experiment = build_judged(owner, seed=seed)
    results = compute_results(experiment, n_resamples=200)
    assert results["experiment"] == experiment.slug
    assert list(results["dimensions"]) == ["overall", "accuracy"]
    check_against_libraries(experiment, results, exported(experiment))


@pytest.mark.django_db
def test_long_rubric_is_counted_dimension_by_dimension(owner):
    """Choices travel packed 30 dimensions to an integer: 32 dimensions need two."""
    experiment = build_judged(
        owner, dimensions=tuple(f"d{i:02d}" for i in range(32)), n_pairs=24, seed=12,
        reviewer_names=("ann", "bob", "cat"),
    )  # fmt: skip
    results = compute_results(experiment, n_resamples=0)
    assert list(results["dimensions"]) == [f"d{i:02d}" for i in range(32)]
    check_against_libraries(experiment, results, exported(experiment))


@pytest.mark.django_db
def test_results_without_baseline_orient_alphabetically(owner):
    experiment = build_judged(owner, baseline="", models=("zeta", "alpha", "mu"), seed=3)
    results = compute_results(experiment, n_resamples=0)
    for pair in results["dimensions"]["overall"]["pairs"]:
        assert pair["model_x"] < pair["model_y"]
    check_against_libraries(experiment, results, exported(experiment))


# --------------------------------------------------------------------------- who counts


@pytest.mark.django_db
def test_excluded_reviewer_leaves_the_results_but_stays_in_the_export(owner):
    experiment = build_judged(owner, seed=4)
    before = compute_results(experiment, n_resamples=0)
    Membership.objects.filter(experiment=experiment, user__username="bob").update(excluded=True)
    after = compute_results(experiment, n_resamples=0)
    frame = exported(experiment)
    assert set(frame[frame.reviewer == "bob"].excluded) == {"true"}
    assert set(frame[frame.reviewer != "bob"].excluded) == {"false"}
    bob_rows = int((frame.reviewer == "bob").sum())
    assert bob_rows > 0
    assert sum(d["n_judgments"] for d in after["dimensions"].values()) == (
        sum(d["n_judgments"] for d in before["dimensions"].values()) - bob_rows
    )
    assert after["excluded_reviewers"] == ["bob"]
    bob = next(r for r in after["reviewers"] if r["reviewer"] == "bob")
    assert bob["excluded"] and not bob["counted"] and bob["n"] > 0
    for dim in after["dimensions"].values():
        names = {n for d in dim["agreement"]["cohen_pairs_detail"] for n in d.values()}
        assert "bob" not in names
    check_against_libraries(experiment, after, frame)


@pytest.mark.django_db
def test_automatic_judges_are_left_out_unless_asked_for(owner):
    experiment = build_judged(owner, seed=6)
    Membership.objects.filter(experiment=experiment, user__username="eve").update(kind="automatic")
    frame = exported(experiment)
    default = compute_results(experiment, n_resamples=0)
    check_against_libraries(experiment, default, frame.assign(
        excluded=np.where(frame.reviewer == "eve", "true", frame.excluded)
    ))  # fmt: skip
    everyone = compute_results(experiment, n_resamples=0, include_automatic=True)
    check_against_libraries(experiment, everyone, frame)
    assert everyone["include_automatic"] and not default["include_automatic"]


@pytest.mark.django_db
def test_gold_pairs_never_count_in_the_preference_statistics(owner):
    experiment = build_judged(owner, seed=8)
    before = compute_results(experiment, n_resamples=0)
    gold = list(experiment.pairs.order_by("pk").values_list("pk", flat=True)[:10])
    Pair.objects.filter(pk__in=gold).update(is_gold=True)
    after = compute_results(experiment, n_resamples=0)
    frame = exported(experiment)
    gold_ids = set(Pair.objects.filter(pk__in=gold).values_list("external_id", flat=True))
    not_gold = frame[~frame.pair_id.isin(gold_ids)]
    for name, dim in after["dimensions"].items():
        assert dim["n_judgments"] == int((not_gold.dimension == name).sum())
        assert dim["n_judgments"] < before["dimensions"][name]["n_judgments"]
    # Time per pair is about the reviewer, gold pairs included.
    assert [r["median_seconds"] for r in after["reviewers"]] == [
        r["median_seconds"] for r in before["reviewers"]
    ]
    first = not_gold[not_gold.dimension == "overall"]
    assert {r["reviewer"]: r["n"] for r in after["reviewers"]} == (
        first.groupby("reviewer").size().to_dict()
    )


# --------------------------------------------------------------------------- degenerate


def answer_all(experiment, reviewers, choose):
    """Every reviewer judges every pair it is given, on every dimension, through the real
    review path; `choose(reviewer, assignment, dimension)` returns left/right/tie."""
    dims = list(experiment.dimensions.all())
    for reviewer in reviewers:
        experiment.reviewers.add(reviewer)
        while (assignment := next_assignment(experiment, reviewer)) is not None:
            answers = {d.pk: Answer(choose(reviewer, assignment, d)) for d in dims}
            record_submission(assignment.pk, reviewer, answers)


@pytest.mark.django_db
def test_no_judgments_gives_defined_results(owner, client):
    experiment = make_experiment(owner, n_pairs=5)
    results = compute_results(experiment)
    assert_json_clean(results)
    assert results["verdict"] == "No judgments yet."
    assert results["reviewers"] == [] and results["reviewers_pooled_majority_agreement"] is None
    for dim in results["dimensions"].values():
        assert dim["n_judgments"] == 0 and dim["pairs"] == [] and dim["models"] == []
        assert dim["agreement"] == {
            "items": 0, "percent_agreement": None, "fleiss_kappa": None, "fleiss_items": 0,
            "krippendorff_alpha": None, "cohen_kappa_mean": None, "cohen_pairs": 0,
            "cohen_pairs_detail": [],
        }  # fmt: skip
        assert dim["position_bias"]["n"] == 0 and dim["position_bias"]["p_value"] is None
    client.force_login(owner)
    html = client.get(reverse("results-page", args=[experiment.slug])).content.decode()
    assert "No judgments yet." in html and "<svg" not in html


@pytest.mark.django_db
def test_all_ties_one_pair_gives_defined_results(owner, reviewers, client):
    experiment = make_experiment(owner, n_pairs=4, reviews_per_pair=3)
    answer_all(experiment, reviewers, lambda r, a, d: "tie")
    results = compute_results(experiment)
    assert_json_clean(results)
    overall = results["dimensions"]["overall"]
    (pair,) = overall["pairs"]
    assert (pair["n"], pair["ties"], pair["decided"]) == (12, 12, 0)
    assert pair["x_win_rate"] is None and pair["x_win_rate_ci"] == [None, None]
    assert pair["p_value"] is None and pair["x_win_rate_ties_half"] == 0.5
    assert pair["more_decided_needed"] is None and pair["min_detectable_win_rate"] is None
    assert [m["rating"] for m in overall["models"]] == [pytest.approx(1000)] * 2
    agreement = overall["agreement"]
    assert agreement["percent_agreement"] == 1.0
    # Every judgment in one category: chance agreement is 1, kappa and alpha undefined.
    assert agreement["fleiss_kappa"] is None and agreement["krippendorff_alpha"] is None
    assert overall["position_bias"]["n"] == 0
    assert results["verdict"] == (
        "No clear winner between yak-tuned-7b and zebra-base-7b on overall yet: all 12 "
        "judgments were ties; reviewer agreement cannot be measured yet (needs pairs with 2+ "
        "judgments)."
    )
    client.force_login(owner)
    assert client.get(reverse("results-page", args=[experiment.slug])).status_code == 200


@pytest.mark.django_db
def test_one_reviewer_gives_defined_results(owner):
    experiment = make_experiment(owner, n_pairs=6, reviews_per_pair=1)
    answer_all(experiment, [make_user("solo")], lambda r, a, d: "left")
    results = compute_results(experiment)
    assert_json_clean(results)
    overall = results["dimensions"]["overall"]
    assert overall["agreement"]["items"] == 0 and overall["agreement"]["cohen_pairs"] == 0
    assert overall["position_bias"]["left_share"] == 1.0
    (solo,) = results["reviewers"]
    assert solo["n"] == 6 and solo["majority_agreement"] is None and solo["left_share"] == 1.0


@pytest.mark.django_db
def test_perfect_agreement_and_a_model_that_always_wins(owner, reviewers):
    experiment = make_experiment(owner, n_pairs=12, reviews_per_pair=3)
    ids = sorted(experiment.pairs.values_list("pk", flat=True))
    tie_pairs = set(ids[:4])

    def choose(reviewer, assignment, dimension):
        # Everyone agrees: A (zebra) wins, except ties on four pairs.
        if assignment.pair_id in tie_pairs:
            return "tie"
        return "left" if assignment.left_is_a else "right"

    answer_all(experiment, reviewers, choose)
    results = compute_results(experiment)
    assert_json_clean(results)
    overall = results["dimensions"]["overall"]
    agreement = overall["agreement"]
    assert agreement["percent_agreement"] == 1.0
    assert agreement["fleiss_kappa"] == pytest.approx(1.0)
    assert agreement["krippendorff_alpha"] == pytest.approx(1.0)
    assert agreement["cohen_kappa_mean"] == pytest.approx(1.0) and agreement["cohen_pairs"] == 3
    (pair,) = overall["pairs"]
    assert (pair["model_x"], pair["x_wins"], pair["y_wins"]) == ("yak-tuned-7b", 0, 24)
    assert pair["x_win_rate"] == 0.0 and pair["ci_excludes_half"]
    # zebra won every decided judgment but ties give yak half-wins: the MLE exists.
    assert all(m["rating"] is not None for m in overall["models"])
    assert all(r["majority_agreement"] == 1.0 for r in results["reviewers"])
    assert results["verdict"].startswith(
        "zebra-base-7b beats yak-tuned-7b on overall: 100 % of 24 decided judgments, 95 % CI"
    )
    assert results["verdict"].endswith("reviewers agree almost perfectly, alpha = 1.00.")


@pytest.mark.django_db
def test_ratings_are_null_when_a_model_wins_everything(owner, reviewers):
    experiment = make_experiment(owner, n_pairs=3, reviews_per_pair=3)
    answer_all(experiment, reviewers, lambda r, a, d: "left" if a.left_is_a else "right")
    overall = compute_results(experiment)["dimensions"]["overall"]
    assert [(m["rating"], m["rank"], m["rating_ci"]) for m in overall["models"]] == [
        (None, None, [None, None])
    ] * 2
    assert overall["models"][0]["wins"] + overall["models"][1]["wins"] == 9


@pytest.mark.django_db
def test_query_count_does_not_grow_with_the_data(owner, django_assert_max_num_queries):
    small = build_judged(owner, slug="small", n_pairs=20, seed=1)
    large = build_judged(owner, slug="large", n_pairs=200, seed=2,
                         reviewer_names=tuple(f"r{i}" for i in range(12)))  # fmt: skip
    for experiment in (small, large):
        with django_assert_max_num_queries(8):
            compute_results(experiment, n_resamples=10)


# --------------------------------------------------------------------------- verdict


def test_landis_koch_words():
    assert [strength_word(v) for v in (-0.1, 0.0, 0.2, 0.21, 0.41, 0.6, 0.61, 0.81, 1.0)] == [
        "poor", "slight", "slight", "fair", "moderate", "moderate", "substantial",
        "almost perfect", "almost perfect",
    ]  # fmt: skip
    assert strength_word(None) is None


def verdict_for(pair, alpha=0.41, baseline="base"):
    dim = {"n_judgments": pair["n"], "pairs": [pair], "agreement": {"krippendorff_alpha": alpha}}
    return verdict({"baseline_model": baseline, "dimensions": {"overall": dim}})


def a_pair(x_wins, y_wins, ties=0, x="ft-v2", y="base"):
    from reviewapp.results import PairCounts, _pair_figures

    return _pair_figures(PairCounts(x, y, x_wins, y_wins, ties))


def test_verdict_sentences():
    assert verdict_for(a_pair(264, 148, 30)) == (
        "ft-v2 beats base on overall: 64 % of 412 decided judgments, 95 % CI 59–69 %, "
        "p < 0.001; reviewers agree moderately, alpha = 0.41."
    )
    # The baseline wins: the sentence names it first, with its own rate and interval.
    assert verdict_for(a_pair(30, 70), alpha=0.1) == (
        "base beats ft-v2 on overall: 70 % of 100 decided judgments, 95 % CI 60–78 %, "
        "p < 0.001; reviewers agree slightly, alpha = 0.10."
    )
    assert verdict_for(a_pair(52, 48), alpha=0.7) == (
        "No clear winner between ft-v2 and base on overall yet: ft-v2 wins 52 % of 100 "
        "decided judgments, 95 % CI 42–62 %, p = 0.76; reviewers agree substantially, "
        "alpha = 0.70."
    )
    assert verdict_for(a_pair(1, 0), alpha=None).startswith(
        "No clear winner between ft-v2 and base on overall yet: ft-v2 wins 100 % of 1 decided "
        "judgment, 95 % CI 21–100 %, p = 1.00"
    )


def ranked(*names, rated=True):
    return [{"model": m, "rank": (i + 1) if rated else None} for i, m in enumerate(names)]


def verdict_of(pairs, models, baseline=None):
    dim = {"n_judgments": sum(p["n"] for p in pairs), "pairs": pairs, "models": models,
           "agreement": {"krippendorff_alpha": 0.5}}  # fmt: skip
    return verdict({"baseline_model": baseline, "dimensions": {"overall": dim}})


def test_verdict_without_baseline_headlines_the_leader_against_the_runner_up():
    pairs = [
        a_pair(90, 10, x="ft-v1", y="base"),  # the most decided judgments: the old headline
        a_pair(30, 20, x="ft-v2", y="ft-v1"),
        a_pair(5, 5, x="ft-v2", y="base"),
    ]
    leader_first = ranked("ft-v2", "ft-v1", "base")
    assert verdict_of(pairs, leader_first).startswith(
        "No clear winner between ft-v2 and ft-v1 on overall yet: ft-v2 wins 60 % of 50 decided"
    )
    # A baseline keeps its rule: its pair with the most decided judgments.
    assert verdict_of(pairs, leader_first, baseline="base").startswith("ft-v1 beats base")
    # No ratings (no maximum-likelihood fit): the most decided pair, as before.
    assert verdict_of(pairs, ranked("base", "ft-v1", "ft-v2", rated=False)).startswith(
        "ft-v1 beats base"
    )
    # Leader and runner-up never met: the leader's pair with the most decided judgments.
    assert verdict_of(pairs[:1] + pairs[2:], ranked("ft-v2", "ft-v1", "base")).startswith(
        "No clear winner between ft-v2 and base"
    )
    # Two models: the one pair, whatever the ratings.
    assert verdict_of(pairs[:1], ranked("base", "ft-v1")).startswith("ft-v1 beats base")


def test_verdict_counts_have_thousands_separators():
    assert verdict_for(a_pair(800, 404, 1500)).startswith(
        "ft-v2 beats base on overall: 66 % of 1,204 decided judgments"
    )
    assert "all 2,500 judgments were ties" in verdict_for(a_pair(0, 0, 2500))


@pytest.mark.django_db
def test_verdict_of_a_study_without_baseline_names_its_two_best_models(owner):
    experiment = build_judged(owner, slug="nobase", baseline="", seed=3)
    results = compute_results(experiment, n_resamples=0)
    models = [m["model"] for m in results["dimensions"]["overall"]["models"]]
    assert len(models) == 4
    most_decided = max(results["dimensions"]["overall"]["pairs"], key=lambda p: p["decided"])
    assert {most_decided["model_x"], most_decided["model_y"]} != set(models[:2])  # not by chance
    names = re.findall(r"ft-v\d|base", results["verdict"].split(" on overall")[0])
    assert sorted(names) == sorted(models[:2]), (results["verdict"], models)


# --------------------------------------------------------------------------- page, JSON, command


@pytest.fixture
def judged(owner):
    return build_judged(owner, slug="judged", seed=9)


@pytest.mark.django_db
def test_results_page_shows_verdict_plots_and_tables(client, owner, judged):
    client.force_login(owner)
    response = client.get(reverse("results-page", args=[judged.slug]))
    assert response.status_code == 200
    html = response.content.decode()
    results = compute_results(judged)
    assert results["verdict"] in unescape(html)
    assert 'role="img" aria-labelledby="forest-0-title forest-0-desc"' in html
    assert '<title id="forest-0-title">Win rates on overall</title>' in html
    assert 'aria-labelledby="ratings-1-title ratings-1-desc"' in html  # 4 models: ratings
    assert "Krippendorff’s α" in html and "Position bias" in html
    for reviewer in ("ann", "bob", "cat", "dan", "eve"):
        assert f'aria-label="Exclude {reviewer} from the results"' in html
    assert reverse("results-json", args=[judged.slug]) in html


@pytest.mark.django_db
def test_results_json_is_strict_json_of_compute_results(client, owner, judged):
    client.force_login(owner)
    response = client.get(reverse("results-json", args=[judged.slug]))
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    data = json.loads(response.content, parse_constant=pytest.fail)
    assert data == json.loads(json.dumps(compute_results(judged)))
    for key in ("n_judgments", "pairs", "models", "agreement", "position_bias"):
        assert key in data["dimensions"]["overall"]
    pair_keys = {"model_x", "model_y", "n", "x_wins", "y_wins", "ties", "x_win_rate",
                 "x_win_rate_ci", "x_win_rate_ties_half", "p_value"}  # fmt: skip
    assert pair_keys <= set(data["dimensions"]["overall"]["pairs"][0])
    assert {"model", "wins", "losses", "ties", "rating", "rating_ci", "rank"} <= set(
        data["dimensions"]["overall"]["models"][0]
    )
    assert {"reviewer", "n", "left_share", "median_seconds", "majority_agreement",
            "gold_accuracy", "flags"} <= set(data["reviewers"][0])  # fmt: skip
    automatic = client.get(reverse("results-json", args=[judged.slug]) + "?automatic=1")
    assert json.loads(automatic.content)["include_automatic"] is True


@pytest.mark.django_db
def test_results_views_are_for_the_owner_only(client, owner, judged):
    mallory = make_user("mallory", owner=True)
    for name in ("results-page", "results-json"):
        url = reverse(name, args=[judged.slug])
        assert client.get(url).status_code == 302  # to the login page
        client.force_login(mallory)
        assert client.get(url).status_code == 404
        client.force_login(owner)
        assert client.post(url).status_code == 405
        assert client.get(reverse(name, args=["no-such-experiment"])).status_code == 404
        client.logout()


@pytest.mark.django_db
def test_untrusted_names_are_escaped_in_page_and_plots(client, owner):
    evil = '<script>alert("x")</script>'
    experiment = build_judged(owner, slug="evil", models=(evil, "b&b", "ok"), baseline="ok",
                              reviewer_names=("r1", "r2", "r3"), n_pairs=30)  # fmt: skip
    client.force_login(owner)
    html = client.get(reverse("results-page", args=[experiment.slug])).content.decode()
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "b&amp;b" in html


@pytest.mark.django_db
def test_owner_excludes_and_includes_a_reviewer(client, owner, judged):
    url = reverse("owner-exclude-reviewer", args=[judged.slug])
    page = reverse("results-page", args=[judged.slug])
    client.force_login(owner)
    detail = client.get(reverse("owner-experiment", args=[judged.slug])).content.decode()
    assert 'aria-label="Exclude bob from the results"' in detail
    assert reverse("results-page", args=[judged.slug]) in detail
    response = client.post(url, {"reviewer": "bob", "excluded": "1", "next": page})
    assert response.status_code == 302 and response["Location"] == page
    assert Membership.objects.get(experiment=judged, user__username="bob").excluded
    assert compute_results(judged, n_resamples=0)["excluded_reviewers"] == ["bob"]
    html = client.get(page).content.decode()
    assert 'aria-label="Include bob in the results again"' in html
    detail = client.get(reverse("owner-experiment", args=[judged.slug])).content.decode()
    assert 'aria-label="Include bob in the results again"' in detail
    # An outside `next` is ignored; back to the experiment.
    response = client.post(
        url, {"reviewer": "bob", "excluded": "0", "next": "https://evil.example/"}
    )
    assert response["Location"] == reverse("owner-experiment", args=[judged.slug])
    assert not Membership.objects.get(experiment=judged, user__username="bob").excluded
    assert client.get(url).status_code == 405
    assert client.post(url, {"reviewer": "nobody", "excluded": "1"}).status_code == 404
    assert client.post(url, {"reviewer": "bob", "excluded": "maybe"}).status_code == 404
    client.force_login(make_user("mallory", owner=True))
    assert client.post(url, {"reviewer": "bob", "excluded": "1"}).status_code == 404
    assert not Membership.objects.get(experiment=judged, user__username="bob").excluded


@pytest.mark.django_db
@pytest.mark.parametrize("table", ["pairs", "models", "agreement", "reviewers"])
def test_results_command_csv_tables(judged, table, tmp_path):
    out = tmp_path / f"{table}.csv"
    call_command("results", judged.slug, "--format", "csv", "--table", table, "-o", str(out),
                 "--resamples", "50")  # fmt: skip
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    results = compute_results(judged, n_resamples=50)
    if table == "pairs":
        assert len(rows) == sum(len(d["pairs"]) for d in results["dimensions"].values())
        first = results["dimensions"]["overall"]["pairs"][0]
        assert rows[0]["model_x"] == first["model_x"]
        assert float(rows[0]["x_win_rate_ci_low"]) == pytest.approx(first["x_win_rate_ci"][0])
    elif table == "models":
        assert float(rows[0]["rating"]) == pytest.approx(
            results["dimensions"]["overall"]["models"][0]["rating"]
        )
    elif table == "agreement":
        assert [r["dimension"] for r in rows] == ["overall", "accuracy"]
    else:
        assert [r["reviewer"] for r in rows] == ["ann", "bob", "cat", "dan", "eve"]


@pytest.mark.django_db
def test_results_command_json_matches_compute_results(judged):
    out = io.StringIO()
    call_command("results", judged.slug, stdout=out)
    assert json.loads(out.getvalue()) == json.loads(json.dumps(compute_results(judged)))
    with pytest.raises(Exception, match="No experiment"):
        call_command("results", "nope")


# --------------------------------------------------------------------------- the demo


@pytest.mark.django_db
def test_demo_results_after_reviews(client):
    """The demo experiment (real Tulu 65B vs ChatGPT outputs) judged by its three demo
    reviewers through the real review path, then checked end to end."""
    call_command("seed_demo", stdout=io.StringIO())
    from reviewapp.models import Experiment

    experiment = Experiment.objects.get(slug="demo-tulu65b-vs-chatgpt")
    reviewers = list(experiment.reviewers.order_by("username"))
    rng = np.random.default_rng(2023)

    def choose(reviewer, assignment, dimension):
        return str(rng.choice(["left", "right", "tie"], p=[0.45, 0.35, 0.2]))

    answer_all(experiment, reviewers, choose)
    results = compute_results(experiment)
    check_against_libraries(experiment, results, exported(experiment))
    overall = results["dimensions"]["overall"]
    (pair,) = overall["pairs"]
    assert (pair["model_x"], pair["model_y"]) == ("tulu_65B", "chatgpt")
    assert pair["n"] == 40 * 3 and overall["agreement"]["fleiss_items"] == 40
    client.force_login(experiment.owner)
    html = client.get(reverse("results-page", args=[experiment.slug])).content.decode()
    assert "tulu_65B vs chatgpt" in html and results["verdict"].split(":")[0] in html


@pytest.mark.django_db
def test_results_csv_download(client, owner):
    import csv
    import io

    from reviewapp.results import result_table

    experiment = make_experiment(owner, n_pairs=0, slug="csvres")
    client.force_login(owner)
    for table in ("pairs", "models", "agreement", "reviewers"):
        response = client.get(reverse("results-csv", args=[experiment.slug]) + f"?table={table}")
        assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
        header, _ = result_table(compute_results(experiment, n_resamples=0), table)
        assert rows[0] == header
    bad = client.get(reverse("results-csv", args=[experiment.slug]) + "?table=nope")
    assert bad.status_code == 400
