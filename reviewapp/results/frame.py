"""The one read of an experiment's judgments: a narrow pandas frame, one row per judgment.

Two queries give it: the submitted assignments (with their pair's models and flags), then
the judgments on the experiment's dimensions, joined to them in pandas. Reading the
assignments first means every assignment read has all its judgments (a submission writes
them in the same transaction); judgments submitted in between, with no assignment read,
are left out. Columns are categorical or fixed-width, so a million judgments take about
50 MB.

A new column is one line in ASSIGNMENT_COLUMNS (anything about the assignment or its
pair, e.g. `"submitted_at": ("submitted_at", "datetime64[us, UTC]")` or
`"prompt_id": (KeyTextTransform("prompt_id", "pair__metadata"), "category")`) or in
JUDGMENT_COLUMNS.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import islice
from operator import itemgetter

import numpy as np
import pandas as pd
from django.db import transaction
from django.db.models import DurationField, ExpressionWrapper, F

from ..models import Assignment, Dimension, Experiment, Judgment, Membership, Pair

CHOICES = pd.CategoricalDtype(list(Judgment.Choice.values))  # A, B, tie: content terms
OUTCOMES = pd.CategoricalDtype(["X", "Y", "tie"])  # the same choice oriented X vs Y
STRENGTHS = pd.CategoricalDtype(list(Judgment.Strength.values))
KINDS = pd.CategoricalDtype(list(Membership.Kind.values))

SECONDS_ON_PAIR = ExpressionWrapper(F("submitted_at") - F("shown_at"), output_field=DurationField())


def _seconds(column: list) -> np.ndarray:
    return pd.to_timedelta(column).total_seconds().to_numpy()


# Frame column: (ORM path or expression, dtype or converter), read once per assignment.
ASSIGNMENT_COLUMNS = {
    "assignment": ("id", "int64"),
    "pair": ("pair_id", "int64"),
    "reviewer": ("reviewer_id", "int64"),
    "left_is_a": ("left_is_a", "boolean"),  # the side shown; <NA>: unknown (imported)
    "seconds": (SECONDS_ON_PAIR, _seconds),
    "model_a": ("pair__model_a", "category"),
    "model_b": ("pair__model_b", "category"),
    "is_gold": ("pair__is_gold", "bool"),
    "pair_excluded": ("pair__excluded", "bool"),
}
# Frame column: (ORM path, dtype or converter), read once per judgment.
JUDGMENT_COLUMNS = {
    "assignment": ("assignment_id", "int64"),
    "dimension_id": ("dimension_id", "int64"),
    "choice": ("choice", CHOICES),
    "strength": ("strength", STRENGTHS),
}
# Judgments are read this many at a time (a server-side cursor on PostgreSQL), so the
# Python tuples of one chunk, not of all judgments, are alive at once.
CHUNK = 100_000


@dataclass
class ResultsData:
    """What the figures are computed from.

    `judgments`: one row per judgment of a submitted assignment: the ASSIGNMENT_COLUMNS
    and JUDGMENT_COLUMNS, plus `dimension` (its name; categories in rubric order),
    `model_x` / `model_y` / `x_is_a` / `outcome` (the comparison oriented X vs Y, see
    `orient`), `chose_left` (<NA>: a tie or an unknown side),
    `kind` and `reviewer_excluded` (the reviewer's membership; none: a counted human) and
    `gold_answer` (the expected choice on gold pairs, else missing).
    `assignments`: one row per submitted assignment (ASSIGNMENT_COLUMNS), judged or not.
    `memberships`: {user id: (kind, excluded)}."""

    experiment: Experiment
    dimensions: list[str]
    judgments: pd.DataFrame
    assignments: pd.DataFrame
    memberships: dict[int, tuple[str, bool]]


def orient(model_a: str, model_b: str, baseline: str) -> tuple[str, str]:
    """X vs Y: Y is the baseline when it is one of the two, else X < Y alphabetically
    (Python's code-point order, never the database collation)."""
    if baseline and baseline in (model_a, model_b):
        other = model_b if model_a == baseline else model_a
        return other, baseline
    return (model_a, model_b) if model_a < model_b else (model_b, model_a)


def _column(values: list, dtype) -> pd.Series | pd.Categorical | np.ndarray:
    """One column of a chunk, converted without pandas guessing types row by row."""
    if callable(dtype):
        return dtype(values)
    if isinstance(dtype, pd.CategoricalDtype):
        codes = {value: code for code, value in enumerate(dtype.categories)}
        codes[None] = -1
        return pd.Categorical.from_codes(
            np.fromiter(map(codes.__getitem__, values), np.int8, len(values)), dtype=dtype
        )
    if dtype in ("int64", "bool"):
        return np.fromiter(values, dtype, len(values))
    return pd.array(values, dtype=dtype)


def _to_frame(rows: list[tuple], columns: dict) -> pd.DataFrame:
    return pd.DataFrame(
        {
            name: _column(list(map(itemgetter(i), rows)), dtype)
            for i, (name, (_, dtype)) in enumerate(columns.items())
        }
    )


def _read(queryset, columns: dict, chunk: int | None = None) -> pd.DataFrame:
    rows = queryset.order_by().values_list(*(path for path, _ in columns.values()))
    if chunk is None:
        return _to_frame(list(rows), columns)
    iterator = rows.iterator(chunk_size=chunk)
    parts = [_to_frame(part, columns) for part in iter(lambda: list(islice(iterator, chunk)), [])]
    return pd.concat(parts, ignore_index=True) if parts else _to_frame([], columns)


def _orient_models(assignments: pd.DataFrame, baseline: str) -> pd.DataFrame:
    """model_x, model_y and x_is_a of each assignment's pair (see `orient`)."""
    combos = assignments[["model_a", "model_b"]].drop_duplicates()
    oriented = [orient(a, b, baseline) for a, b in combos.itertuples(index=False)]
    models = sorted({m for pair in oriented for m in pair})
    combos = combos.assign(
        model_x=pd.Categorical([x for x, _ in oriented], categories=models),
        model_y=pd.Categorical([y for _, y in oriented], categories=models),
        x_is_a=np.array(
            [x == a for (x, _), a in zip(oriented, combos["model_a"], strict=True)], dtype=bool
        ),
    )
    return assignments.merge(combos, how="left", on=["model_a", "model_b"])


def _outcome(frame: pd.DataFrame) -> pd.Categorical:
    """Each choice oriented X vs Y: A is X's output unless model_x is model B."""
    choice = frame["choice"].cat.codes.to_numpy()
    flip = ~frame["x_is_a"].to_numpy()
    return pd.Categorical.from_codes(
        np.where((choice < 2) & flip, 1 - choice, choice), dtype=OUTCOMES
    )


def _chose_left(frame: pd.DataFrame) -> pd.arrays.BooleanArray:
    """Whether the reviewer chose the output shown on the left; <NA> for a tie or an
    unknown side."""
    chose_a = (frame["choice"] == "A").to_numpy()
    left_is_a = frame["left_is_a"].array
    unknown = left_is_a.isna() | (frame["choice"] == "tie").to_numpy()
    return pd.arrays.BooleanArray(
        chose_a == left_is_a.to_numpy(dtype=bool, na_value=False), unknown
    )


def _gold_answers(frame: pd.DataFrame, experiment: Experiment) -> pd.Categorical:
    """The expected choice of each judgment on a gold pair, else missing (1 query when
    there are gold pairs)."""
    rows = np.flatnonzero(frame["is_gold"].to_numpy())
    expected_by_pair = {}
    if len(rows):
        expected_by_pair = dict(
            Pair.objects.filter(experiment=experiment, is_gold=True).values_list("id", "gold")
        )
    expected = [
        (expected_by_pair.get(pair) or {}).get(dimension)
        for pair, dimension in zip(
            frame["pair"].to_numpy()[rows], frame["dimension"].to_numpy()[rows], strict=True
        )
    ]
    # Uploads store A, B or tie; anything else stays itself (and never matches a choice).
    categories = [
        *CHOICES.categories,
        *sorted({str(e) for e in expected} - {*CHOICES.categories, "None"}),
    ]
    codes = np.full(len(frame), -1, dtype=np.int16)
    index = {value: code for code, value in enumerate(categories)}
    codes[rows] = [-1 if e is None else index[str(e)] for e in expected]
    return pd.Categorical.from_codes(codes, categories=categories)


def read_results_data(experiment: Experiment) -> ResultsData:
    """The experiment's submitted judgments as one frame (5 queries, 6 with gold pairs)."""
    dimensions = list(
        Dimension.objects.filter(experiment=experiment)
        .order_by("position")
        .values_list("id", "name")
    )
    memberships = {
        user: (kind, excluded)
        for user, kind, excluded in Membership.objects.filter(experiment=experiment).values_list(
            "user_id", "kind", "excluded"
        )
    }
    submitted = Assignment.objects.filter(experiment=experiment, status=Assignment.Status.SUBMITTED)
    # One transaction: PostgreSQL's server-side cursor then needs no WITH HOLD copy.
    with transaction.atomic(savepoint=False):
        assignments = _read(submitted, ASSIGNMENT_COLUMNS)
        judgments = _read(
            Judgment.objects.filter(dimension_id__in=[pk for pk, _ in dimensions]),
            JUDGMENT_COLUMNS,
            chunk=CHUNK,
        )
    assignments = _orient_models(assignments, experiment.baseline_model)
    position = pd.Index(assignments["assignment"]).get_indexer(judgments["assignment"])
    judged = position >= 0
    frame = pd.concat(
        [
            assignments.take(position[judged]).reset_index(drop=True),
            judgments[judged].drop(columns="assignment").reset_index(drop=True),
        ],
        axis=1,
    )
    ids, names = [pk for pk, _ in dimensions], [name for _, name in dimensions]
    frame["dimension"] = pd.Categorical.from_codes(
        pd.Index(ids).get_indexer(frame["dimension_id"]), categories=names
    )
    frame["outcome"] = _outcome(frame)
    frame["chose_left"] = _chose_left(frame)
    kind = {user: k for user, (k, _) in memberships.items()}
    frame["kind"] = frame["reviewer"].map(kind).fillna(Membership.Kind.HUMAN).astype(KINDS)
    excluded = {user: e for user, (_, e) in memberships.items()}
    frame["reviewer_excluded"] = frame["reviewer"].map(excluded).fillna(False).astype(bool)
    frame["gold_answer"] = _gold_answers(frame, experiment)
    return ResultsData(experiment, names, frame, assignments, memberships)
