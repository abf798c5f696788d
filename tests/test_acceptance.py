"""Is each output acceptable? Asked, stored in content terms, counted, exported and
imported, and the Tulu 1 paper's published figures reproduced through the app."""

import csv
import io
import json
import re
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from statsmodels.stats.proportion import proportion_confint

from reviewapp.assignment import next_assignment
from reviewapp.experiments import create_experiment
from reviewapp.exports import write_judgments_csv
from reviewapp.judgment_import import JudgmentImportError, import_judgments
from reviewapp.judgments import Acceptability, Answer, SubmissionRefused, record_submission
from reviewapp.models import Assignment, Experiment, Membership, Pair
from reviewapp.plots import acceptance_plot
from reviewapp.results import compute_results
from reviewapp.tokens import create_token
from reviewapp.uploads import import_upload
from tests.conftest import make_experiment, make_user
from tests.test_api import add_judge, call
from tests.test_judgment_import import assert_same_results, fresh_copy
from tests.test_results import build_judged, exported

PUBLISHED = Path(__file__).parent / "resources" / "published"
MODELS = ("zebra-base-7b", "yak-tuned-7b")


def answer_all(experiment, value="left"):
    return {d.pk: Answer(value) for d in experiment.dimensions.all()}


# --------------------------------------------------------------------------- the setting


@pytest.mark.django_db
def test_setting_is_off_by_default_and_set_by_form_api_and_command(client, owner):
    client.force_login(owner)
    form = client.get(reverse("owner-experiment-new")).content.decode()
    assert 'name="ask_acceptable"' in form
    post = {"name": "Web", "reviews_per_pair": 3, "dimensions": "overall"}
    client.post(reverse("owner-experiment-new"), post)
    client.post(
        reverse("owner-experiment-new"), {**post, "name": "Web asks", "ask_acceptable": "on"}
    )
    token = create_token(owner)[1]
    for slug, asks in (("api", False), ("api-asks", True)):
        body = {"name": slug, "slug": slug} | ({"ask_acceptable": True} if asks else {})
        response = call(client, "post", "/api/experiments", token, body)
        assert response.status_code == 201 and response.json()["ask_acceptable"] is asks
    call_command("create_experiment", "cmd", "--owner", owner.username)
    call_command("create_experiment", "cmd-asks", "--owner", owner.username, "--ask-acceptable")
    asks = dict(Experiment.objects.values_list("slug", "ask_acceptable"))
    assert asks == {"web": False, "web-asks": True, "api": False, "api-asks": True,
                    "cmd": False, "cmd-asks": True}  # fmt: skip
    page = client.get(reverse("owner-experiment", args=["web-asks"])).content.decode()
    assert "Each output acceptable?</dt><dd>asked</dd>" in page


# --------------------------------------------------------------------------- recording


@pytest.mark.django_db
def test_stored_in_content_terms_under_both_side_draws(owner):
    """ "Left acceptable, right not" is stored against the model shown on the left, whichever
    it was: A when A was on the left, B otherwise."""
    experiment = make_experiment(owner, n_pairs=1, reviews_per_pair=40, ask_acceptable=True)
    draws = set()
    for i in range(40):
        reviewer = make_user(f"r{i}")
        assignment = next_assignment(experiment, reviewer)
        record_submission(
            assignment.pk, reviewer, answer_all(experiment), acceptable=Acceptability(True, False)
        )
        assignment.refresh_from_db()
        draws.add(assignment.left_is_a)
        expected = (True, False) if assignment.left_is_a else (False, True)
        assert (assignment.a_acceptable, assignment.b_acceptable) == expected
    assert draws == {True, False}


@pytest.mark.django_db
def test_refused_when_asked_and_missing_ignored_when_not_asked(owner):
    asked = make_experiment(owner, slug="asked", n_pairs=1, ask_acceptable=True)
    reviewer = make_user("rita")
    assignment = next_assignment(asked, reviewer)
    for given, missing in [(None, "left and the right output are"),
                           (Acceptability(True, None), "right output is"),
                           (Acceptability(None, False), "left output is")]:  # fmt: skip
        with pytest.raises(SubmissionRefused) as refused:
            record_submission(assignment.pk, reviewer, answer_all(asked), acceptable=given)
        assert refused.value.code == "invalid"
        assert refused.value.errors == {"acceptable": f"Say whether the {missing} acceptable."}
    assignment.refresh_from_db()
    assert assignment.status == "shown" and assignment.judgments.count() == 0

    # Sent twice with different answers: the first stands.
    record_submission(
        assignment.pk, reviewer, answer_all(asked), acceptable=Acceptability(False, False)
    )
    again = record_submission(
        assignment.pk, reviewer, answer_all(asked), acceptable=Acceptability(True, True)
    )
    assert again.already_recorded
    assignment.refresh_from_db()
    assert (assignment.a_acceptable, assignment.b_acceptable) == (False, False)

    not_asked = make_experiment(owner, slug="not-asked", n_pairs=1)
    assignment = next_assignment(not_asked, reviewer)
    record_submission(
        assignment.pk, reviewer, answer_all(not_asked), acceptable=Acceptability(True, True)
    )
    assignment.refresh_from_db()
    assert (assignment.a_acceptable, assignment.b_acceptable) == (None, None)


@pytest.mark.django_db
def test_review_page_asks_blind_and_stores_it(client, owner):
    experiment = make_experiment(owner, n_pairs=2, reviews_per_pair=1, models=MODELS,
                                 ask_acceptable=True)  # fmt: skip
    reviewer = make_user("rita")
    experiment.reviewers.add(reviewer)
    client.force_login(reviewer)
    html = client.get(reverse("review-pair", args=[experiment.review_key])).content.decode()
    assert 'id="acceptability"' in html and "reviewapp/acceptability.js" in html
    for side, keys in (("left", "AZ"), ("right", "KM")):
        for value, key in zip(("yes", "no"), keys, strict=True):
            assert re.search(
                rf'name="acceptable-{side}" value="{value}" data-key="{key}" required>', html
            )
    # Blind: the question is the same on both sides and names no model.
    for model in MODELS:
        assert model not in html
    url = re.search(r'hx-post="(/review/[^"]+/submit/)"', html).group(1)
    data = {f"dim-{d.position}": "right" for d in experiment.dimensions.all()}
    page = client.post(url, data | {"acceptable-left": "yes"}, headers={"HX-Request": "true"})
    text = page.content.decode()
    assert "Say whether the right output is acceptable." in text
    assert 'name="acceptable-left" value="yes" data-key="A" required checked>' in text
    assert not Assignment.objects.filter(status="submitted").exists()
    client.post(url, data | {"acceptable-left": "yes", "acceptable-right": "no"})
    assignment = Assignment.objects.get(status="submitted")
    left_a = assignment.left_is_a
    assert (assignment.a_acceptable, assignment.b_acceptable) == (left_a, not left_a)


@pytest.mark.django_db
def test_asking_costs_the_review_submission_no_query(client, owner):
    """The answers ride on the assignment's UPDATE: a submission makes the same statements
    whether the experiment asks or not."""
    counts = {}
    for slug, asks in (("off", False), ("on", True)):
        experiment = make_experiment(owner, slug=slug, n_pairs=3, ask_acceptable=asks)
        reviewer = make_user(f"rita-{slug}")
        experiment.reviewers.add(reviewer)
        client.force_login(reviewer)
        html = client.get(reverse("review-pair", args=[experiment.review_key])).content.decode()
        url = re.search(r'hx-post="(/review/[^"]+/submit/)"', html).group(1)
        data = {f"dim-{d.position}": "left" for d in experiment.dimensions.all()}
        data |= {"acceptable-left": "yes", "acceptable-right": "no"}
        with CaptureQueriesContext(connection) as queries:
            response = client.post(url, data, headers={"HX-Request": "true"})
        assert response.status_code == 200
        assert Assignment.objects.filter(experiment=experiment, status="submitted").count() == 1
        counts[slug] = len(queries)
    assert counts["on"] == counts["off"]


@pytest.mark.django_db
def test_review_page_does_not_ask_when_off(client, owner):
    experiment = make_experiment(owner, n_pairs=1, reviews_per_pair=1)
    reviewer = make_user("rita")
    experiment.reviewers.add(reviewer)
    client.force_login(reviewer)
    html = client.get(reverse("review-pair", args=[experiment.review_key])).content.decode()
    assert "acceptable-left" not in html and 'id="acceptability"' not in html


@pytest.mark.django_db
def test_api_asks_and_stores_in_content_terms(client, owner):
    experiment = make_experiment(owner, slug="exp", n_pairs=2, ask_acceptable=True)
    token = add_judge(client, create_token(owner)[1])
    task = call(client, "get", "/api/review/exp/next", token).json()
    assert task["ask_acceptable"] is True
    url = f"/api/review/exp/assignments/{task['assignment']}"
    choices = {d.name: "left" for d in experiment.dimensions.all()}
    response = call(client, "post", url, token, {"choices": choices})
    assert response.status_code == 400
    assert "acceptable" in response.json()["detail"]
    body = {"choices": choices, "acceptable": {"left": False, "right": True}}
    assert call(client, "post", url, token, body).json()["status"] == "recorded"
    assignment = Assignment.objects.get(pk=task["assignment"])
    left_a = assignment.left_is_a
    assert (assignment.a_acceptable, assignment.b_acceptable) == (not left_a, left_a)
    # Strict JSON: "yes" is not a boolean.
    bad = {"choices": choices, "acceptable": {"left": "yes", "right": True}}
    assert call(client, "post", url, token, bad).status_code == 422


# --------------------------------------------------------------------------- results


def judged_with_acceptability(owner, slug="judged", seed=3):
    """build_judged's random experiment (4 models, 5 reviewers, unknown sides) with random
    acceptability answers (some not asked), an excluded reviewer, an automatic judge and
    gold pairs whose answers must not count."""
    experiment = build_judged(owner, slug=slug, seed=seed)
    rng = np.random.default_rng(seed)
    assignments = list(Assignment.objects.filter(experiment=experiment))
    for assignment in assignments:
        roll = rng.random()
        if roll < 0.1:
            continue  # not asked
        assignment.a_acceptable = bool(rng.random() < 0.8)
        assignment.b_acceptable = bool(rng.random() < 0.6)
    Assignment.objects.bulk_update(assignments, ["a_acceptable", "b_acceptable"])
    leave_out_some(experiment)
    return experiment


def leave_out_some(experiment):
    """An excluded reviewer, an automatic judge and gold pairs: none of them counts."""
    Membership.objects.filter(experiment=experiment, user__username="dan").update(excluded=True)
    Membership.objects.filter(experiment=experiment, user__username="eve").update(
        kind=Membership.Kind.AUTOMATIC
    )
    Pair.objects.filter(experiment=experiment, external_id__endswith="7").update(is_gold=True)


def hand_count(experiment):
    """Per model [judged, acceptable] and per (X, Y) the four-way split, from the rows."""
    from reviewapp.results import orient

    per_model = defaultdict(lambda: [0, 0])
    splits = defaultdict(lambda: dict.fromkeys(("both_acceptable", "only_x", "only_y",
                                                 "neither"), 0))  # fmt: skip
    for a in Assignment.objects.filter(experiment=experiment, status="submitted").select_related(
        "pair"
    ):
        membership = Membership.objects.filter(experiment=experiment, user=a.reviewer).first()
        if a.pair.is_gold or membership.excluded or membership.kind == "automatic":
            continue
        answers = {a.pair.model_a: a.a_acceptable, a.pair.model_b: a.b_acceptable}
        for model, ok in answers.items():
            if ok is not None:
                per_model[model][0] += 1
                per_model[model][1] += ok
        if None in answers.values():
            continue
        x, y = orient(a.pair.model_a, a.pair.model_b, experiment.baseline_model)
        names = {(True, True): "both_acceptable", (True, False): "only_x",
                 (False, True): "only_y", (False, False): "neither"}  # fmt: skip
        splits[(x, y)][names[(answers[x], answers[y])]] += 1
    return per_model, splits


@pytest.mark.django_db
def test_acceptance_matches_a_hand_count_and_statsmodels_wilson(owner):
    experiment = judged_with_acceptability(owner)
    results = compute_results(experiment, n_resamples=0)
    per_model, splits = hand_count(experiment)
    assert [row["model"] for row in results["acceptance"]] == sorted(per_model)
    for row in results["acceptance"]:
        n, ok = per_model[row["model"]]
        assert (row["n"], row["acceptable"]) == (n, ok)
        assert row["rate"] == pytest.approx(ok / n)
        lo, hi = proportion_confint(ok, n, alpha=0.05, method="wilson")
        assert row["rate_ci"] == pytest.approx([lo, hi], abs=1e-12)
    pairs = results["dimensions"][results["first_dimension"]]["pairs"]
    assert {(p["model_x"], p["model_y"]): p["acceptability"] for p in pairs} == splits
    # The exclusions were in play: each changes the counts.
    with_judge = compute_results(experiment, n_resamples=0, include_automatic=True)
    assert sum(r["n"] for r in with_judge["acceptance"]) > sum(
        r["n"] for r in results["acceptance"]
    )
    # Only the first dimension's pairs carry the split.
    for name, dimension in results["dimensions"].items():
        if name != results["first_dimension"]:
            assert all("acceptability" not in p for p in dimension["pairs"])


@pytest.mark.django_db
def test_not_asked_gives_no_acceptance_and_the_verdict_says_nothing_of_it(owner):
    experiment = build_judged(owner, seed=4)
    results = compute_results(experiment, n_resamples=0)
    assert results["acceptance"] == []
    assert all(p["acceptability"] is None for p in results["dimensions"]["overall"]["pairs"])
    assert "acceptable" not in results["verdict"]


@pytest.mark.django_db
def test_verdict_and_page_show_the_challengers_acceptance(client, owner):
    experiment = judged_with_acceptability(owner)
    results = compute_results(experiment, n_resamples=0)
    overall = results["dimensions"]["overall"]
    challenger = max(overall["pairs"], key=lambda p: p["decided"])["model_x"]
    row = next(r for r in results["acceptance"] if r["model"] == challenger)
    lo, hi = row["rate_ci"]
    clause = (
        f"; {challenger}'s outputs were acceptable in {100 * row['rate']:.0f} % of {row['n']} "
        f"(95 % CI {100 * lo:.0f}–{100 * hi:.0f} %)"
    )
    assert clause in results["verdict"]
    client.force_login(owner)
    html = client.get(reverse("results-page", args=[experiment.slug])).content.decode()
    assert 'id="acceptance"' in html and '<title id="acceptance-title">Acceptable outputs' in html
    for r in results["acceptance"]:
        assert f"{r['model']}: {100 * r['rate']:.0f} % acceptable" in html  # the plot's text


def test_acceptance_plot_escapes_names_and_orders_by_rate():
    svg = acceptance_plot(
        [
            {"model": "<b>evil</b>", "n": 10, "acceptable": 5, "rate": 0.5, "rate_ci": [0.2, 0.8]},
            {"model": "good", "n": 1200, "acceptable": 1080, "rate": 0.9, "rate_ci": [0.88, 0.92]},
        ],
        plot_id="acceptance",
    )
    assert "<b>" not in svg and "&lt;b&gt;evil&lt;/b&gt;" in svg
    assert svg.index("good") < svg.index("&lt;b&gt;evil")
    assert "n = 1,200" in svg and svg.count('class="point decisive"') == 2


# --------------------------------------------------------------------------- export, import


@pytest.mark.django_db
def test_export_then_import_keeps_acceptability(owner, tmp_path):
    original = judged_with_acceptability(owner, slug="original", seed=9)
    path = tmp_path / "original.csv"
    with open(path, "w", newline="", encoding="utf-8") as out:
        write_judgments_csv(original, out)
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    assert list(rows[0])[-4:] == ["excluded", "repeat", "a_acceptable", "b_acceptable"]
    assert {r["a_acceptable"] for r in rows} == {"yes", "no", ""}
    stored = dict(
        Assignment.objects.filter(experiment=original)
        .values_list("pair__external_id", "a_acceptable")
        .filter(reviewer__username="ann")  # fmt: skip
    )
    text = {True: "yes", False: "no", None: ""}
    for row in rows:
        if row["reviewer"] == "ann":
            assert row["a_acceptable"] == text[stored[row["pair_id"]]]
    copy = fresh_copy(original, "copy")
    import_judgments(copy, path)
    leave_out_some(copy)  # the export does not carry gold pairs or kinds
    got, want = compute_results(copy, n_resamples=50), compute_results(original, n_resamples=50)
    assert got["acceptance"] == want["acceptance"] and got["acceptance"]
    assert_same_results(got, want)
    again = exported(copy).drop(columns="experiment")
    assert again.equals(exported(original).drop(columns="experiment"))


@pytest.mark.django_db
def test_jsonl_export_gives_booleans_or_null(client, owner):
    experiment = judged_with_acceptability(owner, slug="exp", seed=2)
    stored = {
        (pair_id, reviewer): (a, b)
        for pair_id, reviewer, a, b in Assignment.objects.filter(experiment=experiment).values_list(
            "pair__external_id", "reviewer__username", "a_acceptable", "b_acceptable"
        )
    }
    response = call(client, "get", "/api/experiments/exp/judgments.jsonl", create_token(owner)[1])
    lines = [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]
    assert lines and {(r["a_acceptable"], r["b_acceptable"]) for r in lines} >= {(True, False)}
    for r in lines:
        assert (r["a_acceptable"], r["b_acceptable"]) == stored[(r["pair_id"], r["reviewer"])]


HEADER = (
    "experiment,pair_id,reviewer,dimension,model_a,model_b,left_model,choice,winner,"
    "submitted_at,seconds_on_pair,rationale,strength,excluded,a_acceptable,b_acceptable"
)


@pytest.mark.django_db
def test_import_refuses_bad_acceptability_with_line_and_column(owner, tmp_path):
    experiment = make_experiment(owner, n_pairs=1, models=MODELS, dimensions=["overall", "style"])
    a, b = MODELS
    path = tmp_path / "bad.csv"
    path.write_text(
        "\n".join(
            [
                HEADER,
                f"exp,p00000,ann,overall,{a},{b},,,tie,,,,,false,maybe,yes",
                f"exp,p00000,bob,overall,{a},{b},,,tie,,,,,false,yes,No",
            ]
        )
    )
    with pytest.raises(JudgmentImportError) as refused:
        import_judgments(experiment, path)
    problems = [(e.row, e.column, e.message) for e in refused.value.errors]
    assert problems == [(2, "a_acceptable", "expected yes, no or empty (not asked), got 'maybe'")]
    # One answer per output per review: every row of the review must say the same.
    path.write_text(
        "\n".join(
            [
                HEADER,
                f"exp,p00000,bob,overall,{a},{b},,,tie,,,,,false,yes,no",
                f"exp,p00000,bob,style,{a},{b},,,tie,,,,,false,no,no",
            ]
        )
    )
    with pytest.raises(JudgmentImportError) as refused:
        import_judgments(experiment, path)
    problems = [(e.row, e.column, e.message) for e in refused.value.errors]
    assert problems == [
        (3, "a_acceptable", "differs from line 2 (True) for the same pair and reviewer")
    ]
    assert not Assignment.objects.exists()


@pytest.mark.django_db
def test_import_without_the_columns_stores_not_asked(owner, tmp_path):
    experiment = make_experiment(owner, n_pairs=1, models=MODELS, dimensions=["overall"])
    path = tmp_path / "old.csv"
    path.write_text(
        HEADER.rsplit(",", 3)[0] + f"\nexp,p00000,ann,overall,{MODELS[0]},{MODELS[1]},,,tie,,,,\n"
    )
    import_judgments(experiment, path)
    assignment = Assignment.objects.get()
    assert (assignment.a_acceptable, assignment.b_acceptable) == (None, None)


# --------------------------------------------------------------------------- published figures


def first_judgment_per_pair(path: Path) -> str:
    """The earliest judgment of every pair (ties in time: the earlier line), as a CSV."""
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    first = {}
    for row in sorted(rows, key=lambda r: r["submitted_at"]):  # ISO times, all UTC: sortable
        first.setdefault(row["pair_id"], row)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(first.values())
    return out.getvalue()


@pytest.mark.django_db
def test_tulu1_published_acceptance_and_preference_reproduced(owner):
    """Wang et al. 2023 ("How Far Can Camels Go?"), the first non-superseded judgment of
    each of the 996 pairs: acceptance ChatGPT 90.1 %, Tulu 65B 79.8 % (over its three
    pairings), Tulu 65B human-data-only 72.3 %, Tulu 7B 68.7 % (Fig. 3); Tulu 65B vs ChatGPT
    27.7 % Tulu better / 33.1 % tie / 39.2 % ChatGPT better (Fig. 4)."""
    experiment = create_experiment(
        owner=owner, name="Tulu 1", slug="tulu1", dimensions=["overall"], reviews_per_pair=1,
        baseline_model="chatgpt", ask_acceptable=True,
    )  # fmt: skip
    import_upload(experiment, PUBLISHED / "tulu1_pairs.csv", pairing="all")
    first = first_judgment_per_pair(PUBLISHED / "tulu1_judgments.csv")
    result = import_judgments(experiment, io.BytesIO(first.encode()))
    assert (result.assignments_created, result.unknown_side) == (996, 0)

    results = compute_results(experiment, n_resamples=0)
    acceptance = {r["model"]: r for r in results["acceptance"]}
    assert {m: round(100 * r["rate"], 1) for m, r in acceptance.items()} == {
        "chatgpt": 90.1, "tulu_65B": 79.8, "tulu_human_only_65B": 72.3, "tulu_7B": 68.7,
    }  # fmt: skip
    assert {m: r["n"] for m, r in acceptance.items()} == {
        "chatgpt": 332, "tulu_65B": 996, "tulu_human_only_65B": 332, "tulu_7B": 332,
    }  # fmt: skip
    pairs = {(p["model_x"], p["model_y"]): p for p in results["dimensions"]["overall"]["pairs"]}
    vs_chatgpt = pairs[("tulu_65B", "chatgpt")]
    shares = [round(100 * vs_chatgpt[k] / vs_chatgpt["n"], 1) for k in ("x_wins", "ties", "y_wins")]
    assert shares == [27.7, 33.1, 39.2]
    # The four-way split adds up to the same reviews and to each model's acceptable count.
    split = vs_chatgpt["acceptability"]
    assert sum(split.values()) == vs_chatgpt["n"] == 332
    assert split["both_acceptable"] + split["only_y"] == acceptance["chatgpt"]["acceptable"]
    assert "tulu_65B's outputs were acceptable in 80 % of 996" in results["verdict"]
    assert len(pairs) == 3 and all(p["n"] == 332 for p in pairs.values())
