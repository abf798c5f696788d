"""The results frame: one row per judgment of a submitted assignment, with the columns
every figure is computed from, in compact types."""

from datetime import timedelta

import pandas as pd
import pytest
from django.utils import timezone

from reviewapp.models import Assignment, Judgment, Membership, Pair, pair_shuffle_key
from reviewapp.results import result_table
from reviewapp.results.frame import read_results_data
from reviewapp.results.tables import RESULT_COLUMNS
from tests.conftest import make_experiment, make_user


def submit(experiment, pair, reviewer, choices, *, left_is_a=True, status="submitted", seconds=30):
    now = timezone.now()
    assignment = Assignment.objects.create(
        experiment=experiment, pair=pair, reviewer=reviewer, left_is_a=left_is_a, status=status,
        shown_at=now - timedelta(seconds=seconds), submitted_at=now,
    )  # fmt: skip
    for dimension in experiment.dimensions.order_by("position"):
        if dimension.name in choices:
            Judgment.objects.create(
                assignment=assignment, dimension=dimension, choice=choices[dimension.name]
            )
    return assignment


@pytest.fixture
def world(owner):
    # The baseline is model A of the pair, so X (the other model) is model B: every choice
    # is flipped when oriented X vs Y.
    experiment = make_experiment(
        owner, n_pairs=1, baseline_model="zebra-base-7b", dimensions=["overall", "style"]
    )
    gold = Pair.objects.create(
        experiment=experiment, external_id="g1", prompt="g", model_a="zebra-base-7b",
        model_b="yak-tuned-7b", is_gold=True, gold={"overall": "B"},
        shuffle_key=pair_shuffle_key(experiment.seed, "g1"),
    )  # fmt: skip
    pair = experiment.pairs.get(external_id="p00000")
    ann, bot, gone = make_user("ann"), make_user("bot"), make_user("gone")
    Membership.objects.create(experiment=experiment, user=ann, excluded=True)
    Membership.objects.create(experiment=experiment, user=bot, kind=Membership.Kind.AUTOMATIC)
    submit(experiment, pair, ann, {"overall": "A", "style": "tie"}, left_is_a=False)
    submit(experiment, pair, bot, {"overall": "B", "style": "B"}, left_is_a=None, seconds=12)
    submit(experiment, gold, ann, {"overall": "B", "style": "A"})
    # Not submitted: left out, however its judgments got there.
    submit(experiment, pair, gone, {"overall": "A"}, status="shown")
    return experiment, pair, gold, ann, bot


@pytest.mark.django_db
def test_frame_has_one_row_per_submitted_judgment(world):
    experiment, pair, gold, ann, bot = world
    data = read_results_data(experiment)
    frame = data.judgments.sort_values(["reviewer", "pair", "dimension"])
    assert len(frame) == 6 and set(frame["reviewer"]) == {ann.pk, bot.pk}
    assert data.dimensions == ["overall", "style"]
    assert len(data.assignments) == 3
    columns = ["pair", "dimension", "choice", "outcome", "chose_left", "is_gold", "gold_answer"]
    rows = [
        [None if pd.isna(v) else v for v in row] for row in frame[columns].itertuples(index=False)
    ]
    assert rows == [
        [pair.pk, "overall", "A", "Y", False, False, None],  # B was on the left
        [pair.pk, "style", "tie", "tie", None, False, None],
        [gold.pk, "overall", "B", "X", False, True, "B"],  # A was on the left
        [gold.pk, "style", "A", "Y", True, True, None],  # no expected answer on style
        [pair.pk, "overall", "B", "X", None, False, None],  # side unknown
        [pair.pk, "style", "B", "X", None, False, None],
    ]
    assert set(frame["model_x"]) == {"yak-tuned-7b"} and set(frame["model_y"]) == {"zebra-base-7b"}
    by_reviewer = frame.groupby("reviewer").first()
    assert (
        by_reviewer.loc[ann.pk, "reviewer_excluded"] and by_reviewer.loc[ann.pk, "kind"] == "human"
    )
    assert by_reviewer.loc[bot.pk, "kind"] == "automatic"
    assert by_reviewer.loc[bot.pk, "seconds"] == pytest.approx(12)


@pytest.mark.django_db
def test_frame_columns_are_compact(world):
    frame = read_results_data(world[0]).judgments
    for column in ("dimension", "choice", "outcome", "model_a", "model_x", "kind"):
        assert isinstance(frame[column].dtype, pd.CategoricalDtype), column
    assert "object" not in set(frame.dtypes.map(str))


@pytest.mark.django_db
def test_empty_experiment_gives_an_empty_frame(owner):
    data = read_results_data(make_experiment(owner, n_pairs=3, slug="empty"))
    assert data.judgments.empty and data.assignments.empty
    assert data.dimensions == list(data.judgments["dimension"].cat.categories)


def test_every_result_table_row_has_its_header_length():
    pair = {
        "model_x": "x", "model_y": "y", "n": 1, "x_wins": 1, "y_wins": 0, "ties": 0,
        "decided": 1, "x_win_rate": 1.0, "x_win_rate_ci": [0.2, 1.0],
        "x_win_rate_ties_half": 1.0, "p_value": 1.0, "ci_excludes_half": False,
        "more_decided_needed": None, "min_detectable_win_rate": None,
        "prompts": 1, "x_win_rate_cluster_se": None, "design_effect": None,
        "x_win_rate_cluster_ci": [None, None],
        "length": {"x_mean_chars": 3.0, "y_mean_chars": 4.0, "x_longer_share": 0.0,
                   "coef": None, "adjusted_x_win_rate": None, "adjusted_ci": [None, None],
                   "warning": "x's output is longer in 0 % of the judgments"},
        "noninferiority": {"margin": 0.05, "p_value": 0.55, "cluster_p_value": None,
                           "holds": False},
        "anytime_p_value": 1.0, "anytime_ci": [0.05, 1.0],
    }  # fmt: skip
    tag_row = {"model_x": "x", "model_y": "y", "n": 1, "x_wins": 1, "y_wins": 0, "ties": 0,
               "decided": 1, "x_win_rate": 1.0, "x_win_rate_ci": [0.2, 1.0], "p_value": 1.0,
               "p_holm": 1.0, "p_bh": 1.0}  # fmt: skip
    by_tag = {"field": "category", "groups": [{"tag": "math", "pairs": [tag_row]}],
              "heterogeneity": []}  # fmt: skip
    model = {"model": "x", "wins": 1, "losses": 0, "ties": 0, "n": 1, "rating": None,
             "rating_ci": [None, None], "rank": None}  # fmt: skip
    agreement = {"items": 0, "percent_agreement": None, "fleiss_kappa": None, "fleiss_items": 0,
                 "krippendorff_alpha": None, "cohen_kappa_mean": None, "cohen_pairs": 0,
                 "cohen_pairs_detail": []}  # fmt: skip
    bias = {"n": 0, "left_wins": 0, "left_share": None, "left_share_ci": [None, None],
            "p_value": None}  # fmt: skip
    reviewer = {"reviewer": "ann", "kind": "human", "excluded": False, "counted": True, "n": 1,
                "decided": 1, "left_share": 1.0, "median_seconds": 3.0, "majority_items": 0,
                "majority_agreement": None, "gold_pairs": 0, "gold_accuracy": None,
                "flags": ["too_fast", "position_bias"],
                "repeats": {"n": 2, "consistent": 0.5, "same_side": 1.0}}  # fmt: skip
    results = {
        "dimensions": {"overall": {"n_judgments": 1, "pairs": [pair], "models": [model],
                                   "agreement": agreement, "position_bias": bias,
                                   "by_tag": by_tag}},
        "reviewers": [reviewer],
    }  # fmt: skip
    for table, columns in RESULT_COLUMNS.items():
        header, rows = result_table(results, table)
        assert header == columns and len(rows) == 1 and len(rows[0]) == len(header)
    assert result_table(results, "pairs")[1][0][8:11] == [1.0, 0.2, 1.0]
    assert result_table(results, "reviewers")[1][0][-3:] == [2, 0.5, 1.0]
    header, rows = result_table(results, "reviewers")
    assert rows[0][header.index("flags")] == "too_fast position_bias"
    with pytest.raises(ValueError, match="table must be one of"):
        result_table(results, "nope")
