"""Quality flags: each raised on a synthetic reviewer built to deserve it, never on careful ones."""

from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone

from reviewapp.models import Assignment, Judgment, Pair, pair_shuffle_key
from reviewapp.quality import GoldScore, reviewer_flags
from reviewapp.results import compute_results
from tests.conftest import make_experiment, make_user

CAREFUL = dict(decided=60, left_share=0.5, median_seconds=40.0, too_fast_seconds=5.0,
               gold=GoldScore(9, 10, 10), majority_items=60, majority_agreed=52,
               pooled_majority_agreement=0.85)  # fmt: skip


def test_careful_reviewer_has_no_flags():
    assert reviewer_flags(**CAREFUL) == []


@pytest.mark.parametrize(
    "change,flag",
    [
        ({"left_share": 0.8}, "position_bias"),
        ({"median_seconds": 3.9}, "too_fast"),
        ({"gold": GoldScore(3, 10, 5)}, "low_gold_accuracy"),
        ({"majority_agreed": 20}, "low_agreement"),
    ],
)
def test_each_flag(change, flag):
    assert reviewer_flags(**(CAREFUL | change)) == [flag]


@pytest.mark.parametrize(
    "change",
    [
        {"decided": 19, "left_share": 1.0},  # too few decided judgments to say
        {"gold": GoldScore(0, 4, 4)},  # fewer than 5 gold pairs
        {"majority_items": 19, "majority_agreed": 0},  # fewer than 20 majority items
        # Below 0.85 x pooled but not significantly (few items): no flag.
        {"majority_items": 20, "majority_agreed": 14},
    ],
)
def test_thresholds_hold_back_flags(change):
    assert reviewer_flags(**(CAREFUL | change)) == []


def build_study(owner, rng):
    """120 pairs where model B is truly better on 85 % of pairs; 5 careful reviewers, one
    random clicker, one who always clicks left, one who rushes, one who fails gold pairs."""
    experiment = make_experiment(owner, n_pairs=120, reviews_per_pair=9, slug="quality")
    gold_pairs = Pair.objects.bulk_create(
        Pair(experiment=experiment, external_id=f"gold{i}", prompt="g", model_a="zebra-base-7b",
             model_b="yak-tuned-7b", is_gold=True, gold={"overall": "A"},
             shuffle_key=pair_shuffle_key(experiment.seed, f"gold{i}"))
        for i in range(6)
    )  # fmt: skip
    first = experiment.dimensions.get(position=0)
    pairs = list(experiment.pairs.filter(is_gold=False))
    truth = {p.pk: ("B" if rng.random() < 0.85 else "A") for p in pairs}
    now = timezone.now()
    behaviours = {f"careful{i}": "careful" for i in range(5)}
    behaviours |= {"random": "random", "lefty": "left", "rusher": "careful", "goldfail": "careful"}
    assignments, judgments = [], []
    for name, behaviour in behaviours.items():
        reviewer = make_user(name)
        experiment.reviewers.add(reviewer)
        seconds = 2.0 if name == "rusher" else 30.0
        for pair in [*pairs, *gold_pairs]:
            left_is_a = bool(rng.random() < 0.5)
            if pair.is_gold:
                choice = "B" if name == "goldfail" else "A"
            elif behaviour == "careful":
                choice = (
                    truth[pair.pk]
                    if rng.random() < 0.9
                    else ("A" if truth[pair.pk] == "B" else "B")
                )
            elif behaviour == "random":
                choice = str(rng.choice(["A", "B", "tie"]))
            else:  # always the left output
                choice = "A" if left_is_a else "B"
            assignments.append(Assignment(
                experiment=experiment, pair=pair, reviewer=reviewer, left_is_a=left_is_a,
                status="submitted", shown_at=now - timedelta(seconds=seconds), submitted_at=now,
            ))  # fmt: skip
            judgments.append((len(assignments) - 1, choice))
    Assignment.objects.bulk_create(assignments)
    Judgment.objects.bulk_create(
        Judgment(assignment=assignments[i], dimension=first, choice=choice)
        for i, choice in judgments
    )
    return experiment


@pytest.mark.django_db
def test_flags_in_results_json(owner):
    experiment = build_study(owner, np.random.default_rng(7))
    results = compute_results(experiment, n_resamples=0)
    flags = {r["reviewer"]: r["flags"] for r in results["reviewers"]}
    gold = {r["reviewer"]: r["gold_accuracy"] for r in results["reviewers"]}
    for i in range(5):
        assert flags[f"careful{i}"] == [], flags
        assert gold[f"careful{i}"] == 1.0
    assert "low_agreement" in flags["random"]
    assert "position_bias" in flags["lefty"]
    assert flags["rusher"] == ["too_fast"]
    assert flags["goldfail"] == ["low_gold_accuracy"] and gold["goldfail"] == 0.0


@pytest.mark.django_db
def test_gold_pairs_never_count_in_preferences(owner):
    experiment = build_study(owner, np.random.default_rng(3))
    with_gold = compute_results(experiment, n_resamples=0)["dimensions"]["overall"]["pairs"][0]
    Pair.objects.filter(is_gold=True).delete()
    without = compute_results(experiment, n_resamples=0)["dimensions"]["overall"]["pairs"][0]
    assert with_gold == without
