"""Results' clustered, length, non-inferiority, by-tag and anytime figures (issue 19),
each checked against its library on a seeded study built for it: prompts shared by the
model pairs and judged by several reviewers each, outputs whose length sways the
choice, a metadata tag, distinct submission times (and a few equal ones).

The oracle reads the judgments straight from the ORM, not through results/frame.py."""

import math
import warnings
from datetime import timedelta
from html import unescape

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from scipy.special import expit
from scipy.stats import binomtest, chi2_contingency, norm
from statsmodels.stats.multitest import multipletests

from reviewapp.experiments import create_experiment
from reviewapp.models import Assignment, Judgment, Pair, pair_shuffle_key
from reviewapp.results import compute_results, orient
from reviewapp.results.by_tag import _adjust

MODELS = ("base", "ft-long", "ft-short")
CATEGORIES = ("code", "math", "chat")
REVIEWERS = ("ann", "bob", "cat", "dan", "eve", "fay")
STOP_BADGE = '<span class="badge open">you may stop now</span>'


def build_study(owner, *, slug="study", seed=3, n_prompts=36, margin=0.05, tag_field=""):
    """Every prompt answered by the three models (three pairs per prompt), 3 reviewers per
    pair; a per-prompt tendency (so prompts cluster) and a preference for the longer
    output (so length matters). Prompts 0-23 have a prompt_id (ids 0 and 1 share a text:
    still two clusters); the others are clustered by their text, and 30-35 share the text
    of 24-29 (one cluster each). Prompts 33-35 have no category (the tag "")."""
    rng = np.random.default_rng(seed)
    experiment = create_experiment(
        owner=owner, name=slug, slug=slug, baseline_model="base", dimensions=["overall", "style"],
        status="open", margin=margin, tag_field=tag_field,
    )  # fmt: skip
    users = [get_user_model().objects.create(username=name) for name in REVIEWERS]
    experiment.reviewers.add(*users)
    quality = {"base": 0.0, "ft-long": 0.3, "ft-short": 0.1}
    mean_length = {"base": 400, "ft-long": 700, "ft-short": 250}
    pairs, tendency = [], {}
    for i in range(n_prompts):
        text = f"prompt text {i}" if i not in (1,) else "prompt text 0"
        if i >= 30:
            text = f"prompt text {i - 6}"
        metadata = {}
        if i < 24:
            metadata["prompt_id"] = i if i % 5 == 0 else f"q{i}"  # JSON numbers too
        if i < 33:
            metadata["category"] = CATEGORIES[i % 3]
        tendency[i] = rng.normal(0, 0.8)
        outputs = {
            m: "w" * int(rng.integers(mean_length[m] // 2, mean_length[m] * 2)) for m in MODELS
        }
        for a, b in (("base", "ft-long"), ("base", "ft-short"), ("ft-long", "ft-short")):
            if rng.random() < 0.5:
                a, b = b, a
            external_id = f"p{i:03d}-{a}-{b}"
            pairs.append(
                Pair(
                    experiment=experiment, external_id=external_id, prompt=text, model_a=a,
                    output_a=outputs[a], model_b=b, output_b=outputs[b], metadata=metadata,
                    shuffle_key=pair_shuffle_key(experiment.seed, external_id),
                )
            )  # fmt: skip
    Pair.objects.bulk_create(pairs)
    start = timezone.now() - timedelta(days=3)
    assignments = []
    for n, pair in enumerate(pairs):
        for idx in rng.choice(len(users), size=3, replace=False):
            # Every tenth pair's reviews arrive at the same instant: the pair id and the
            # username then give the order.
            offset = n * 600 if n % 10 == 0 else float(rng.uniform(0, 200_000))
            submitted = start + timedelta(seconds=offset)
            assignments.append(
                Assignment(
                    experiment=experiment, pair=pair, reviewer=users[idx], left_is_a=bool(idx % 2),
                    status="submitted", shown_at=submitted - timedelta(seconds=30),
                    submitted_at=submitted,
                )
            )  # fmt: skip
    Assignment.objects.bulk_create(assignments)
    judgments = []
    for assignment in assignments:
        pair = assignment.pair
        prompt = int(pair.external_id[1:4])
        diff = len(pair.output_a) - len(pair.output_b)
        for dim in experiment.dimensions.all():
            if rng.random() < 0.15:
                choice = "tie"
            else:
                logit = (
                    quality[pair.model_a] - quality[pair.model_b]
                    + 1.2 * math.tanh(diff / 400)
                    + tendency[prompt] * (1 if pair.model_a < pair.model_b else -1)
                )  # fmt: skip
                choice = "A" if rng.random() < expit(logit) else "B"
            judgments.append(Judgment(assignment=assignment, dimension=dim, choice=choice))
    Judgment.objects.bulk_create(judgments)
    return experiment


def oracle_frame(experiment) -> pd.DataFrame:
    """The judgments as the issue defines the figures on them, read from the ORM."""
    rows = Judgment.objects.filter(assignment__experiment=experiment).values_list(
        "dimension__name", "choice", "assignment__submitted_at", "assignment__reviewer__username",
        "assignment__pair__external_id", "assignment__pair__prompt", "assignment__pair__metadata",
        "assignment__pair__model_a", "assignment__pair__model_b", "assignment__pair__output_a",
        "assignment__pair__output_b",
    )  # fmt: skip
    records = []
    for dim, choice, submitted, user, pair_id, prompt, meta, a, b, out_a, out_b in rows:
        x, y = orient(a, b, experiment.baseline_model)
        x_is_a = x == a
        winner = {"A": a, "B": b}.get(choice)
        cluster = f"id:{meta['prompt_id']}" if "prompt_id" in meta else f"text:{prompt}"
        records.append(
            {
                "dimension": dim, "model_x": x, "model_y": y, "submitted": submitted,
                "reviewer": user, "pair_id": pair_id, "cluster": cluster,
                "y": 0.5 if winner is None else float(winner == x),
                "len_x": len(out_a if x_is_a else out_b), "len_y": len(out_b if x_is_a else out_a),
                "tag": meta.get("category", ""),
            }
        )  # fmt: skip
    return pd.DataFrame(records)


def plain_cluster_bootstrap(y, clusters, n_resamples, seed):
    rng = np.random.default_rng(seed)
    names = sorted(set(clusters))
    by_name = [y[clusters == name] for name in names]
    means = []
    for _ in range(n_resamples):
        drawn = rng.integers(0, len(names), len(names))
        means.append(np.concatenate([by_name[i] for i in drawn]).mean())
    return np.percentile(means, [2.5, 97.5])


def glm_length_fit(rows: pd.DataFrame):
    diff = (rows.len_x - rows.len_y).to_numpy(dtype=float)
    d = np.tanh(diff / np.std(diff, ddof=1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # non-integer outcomes
        fit = sm.GLM(
            rows.y.to_numpy(), np.column_stack([np.ones_like(d), d]), family=sm.families.Binomial()
        ).fit()
    return fit.params


def martingale_p_value(outcomes) -> float:
    """min(1, 1 / max_t M_t), M_t = B(1 + S_t, 1 + t - S_t) / 0.5^t, with math.lgamma."""
    best, s = -math.inf, 0
    for t, won in enumerate(outcomes, start=1):
        s += won
        log_m = math.lgamma(1 + s) + math.lgamma(1 + t - s) - math.lgamma(2 + t) + t * math.log(2)
        best = max(best, log_m)
    return min(1.0, math.exp(-best))


@pytest.fixture
def study(owner):
    return build_study(owner, tag_field="category")


@pytest.fixture
def study_results(study):
    return compute_results(study, n_resamples=4000)


@pytest.mark.django_db
def test_clustered_figures_equal_statsmodels_and_a_plain_bootstrap(study, study_results):
    frame = oracle_frame(study)
    checked = 0
    for dim_name, dim in study_results["dimensions"].items():
        for pair in dim["pairs"]:
            rows = frame[
                (frame.dimension == dim_name)
                & (frame.model_x == pair["model_x"])
                & (frame.model_y == pair["model_y"])
            ]
            decided = rows[rows.y != 0.5]
            y, clusters = decided.y.to_numpy(), decided.cluster.to_numpy()
            assert pair["prompts"] == len(set(clusters))
            fit = sm.OLS(y, np.ones_like(y)).fit(
                cov_type="cluster", cov_kwds={"groups": pd.factorize(clusters)[0]}
            )
            assert pair["x_win_rate_cluster_se"] == pytest.approx(fit.bse[0], rel=1e-9)
            iid = np.std(y, ddof=1) / math.sqrt(len(y))
            assert pair["design_effect"] == pytest.approx((fit.bse[0] / iid) ** 2, rel=1e-9)
            lo, hi = pair["x_win_rate_cluster_ci"]
            reference = plain_cluster_bootstrap(y, clusters, 4000, seed=checked)
            assert lo == pytest.approx(reference[0], abs=0.02)
            assert hi == pytest.approx(reference[1], abs=0.02)
            checked += 1
    assert checked == 6
    # Shared prompts and a per-prompt tendency: the clustered interval is the wider one.
    overall = study_results["dimensions"]["overall"]["pairs"]
    assert max(p["design_effect"] for p in overall) > 1.2
    # 36 prompts, 30 clusters: prompts 0 and 1 share a text but have ids (two clusters);
    # 30-35 share the texts of 24-29 and have no id (one cluster each).
    assert max(p["prompts"] for p in overall) == 30


def assert_same_intervals(results, again):
    for name, dim in results["dimensions"].items():
        for first, second in zip(dim["pairs"], again["dimensions"][name]["pairs"], strict=True):
            assert first["x_win_rate_cluster_ci"] == second["x_win_rate_cluster_ci"]
            assert first["length"]["adjusted_ci"] == second["length"]["adjusted_ci"]


@pytest.mark.django_db
def test_cluster_interval_is_reproducible(study, study_results):
    again = compute_results(study, n_resamples=4000)
    assert_same_intervals(study_results, again)


@pytest.mark.django_db
def test_intervals_do_not_depend_on_the_order_rows_come_in(study, study_results, monkeypatch):
    """The database may return the pairs in any order (an unordered read): the bootstrap
    draws prompts by their cluster codes, which must not follow that order."""
    from reviewapp.results import frame

    to_frame = frame._to_frame
    monkeypatch.setattr(frame, "_to_frame", lambda rows, columns: to_frame(rows[::-1], columns))
    again = compute_results(study, n_resamples=4000)
    assert_same_intervals(study_results, again)


@pytest.mark.django_db
def test_length_figures_equal_statsmodels_glm(study, study_results):
    frame = oracle_frame(study)
    seen_effect = False
    for dim_name, dim in study_results["dimensions"].items():
        for pair in dim["pairs"]:
            rows = frame[
                (frame.dimension == dim_name)
                & (frame.model_x == pair["model_x"])
                & (frame.model_y == pair["model_y"])
            ]
            length = pair["length"]
            assert set(length) == {
                "x_mean_chars", "y_mean_chars", "x_longer_share", "coef", "adjusted_x_win_rate",
                "adjusted_ci", "warning",
            }  # fmt: skip
            assert length["x_mean_chars"] == pytest.approx(rows.len_x.mean())
            assert length["y_mean_chars"] == pytest.approx(rows.len_y.mean())
            share = (rows.len_x > rows.len_y).mean()
            assert length["x_longer_share"] == pytest.approx(share)
            assert (length["warning"] is not None) == (share < 0.1 or share > 0.9)
            b0, b1 = glm_length_fit(rows)
            assert length["coef"] == pytest.approx(b1, abs=1e-7)
            assert length["adjusted_x_win_rate"] == pytest.approx(expit(b0), abs=1e-8)
            lo, hi = length["adjusted_ci"]
            assert lo < length["adjusted_x_win_rate"] < hi
            seen_effect |= length["coef"] > 0.5  # reviewers were built to favour length
    assert seen_effect


@pytest.mark.django_db
def test_length_interval_is_close_to_a_plain_statsmodels_bootstrap(study, study_results):
    """The first pair on overall: 400 plain resamples of whole prompts, each refitted with
    statsmodels, against the app's 4,000 (same data, independent draws)."""
    frame = oracle_frame(study)
    pair = study_results["dimensions"]["overall"]["pairs"][0]
    rows = frame[
        (frame.dimension == "overall")
        & (frame.model_x == pair["model_x"])
        & (frame.model_y == pair["model_y"])
    ]
    prompts = sorted(set(rows.cluster[rows.y != 0.5]))
    by_prompt = {name: rows[rows.cluster == name] for name in prompts}
    rng = np.random.default_rng(11)
    rates = []
    for _ in range(400):
        drawn = rng.integers(0, len(prompts), len(prompts))
        resample = pd.concat([by_prompt[prompts[i]] for i in drawn])
        rates.append(expit(glm_length_fit(resample)[0]))
    reference = np.percentile(rates, [2.5, 97.5])
    assert pair["length"]["adjusted_ci"] == pytest.approx(list(reference), abs=0.03)


@pytest.mark.django_db
def test_non_inferiority_equals_scipy(study, study_results):
    for dim in study_results["dimensions"].values():
        for pair in dim["pairs"]:
            test = pair["noninferiority"]
            assert set(test) == {"margin", "p_value", "cluster_p_value", "holds"}
            assert test["margin"] == 0.05
            null = 0.5 - 0.05
            assert test["p_value"] == pytest.approx(
                binomtest(pair["x_wins"], pair["decided"], null, alternative="greater").pvalue,
                rel=1e-10,
            )
            z = (pair["x_win_rate"] - null) / pair["x_win_rate_cluster_se"]
            assert test["cluster_p_value"] == pytest.approx(1 - norm.cdf(z), abs=1e-12)
            assert test["holds"] == (test["p_value"] < 0.05 and test["cluster_p_value"] < 0.05)


@pytest.mark.django_db
def test_anytime_p_value_follows_the_martingale_in_arrival_order(study, study_results):
    frame = oracle_frame(study)
    for dim_name, dim in study_results["dimensions"].items():
        for pair in dim["pairs"]:
            rows = frame[
                (frame.dimension == dim_name)
                & (frame.model_x == pair["model_x"])
                & (frame.model_y == pair["model_y"])
                & (frame.y != 0.5)
            ]
            # Python's sort: code points for the pair id and the username.
            ordered = sorted(
                zip(rows.submitted, rows.pair_id, rows.reviewer, rows.y, strict=True),
                key=lambda r: r[:3],
            )
            outcomes = [int(r[3]) for r in ordered]
            assert pair["anytime_p_value"] == pytest.approx(martingale_p_value(outcomes), rel=1e-9)
            s, n = sum(outcomes), len(outcomes)
            lo, hi = pair["anytime_ci"]
            log_beta = math.lgamma(1 + s) + math.lgamma(1 + n - s) - math.lgamma(2 + n)
            for p in (lo, hi):
                if 0 < p < 1:
                    ratio = math.exp(log_beta - s * math.log(p) - (n - s) * math.log(1 - p))
                    assert ratio == pytest.approx(20, rel=1e-6)
            assert lo < pair["x_win_rate"] < hi


@pytest.mark.django_db
def test_by_tag_equals_scipy_and_multipletests(study, study_results):
    frame = oracle_frame(study)
    for dim_name, dim in study_results["dimensions"].items():
        by_tag = dim["by_tag"]
        assert set(by_tag) == {"field", "groups", "heterogeneity"}
        assert by_tag["field"] == "category"
        assert [g["tag"] for g in by_tag["groups"]] == ["", "chat", "code", "math"]
        rows, p_values = [], []
        for group in by_tag["groups"]:
            assert set(group) == {"tag", "pairs"}
            for pair in group["pairs"]:
                assert set(pair) == {
                    "model_x", "model_y", "n", "x_wins", "y_wins", "ties", "decided",
                    "x_win_rate", "x_win_rate_ci", "p_value", "p_holm", "p_bh",
                }  # fmt: skip
                mine = frame[
                    (frame.dimension == dim_name) & (frame.tag == group["tag"])
                    & (frame.model_x == pair["model_x"]) & (frame.model_y == pair["model_y"])
                ]  # fmt: skip
                assert pair["x_wins"] == (mine.y == 1).sum()
                assert pair["y_wins"] == (mine.y == 0).sum()
                assert pair["ties"] == (mine.y == 0.5).sum()
                assert pair["p_value"] == pytest.approx(
                    binomtest(pair["x_wins"], pair["decided"]).pvalue, rel=1e-10
                )
                rows.append(pair)
                p_values.append(pair["p_value"])
        assert [r["p_holm"] for r in rows] == pytest.approx(
            multipletests(p_values, method="holm")[1]
        )
        assert [r["p_bh"] for r in rows] == pytest.approx(
            multipletests(p_values, method="fdr_bh")[1]
        )
        for h in by_tag["heterogeneity"]:
            assert set(h) == {"model_x", "model_y", "chi2", "dof", "p_value"}
            table = [
                [r["x_wins"], r["y_wins"]]
                for g in by_tag["groups"]
                for r in g["pairs"]
                if (r["model_x"], r["model_y"]) == (h["model_x"], h["model_y"]) and r["decided"]
            ]
            chi2, p, dof, _ = chi2_contingency(np.array(table), correction=False)
            assert (h["chi2"], h["dof"]) == (pytest.approx(chi2), dof)
            assert h["p_value"] == pytest.approx(p)


def test_benjamini_hochberg_1995_through_the_apps_adjustment():
    """Benjamini & Hochberg (1995), section 4: 15 p-values; at 0.05 Bonferroni rejects 3,
    their procedure 4 (and Holm 3)."""
    published = [0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344, 0.0459,
                 0.3240, 0.4262, 0.5719, 0.6528, 0.7590, 1.000]  # fmt: skip
    rows = [{"decided": 10, "p_value": p, "p_holm": None, "p_bh": None} for p in published]
    rows.append({"decided": 0, "p_value": None, "p_holm": None, "p_bh": None})  # not in family
    _adjust(rows)
    assert sum(p * 15 < 0.05 for p in published) == 3  # Bonferroni
    assert sum(r["p_bh"] < 0.05 for r in rows[:15]) == 4
    assert sum(r["p_holm"] < 0.05 for r in rows[:15]) == 3
    assert rows[15]["p_bh"] is None and rows[15]["p_holm"] is None


@pytest.mark.django_db
def test_results_json_keys_are_as_the_issue_names_them(study_results):
    pair = study_results["dimensions"]["overall"]["pairs"][0]
    for key in (
        "prompts", "x_win_rate_cluster_se", "design_effect", "x_win_rate_cluster_ci", "length",
        "noninferiority", "anytime_p_value", "anytime_ci",
    ):  # fmt: skip
        assert key in pair
    assert len(pair["x_win_rate_cluster_ci"]) == 2 and len(pair["anytime_ci"]) == 2
    assert "by_tag" in study_results["dimensions"]["overall"]


@pytest.mark.django_db
def test_no_tag_field_means_no_by_tag_and_by_overrides_it(owner):
    experiment = build_study(owner, slug="plain", n_prompts=6)
    results = compute_results(experiment, n_resamples=50)
    assert results["tag_field"] is None
    assert results["dimensions"]["overall"]["by_tag"] is None
    by_category = compute_results(experiment, n_resamples=50, by="category")
    assert by_category["dimensions"]["overall"]["by_tag"]["field"] == "category"
    # A field no pair has: every pair is the tag "".
    nowhere = compute_results(experiment, n_resamples=50, by="nowhere")
    assert [g["tag"] for g in nowhere["dimensions"]["overall"]["by_tag"]["groups"]] == [""]


@pytest.mark.django_db
def test_verdict_uses_the_clustered_interval_and_says_non_inferiority(study_results):
    pair = study_results["dimensions"]["overall"]["pairs"][0]
    sentence = study_results["verdict"]
    assert "(clustered by prompt)" in sentence
    lo, hi = pair["x_win_rate_cluster_ci"]
    assert f"{100 * lo:.0f}–{100 * hi:.0f} % (clustered by prompt)" in sentence or (
        f"{100 * (1 - hi):.0f}–{100 * (1 - lo):.0f} % (clustered by prompt)" in sentence
    )
    assert "than 5 points" in sentence and "base" in sentence


def test_verdict_length_clause_only_beyond_five_points():
    from reviewapp.results import verdict

    def with_length(adjusted):
        pair = {
            "model_x": "ft", "model_y": "base", "n": 100, "decided": 100, "x_wins": 70,
            "y_wins": 30, "ties": 0, "x_win_rate": 0.7, "x_win_rate_ci": [0.6, 0.78],
            "x_win_rate_ties_half": 0.7, "p_value": 0.0001,
            "length": {"adjusted_x_win_rate": adjusted},
        }  # fmt: skip
        dim = {"n_judgments": 100, "pairs": [pair], "agreement": {"krippendorff_alpha": 0.5}}
        return verdict({"baseline_model": "base", "dimensions": {"overall": dim}})

    assert "equal length" not in with_length(0.66)
    assert "with outputs of equal length ft would score 62 % instead of 70 %" in with_length(0.62)
    assert "equal length" not in with_length(None)


@pytest.mark.django_db
def test_more_needed_uses_the_clustered_interval(study_results):
    for dim in study_results["dimensions"].values():
        for pair in dim["pairs"]:
            lo, hi = pair["x_win_rate_cluster_ci"]
            excludes = lo > 0.5 or hi < 0.5
            assert (pair["more_decided_needed"] == 0) == excludes


@pytest.mark.django_db
def test_results_page_shows_the_new_figures(client, owner, study):
    client.force_login(owner)
    response = client.get(reverse("results-page", args=[study.slug]))
    html = unescape(response.content.decode())
    assert "Clustered 95 % CI" in html and "Anytime p" in html and "Fixed-n p" in html
    assert "The clustered interval is wider because judgments of the same prompt" in html
    assert "At equal length" in html and "Non-inferiority" in html
    assert 'aria-labelledby="tags-0-title tags-0-desc"' in html
    assert "Holm p" in html and "BH p" in html
    results = compute_results(study)
    stoppable = any(
        p["anytime_p_value"] < 0.05 for d in results["dimensions"].values() for p in d["pairs"]
    )
    assert (STOP_BADGE in html) == stoppable
    # ?by= picks another field (or none); a digits-only name is refused in plain text.
    plain = client.get(reverse("results-page", args=[study.slug]), {"by": ""})
    assert "tags-0-title" not in plain.content.decode()
    bad = client.get(reverse("results-json", args=[study.slug]), {"by": "12"})
    assert bad.status_code == 400 and bad["Content-Type"].startswith("text/plain")


@pytest.mark.django_db
def test_you_may_stop_now_only_below_five_percent(client, owner):
    """Few prompts, no real difference: the anytime p stays high, the page says keep
    collecting."""
    experiment = build_study(owner, slug="early", n_prompts=3, seed=5)
    results = compute_results(experiment, n_resamples=100)
    assert all(
        p["anytime_p_value"] >= 0.05 for d in results["dimensions"].values() for p in d["pairs"]
    )
    client.force_login(owner)
    html = client.get(reverse("results-page", args=[experiment.slug])).content.decode()
    assert STOP_BADGE not in html and "keep collecting" in html


@pytest.mark.django_db
def test_results_command_by_and_csv_tables(study, tmp_path):
    out = tmp_path / "by.csv"
    call_command(
        "results", study.slug, "--format", "csv", "--table", "by_tag", "--by", "category",
        "--resamples", "50", "-o", str(out),
    )  # fmt: skip
    table = pd.read_csv(out, keep_default_na=False)
    assert list(table.columns[:5]) == ["dimension", "field", "tag", "model_x", "model_y"]
    assert set(table.tag) == {"", "chat", "code", "math"}
    pairs = tmp_path / "pairs.csv"
    call_command("results", study.slug, "--format", "csv", "--resamples", "50", "-o", str(pairs))
    columns = pd.read_csv(pairs).columns
    for column in ("prompts", "x_win_rate_cluster_ci_low", "length_adjusted_x_win_rate",
                   "noninferiority_holds", "anytime_p_value"):  # fmt: skip
        assert column in columns


@pytest.mark.django_db
def test_margin_and_tag_field_settings(client, owner, tmp_path):
    call_command("create_experiment", "m1", "--owner", owner.username, "--margin", "0.1",
                 "--tag-field", "category")  # fmt: skip
    from reviewapp.models import Experiment

    created = Experiment.objects.get(slug="m1")
    assert (created.margin, created.tag_field) == (0.1, "category")
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="between 0 and 0.25"):
        call_command("create_experiment", "m2", "--owner", owner.username, "--margin", "0.3")
    with pytest.raises(CommandError, match="digits only"):
        call_command("create_experiment", "m3", "--owner", owner.username, "--tag-field", "42")
