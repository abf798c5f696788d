"""Human vs automatic reviewers in the results: automatic judges stay out of the preference
statistics unless asked for, and each gets, per dimension, its agreement with the human
majority, Cohen's kappa against it (checked with scikit-learn) and its position bias."""

import itertools
from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone
from sklearn.metrics import cohen_kappa_score

from reviewapp.models import Assignment, Judgment, Membership, Pair, pair_shuffle_key
from reviewapp.results import compute_results, orient
from tests.conftest import make_experiment, make_user

MODELS = ("base-7b", "tuned-7b")
DIMENSIONS = ("overall", "style")


def judge(experiment, pair, reviewer, choices: dict[str, str], left_is_a=True):
    """A submitted assignment with one judgment per dimension ("A", "B" or "tie")."""
    now = timezone.now()
    assignment = Assignment.objects.create(
        experiment=experiment, pair=pair, reviewer=reviewer, left_is_a=left_is_a,
        status="submitted", shown_at=now - timedelta(seconds=30), submitted_at=now,
    )  # fmt: skip
    for dimension in experiment.dimensions.all():
        Judgment.objects.create(
            assignment=assignment, dimension=dimension, choice=choices[dimension.name]
        )


@pytest.fixture
def world(owner):
    experiment = make_experiment(
        owner, n_pairs=0, dimensions=list(DIMENSIONS), baseline_model=MODELS[0],
        reviews_per_pair=3,
    )  # fmt: skip
    rng = np.random.default_rng(3)
    pairs = []
    for i in range(40):
        # Both orders of the models, so the X/Y orientation matters.
        a, b = MODELS if i % 3 else MODELS[::-1]
        pairs.append(
            Pair(
                experiment=experiment,
                external_id=f"p{i}",
                prompt=f"q{i}",
                model_a=a,
                output_a="x",
                model_b=b,
                output_b="y",
                shuffle_key=pair_shuffle_key(experiment.seed, f"p{i}"),
            )  # fmt: skip
        )
    Pair.objects.bulk_create(pairs)
    pairs = list(experiment.pairs.order_by("pk"))
    humans = [make_user(name) for name in ("hana", "hugo", "hedy")]
    experiment.reviewers.add(*humans)
    bots = [make_user(name) for name in ("gpt-judge", "coin-judge")]
    for bot in bots:
        Membership.objects.create(experiment=experiment, user=bot, kind="automatic")
    excluded = make_user("xena")
    Membership.objects.create(experiment=experiment, user=excluded, excluded=True)
    truth = {}
    for n, pair in enumerate(pairs):
        tuned_side = "A" if pair.model_a == MODELS[1] else "B"
        other = "B" if tuned_side == "A" else "A"
        for dimension in DIMENSIONS:
            # Humans mostly prefer the tuned model; sometimes they split.
            votes = [tuned_side if rng.random() < 0.75 else rng.choice([other, "tie"])
                     for _ in humans]  # fmt: skip
            truth[(pair.pk, dimension)] = votes
        for h_i, human in enumerate(humans):
            judge(
                experiment, pair, human,
                {d: truth[(pair.pk, d)][h_i] for d in DIMENSIONS}, left_is_a=bool(n % 2),
            )  # fmt: skip
        # gpt-judge agrees with the tuned model always and sits on the left a lot;
        # coin-judge answers at random, always with A shown on the left.
        judge(experiment, pair, bots[0], dict.fromkeys(DIMENSIONS, tuned_side), bool(n % 4))
        coin = {d: str(rng.choice(["A", "B", "tie"])) for d in DIMENSIONS}
        judge(experiment, pair, bots[1], coin, left_is_a=True)
        # The excluded reviewer always contradicts the humans: must not move the majority.
        judge(experiment, pair, excluded, dict.fromkeys(DIMENSIONS, other))
    gold = Pair.objects.create(
        experiment=experiment, external_id="gold", prompt="g", model_a=MODELS[0],
        output_a="x", model_b=MODELS[1], output_b="y", is_gold=True,
    )  # fmt: skip
    for reviewer in [*humans, *bots]:
        judge(experiment, gold, reviewer, dict.fromkeys(DIMENSIONS, "A"))
    return experiment, pairs, humans, bots


def expected(experiment, pairs, bot_name, dimension):
    """Straight from the raw judgments: the judge's and the humans' majority labels per item,
    oriented X vs Y, for scikit-learn."""
    baseline = experiment.baseline_model
    judge_labels, majority_labels, left, decided, n = [], [], 0, 0, 0

    def label(choice, pair):
        if choice == "tie":
            return "tie"
        winner = pair.model_a if choice == "A" else pair.model_b
        return "x" if winner == orient(pair.model_a, pair.model_b, baseline)[0] else "y"

    for pair in pairs:
        judgments = Judgment.objects.filter(
            assignment__pair=pair, dimension__name=dimension
        ).select_related("assignment__reviewer")
        own = next(j for j in judgments if j.assignment.reviewer.username == bot_name)
        n += 1
        if own.choice != "tie":
            decided += 1
            left += (own.choice == "A") == own.assignment.left_is_a
        votes = [j.choice for j in judgments if j.assignment.reviewer.username in
                 ("hana", "hugo", "hedy")]  # fmt: skip
        counts = {c: votes.count(c) for c in ("A", "B", "tie")}
        top = max(counts.values())
        winners = [c for c, k in counts.items() if k == top]
        if len(winners) == 1:
            judge_labels.append(label(own.choice, pair))
            majority_labels.append(label(winners[0], pair))
    return judge_labels, majority_labels, left, decided, n


@pytest.mark.django_db
def test_automatic_reviewers_are_compared_with_the_human_majority(world):
    experiment, pairs, humans, bots = world
    results = compute_results(experiment, n_resamples=0)
    for dimension in DIMENSIONS:
        rows = results["dimensions"][dimension]["automatic_reviewers"]
        assert [r["reviewer"] for r in rows] == ["coin-judge", "gpt-judge"]
        for row in rows:
            labels, majority, left, decided, n = expected(
                experiment, pairs, row["reviewer"], dimension
            )
            assert row["n"] == n == 40  # the gold pair is not counted
            assert row["majority_items"] == len(majority) > 10
            agreement = np.mean([a == b for a, b in zip(labels, majority, strict=True)])
            assert row["agreement_with_human_majority"] == pytest.approx(agreement)
            kappa = cohen_kappa_score(labels, majority, labels=["x", "y", "tie"])
            assert row["cohen_kappa_vs_human_majority"] == pytest.approx(kappa)
            bias = row["position_bias"]
            assert (bias["n"], bias["left_wins"]) == (decided, left)
            assert bias["left_share"] == pytest.approx(left / decided)
            assert bias["left_share_ci"][0] < bias["left_share"] < bias["left_share_ci"][1]
        by_name = {r["reviewer"]: r for r in rows}
        assert by_name["gpt-judge"]["agreement_with_human_majority"] > 0.8
        assert by_name["coin-judge"]["cohen_kappa_vs_human_majority"] < 0.3


@pytest.mark.django_db
def test_preference_statistics_count_humans_unless_automatic_included(world):
    experiment, pairs, humans, bots = world
    humans_only = compute_results(experiment, n_resamples=0)
    assert humans_only["dimensions"]["overall"]["n_judgments"] == 3 * 40
    kinds = {r["reviewer"]: (r["kind"], r["counted"]) for r in humans_only["reviewers"]}
    assert kinds["gpt-judge"] == ("automatic", False) and kinds["hana"] == ("human", True)
    with_bots = compute_results(experiment, n_resamples=0, include_automatic=True)
    assert with_bots["dimensions"]["overall"]["n_judgments"] == 5 * 40
    # The comparison is always with the humans, whatever the statistics include.
    assert (
        with_bots["dimensions"]["overall"]["automatic_reviewers"]
        == humans_only["dimensions"]["overall"]["automatic_reviewers"]
    )


@pytest.mark.django_db
def test_no_automatic_reviewers_gives_an_empty_list(owner):
    experiment = make_experiment(owner, n_pairs=3)
    human = make_user("hana")
    experiment.reviewers.add(human)
    for pair in experiment.pairs.all():
        judge(experiment, pair, human, dict.fromkeys(experiment.dimensions.values_list(
            "name", flat=True), "A"))  # fmt: skip
    results = compute_results(experiment, n_resamples=0)
    for dimension in results["dimensions"].values():
        assert dimension["automatic_reviewers"] == []


@pytest.mark.django_db
def test_a_judge_without_human_majorities_has_undefined_agreement(owner):
    experiment = make_experiment(owner, n_pairs=4, dimensions=["overall"])
    bot = make_user("lonely-judge")
    Membership.objects.create(experiment=experiment, user=bot, kind="automatic")
    human = make_user("hana")
    experiment.reviewers.add(human)
    for pair, side in zip(experiment.pairs.all(), itertools.cycle([True, False]), strict=False):
        judge(experiment, pair, bot, {"overall": "tie"}, left_is_a=side)
        judge(experiment, pair, human, {"overall": "A"})  # one human: no majority
    row = compute_results(experiment, n_resamples=0)["dimensions"]["overall"][
        "automatic_reviewers"
    ][0]
    assert row["n"] == 4 and row["majority_items"] == 0
    assert row["agreement_with_human_majority"] is None
    assert row["cohen_kappa_vs_human_majority"] is None
    assert row["position_bias"]["n"] == 0 and row["position_bias"]["left_share"] is None
