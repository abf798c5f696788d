"""Comparing experiments that share a baseline: the figures are each experiment's own."""

from datetime import timedelta

import numpy as np
import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from reviewapp.compare import CompareError, compare_experiments
from reviewapp.models import Assignment, Judgment, Membership, Pair, pair_shuffle_key
from reviewapp.results import compute_results
from reviewapp.tokens import create_token
from tests.conftest import make_experiment, make_user

BASE = "base-7b"
# Challenger -> its chance of winning a decided judgment (v3 clearly better).
CHALLENGERS = {"ft-v1": 0.45, "ft-v2": 0.55, "ft-v3": 0.8}


def build(owner, reviewers, challenger, p_win, *, n_pairs, first_prompt, seed, **fields):
    experiment = make_experiment(
        owner, slug=f"base-vs-{challenger}", name=f"Base vs {challenger}",
        dimensions=["overall", "style"], **fields,
    )  # fmt: skip
    rng = np.random.default_rng(seed)
    now = timezone.now()
    for i in range(n_pairs):
        # The baseline is output A in some pairs, B in others.
        a, b = (BASE, challenger) if i % 2 else (challenger, BASE)
        pair = Pair.objects.create(
            experiment=experiment, external_id=f"q{i}", prompt=f"Question {first_prompt + i}",
            model_a=a, output_a="x" * (i + 1), model_b=b, output_b="y",
            shuffle_key=pair_shuffle_key(experiment.seed, f"q{i}"),
        )  # fmt: skip
        for reviewer in reviewers:
            assignment = Assignment.objects.create(
                experiment=experiment, pair=pair, reviewer=reviewer, left_is_a=bool(i % 3),
                status="submitted", shown_at=now - timedelta(seconds=9), submitted_at=now,
            )  # fmt: skip
            for dimension in experiment.dimensions.all():
                draw = rng.random()
                winner = (
                    "tie" if draw < 0.15 else (challenger if draw < 0.15 + 0.85 * p_win else BASE)
                )
                choice = "tie" if winner == "tie" else ("A" if winner == a else "B")
                Judgment.objects.create(assignment=assignment, dimension=dimension, choice=choice)
    for reviewer in reviewers:
        Membership.objects.get_or_create(experiment=experiment, user=reviewer)
    return experiment


@pytest.fixture
def three(owner, reviewers):
    # v1 and v2 ask questions 0..29, v3 questions 10..39: 20 prompts in common.
    return [
        build(owner, reviewers, "ft-v1", 0.45, n_pairs=30, first_prompt=0, seed=1),
        build(
            owner, reviewers, "ft-v2", 0.55, n_pairs=30, first_prompt=0, seed=2, baseline_model=BASE
        ),  # fmt: skip
        build(owner, reviewers, "ft-v3", 0.8, n_pairs=30, first_prompt=10, seed=3),
    ]


def hand_count(experiment, dimension, challenger):
    judgments = Judgment.objects.filter(
        assignment__experiment=experiment, dimension__name=dimension
    ).select_related("assignment__pair")
    wins = losses = ties = 0
    for j in judgments:
        pair = j.assignment.pair
        if j.choice == "tie":
            ties += 1
        elif (pair.model_a if j.choice == "A" else pair.model_b) == challenger:
            wins += 1
        else:
            losses += 1
    return wins, losses, ties


def test_rows_equal_each_experiments_own_results(three):
    comparison = compare_experiments(three, BASE, n_resamples=0)
    assert [e["slug"] for e in comparison.experiments] == [e.slug for e in three]
    assert comparison.prompts_in_common == 20
    assert [e["prompts"] for e in comparison.experiments] == [30, 30, 30]
    for dimension in ("overall", "style"):
        rows = comparison.dimensions[dimension]
        assert [r["challenger"] for r in rows] == ["ft-v1", "ft-v2", "ft-v3"]
        for experiment, row in zip(three, rows, strict=True):
            wins, losses, ties = hand_count(experiment, dimension, row["challenger"])
            assert (row["challenger_wins"], row["baseline_wins"], row["ties"]) == (
                wins, losses, ties,
            )  # fmt: skip
            (own,) = compute_results(experiment, n_resamples=0)["dimensions"][dimension]["pairs"]
            flipped = own["model_x"] == BASE
            expected = 1 - own["x_win_rate"] if flipped else own["x_win_rate"]
            assert row["win_rate"] == pytest.approx(expected, abs=1e-12)
            assert row["win_rate"] == pytest.approx(wins / (wins + losses), abs=1e-12)
            lo, hi = own["x_win_rate_ci"]
            assert row["win_rate_ci"] == pytest.approx([1 - hi, 1 - lo] if flipped else [lo, hi])
            assert row["p_value"] == own["p_value"]


def test_order_is_the_owners(three):
    comparison = compare_experiments(three[::-1], BASE, n_resamples=0)
    assert [r["challenger"] for r in comparison.dimensions["overall"]] == [
        "ft-v3", "ft-v2", "ft-v1",
    ]  # fmt: skip


def test_a_baseline_missing_from_one_experiment_is_refused(three):
    with pytest.raises(CompareError, match="not in every experiment"):
        compare_experiments(three, "ft-v1")
    with pytest.raises(CompareError, match="at least two"):
        compare_experiments(three[:1], BASE)


def test_compare_page(three, owner, client):
    client.force_login(owner)
    params = {"e": [e.slug for e in three], "baseline": BASE, "order-base-vs-ft-v3": "1"}
    response = client.get(reverse("owner-compare"), params)
    assert response.status_code == 200
    body = response.content.decode()
    assert "20 prompts in common" in body
    assert body.count("<svg") >= 2  # a forest plot per dimension
    rows = response.context["comparison"].dimensions["overall"]
    assert rows[0]["challenger"] == "ft-v3"  # ordered first by the owner


def test_compare_page_ignores_experiments_of_others(three, client):
    client.force_login(make_user("mallory", owner=True))
    response = client.get(reverse("owner-compare"), {"e": [e.slug for e in three]})
    assert response.status_code == 200
    assert response.context["comparison"] is None
    assert "Base vs ft-v1" not in response.content.decode()


def test_compare_api(three, owner):
    _, token = create_token(owner, "t")
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    query = "&".join(f"experiments={e.slug}" for e in three) + f"&baseline={BASE}"
    response = api.get(f"/api/compare?{query}")
    assert response.status_code == 200
    assert response.json()["prompts_in_common"] == 20
    assert len(response.json()["dimensions"]["overall"]) == 3
    bad = api.get(f"/api/compare?{query.replace(BASE, 'nobody')}")
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_comparison"
    _, other = create_token(make_user("mallory", owner=True), "t")
    foreign = Client(HTTP_AUTHORIZATION=f"Bearer {other}").get(f"/api/compare?{query}")
    assert foreign.status_code == 404
