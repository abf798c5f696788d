"""The one read of an experiment's judgments: a narrow pandas frame, one row per judgment.

Three plain ORM reads give it, joined in pandas on ids: the submitted assignments, the
pairs they are on, then the judgments on the experiment's dimensions (in chunks). Reading
the assignments first means every assignment read has all its judgments (a submission
writes them in the same transaction); judgments submitted in between, whose assignment
was not read, are left out. Columns are categorical or fixed-width (a million judgments
take about 60 MB), and what is the same for every judgment of a pair or an assignment is
read once per pair or assignment.

A new column is one line in PAIR_COLUMNS, ASSIGNMENT_COLUMNS or JUDGMENT_COLUMNS, e.g.
`"length_a": (Length("output_a"), "int32")`. A metadata field asked for by name (results by
tag) is one more pair column, read only when asked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice
from operator import itemgetter

import numpy as np
import pandas as pd
from django.db import transaction
from django.db.models import (
    Case,
    DateTimeField,
    DurationField,
    ExpressionWrapper,
    F,
    TextField,
    Value,
    When,
)  # fmt: skip
from django.db.models.fields.json import KeyTextTransform, KeyTransform
from django.db.models.functions import MD5, Concat, Length
from django.db.models.lookups import IsNull

from ..models import Assignment, Dimension, Experiment, Judgment, Membership, Pair

CHOICES = pd.CategoricalDtype(list(Judgment.Choice.values))  # A, B, tie: content terms
OUTCOMES = pd.CategoricalDtype(["X", "Y", "tie"])  # the same choice oriented X vs Y
KINDS = pd.CategoricalDtype(list(Membership.Kind.values))

_MICROSECOND = timedelta(microseconds=1)
SECONDS_ON_PAIR = ExpressionWrapper(F("submitted_at") - F("shown_at"), output_field=DurationField())
# The cluster of a pair's judgments: its prompt_id when the upload gave one (long format,
# or a prompt_id column in wide format), else its exact prompt text. The text is compared
# by its MD5 (computed by the database, only for pairs without an id) so that a million
# judgments do not bring every prompt's text into memory.
PROMPT_ID = KeyTextTransform("prompt_id", "metadata")
PROMPT_CLUSTER = Case(
    When(IsNull(PROMPT_ID, False), then=Concat(Value("id:"), PROMPT_ID, output_field=TextField())),
    default=Concat(Value("text:"), MD5("prompt")),
    output_field=TextField(),
)
# When it was submitted, as microseconds since 2000: read as a duration, which the
# database driver loads in C, where Django's time-zone-aware timestamp loader is Python
# (a second per 300,000 timestamps).
SUBMITTED_SINCE_2000 = ExpressionWrapper(
    F("submitted_at") - Value(datetime(2000, 1, 1, tzinfo=UTC), output_field=DateTimeField()),
    output_field=DurationField(),
)


def _microseconds(durations: list) -> np.ndarray:
    return np.fromiter((d // _MICROSECOND for d in durations), np.int64, len(durations))


def _seconds(durations: list) -> np.ndarray:
    return np.fromiter(
        (np.nan if d is None else d.total_seconds() for d in durations), float, len(durations)
    )


def tag_text(value) -> str:
    """A metadata value as the tag it gives: a string as it is, a missing or null value as
    "" (no tag), anything else as its JSON text (7, true, ["a"])."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _sorted_categories(values: list) -> pd.Categorical:
    """Categories in sorted order, not in the order the rows came: the cluster bootstrap
    draws prompts by their codes, so its intervals must not depend on the order in which
    the database returned the pairs."""
    return _categories(values, sort=True)


def _tags(values: list) -> pd.Categorical:
    return _categories([tag_text(v) for v in values])


def _categories(values: list, sort: bool = False) -> pd.Categorical:
    codes, categories = pd.factorize(np.array(values, dtype=object), sort=sort)
    return pd.Categorical.from_codes(codes, categories=categories)


# Frame column: (ORM path or expression, dtype or converter). Read once per pair...
PAIR_COLUMNS = {
    "pair": ("id", "int64"),
    "model_a": ("model_a", "category"),
    "model_b": ("model_b", "category"),
    "is_gold": ("is_gold", "bool"),
    "pair_excluded": ("excluded", "bool"),
    "external_id": ("external_id", "category"),
    "cluster": (PROMPT_CLUSTER, _sorted_categories),
    "length_a": (Length("output_a"), "int32"),
    "length_b": (Length("output_b"), "int32"),
}
# ... once per submitted assignment ...
ASSIGNMENT_COLUMNS = {
    "assignment": ("id", "int64"),
    "pair": ("pair_id", "int64"),
    "reviewer": ("reviewer_id", "int64"),
    "left_is_a": ("left_is_a", "boolean"),  # the side shown; <NA>: unknown (imported)
    "seconds": (SECONDS_ON_PAIR, _seconds),
    "submitted_us": (SUBMITTED_SINCE_2000, _microseconds),
    # A swapped repeat (the reviewer's second answer): counted only in results/repeats.py.
    "repeat": ("repeat", "bool"),
    # Was output A / B acceptable; <NA>: not asked (results/acceptance.py).
    "a_acceptable": ("a_acceptable", "boolean"),
    "b_acceptable": ("b_acceptable", "boolean"),
}
# ... and once per judgment.
JUDGMENT_COLUMNS = {
    "assignment": ("assignment_id", "int64"),
    "dimension_id": ("dimension_id", "int64"),
    "choice": ("choice", CHOICES),
}
# Judgments are read this many at a time (a server-side cursor on PostgreSQL), so the
# Python tuples of one chunk, not of all judgments, are alive at once.
CHUNK = 100_000


@dataclass
class ResultsData:
    """What the figures are computed from.

    `judgments`: one row per judgment of a submitted assignment: the PAIR_COLUMNS,
    ASSIGNMENT_COLUMNS and JUDGMENT_COLUMNS, plus `dimension` (its name; categories in
    rubric order), `model_x` / `model_y` / `x_is_a` / `outcome` (the comparison oriented
    X vs Y, see `orient`), `length_x` / `length_y` (X's and Y's output lengths in
    characters; the PAIR_COLUMNS' `cluster` and the ASSIGNMENT_COLUMNS' `submitted_us`
    come with them), `chose_left` (<NA>: a tie or an unknown side), `kind` and
    `reviewer_excluded` (the reviewer's membership; none: a counted human) and
    `gold_answer` (the expected choice on gold pairs, else missing).
    `assignments`: one row per submitted assignment, judged or not (the same columns
    but the judgments').
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


_BOOLEAN_CODES = {True: 1, False: 0, None: -1}


def _column(values: list, dtype):
    """One column of a chunk as a numpy or pandas array, without pandas guessing the type
    value by value."""
    if callable(dtype):
        return dtype(values)
    if isinstance(dtype, pd.CategoricalDtype):
        codes = {value: code for code, value in enumerate(dtype.categories)}
        return pd.Categorical.from_codes(
            np.fromiter(map(codes.__getitem__, values), np.int8, len(values)), dtype=dtype
        )
    if dtype == "category":
        codes, categories = pd.factorize(np.array(values, dtype=object))
        return pd.Categorical.from_codes(codes, categories=categories)
    if dtype == "boolean":
        codes = np.fromiter(map(_BOOLEAN_CODES.__getitem__, values), np.int8, len(values))
        return pd.arrays.BooleanArray(codes == 1, codes < 0)
    return np.fromiter(values, dtype, len(values))


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


def _extend(rows: pd.DataFrame, key: str, other: pd.DataFrame) -> pd.DataFrame:
    """`rows` with the other columns of `other`'s row whose `key` matches; rows without
    one are left out."""
    at = pd.Index(other[key]).get_indexer(rows[key])
    found = at >= 0
    return pd.concat(
        [
            rows[found].reset_index(drop=True),
            other.drop(columns=key).take(at[found]).reset_index(drop=True),
        ],
        axis=1,
    )


def _orient_models(pairs: pd.DataFrame, baseline: str) -> pd.DataFrame:
    """model_x, model_y and x_is_a of each pair (see `orient`)."""
    combos = pairs[["model_a", "model_b"]].drop_duplicates()
    oriented = [orient(a, b, baseline) for a, b in combos.itertuples(index=False)]
    x_is_a = [x == a for (x, _), a in zip(oriented, combos["model_a"], strict=True)]
    models = sorted({m for pair in oriented for m in pair})
    combos = combos.assign(
        model_x=pd.Categorical([x for x, _ in oriented], categories=models),
        model_y=pd.Categorical([y for _, y in oriented], categories=models),
        x_is_a=np.array(x_is_a, dtype=bool),
    )
    pairs = pairs.merge(combos, how="left", on=["model_a", "model_b"])
    # Output lengths in the same orientation: X's output and Y's.
    x_is_a = pairs["x_is_a"].to_numpy()
    length_a, length_b = pairs.pop("length_a").to_numpy(), pairs.pop("length_b").to_numpy()
    pairs["length_x"] = np.where(x_is_a, length_a, length_b)
    pairs["length_y"] = np.where(x_is_a, length_b, length_a)
    return pairs


def _outcome(frame: pd.DataFrame) -> pd.Categorical:
    """Each choice oriented X vs Y: A is X's output unless model_x is model B."""
    choice = frame["choice"].cat.codes.to_numpy()
    flip = ~frame["x_is_a"].to_numpy()
    outcome = np.where((choice < 2) & flip, 1 - choice, choice)
    return pd.Categorical.from_codes(outcome, dtype=OUTCOMES)


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
    other = sorted({str(e) for e in expected if e is not None} - set(CHOICES.categories))
    categories = [*CHOICES.categories, *other]
    index = {value: code for code, value in enumerate(categories)}
    codes = np.full(len(frame), -1, dtype=np.int16)
    codes[rows] = [-1 if e is None else index[str(e)] for e in expected]
    return pd.Categorical.from_codes(codes, categories=categories)


def count_outcomes(judgments: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """How many of `judgments` chose X, Y, tie (columns X, Y, tie) per group of `by`
    (groups without judgments left out; in no particular order)."""
    codes = judgments["outcome"].cat.codes.to_numpy()
    counts = pd.DataFrame(
        {
            **{column: judgments[column].array for column in by},
            **{name: codes == i for i, name in enumerate(OUTCOMES.categories)},
        }
    )
    return counts.groupby(by, observed=True, sort=False).sum()


def _memberships(experiment: Experiment) -> dict[int, tuple[str, bool]]:
    return {
        user: (kind, excluded)
        for user, kind, excluded in Membership.objects.filter(experiment=experiment).values_list(
            "user_id", "kind", "excluded"
        )
    }


def read_results_data(experiment: Experiment, tag_field: str = "") -> ResultsData:
    """The experiment's submitted judgments as one frame (6 queries, 7 with gold pairs).
    With `tag_field`, the frame has a `tag` column: that metadata field of each pair, as
    `tag_text` gives it."""
    dimensions = list(
        Dimension.objects.filter(experiment=experiment)
        .order_by("position")
        .values_list("id", "name")
    )
    memberships = _memberships(experiment)
    submitted = Assignment.objects.filter(experiment=experiment, status=Assignment.Status.SUBMITTED)
    # One transaction: PostgreSQL's server-side cursor then needs no WITH HOLD copy.
    with transaction.atomic(savepoint=False):
        assignments = _read(submitted, ASSIGNMENT_COLUMNS)
        pair_columns = PAIR_COLUMNS
        if tag_field:
            pair_columns = {**PAIR_COLUMNS, "tag": (KeyTransform(tag_field, "metadata"), _tags)}
        pairs = _read(Pair.objects.filter(pk__in=submitted.values("pair_id")), pair_columns)
        judgments = _read(
            Judgment.objects.filter(dimension_id__in=[pk for pk, _ in dimensions]),
            JUDGMENT_COLUMNS,
            chunk=CHUNK,
        )
    assignments = _extend(assignments, "pair", _orient_models(pairs, experiment.baseline_model))
    # Each reviewer's membership; the last entry (index -1) stands for a reviewer without
    # one (removed from the experiment): a counted human.
    member = pd.Index(list(memberships), dtype="int64").get_indexer(assignments["reviewer"])
    kinds = [k for k, _ in memberships.values()] + [Membership.Kind.HUMAN]
    excluded = [e for _, e in memberships.values()] + [False]
    assignments["kind"] = pd.Categorical(np.array(kinds, dtype=object)[member], dtype=KINDS)
    assignments["reviewer_excluded"] = np.array(excluded, dtype=bool)[member]

    frame = _extend(judgments, "assignment", assignments)
    ids, names = [pk for pk, _ in dimensions], [name for _, name in dimensions]
    frame["dimension"] = pd.Categorical.from_codes(
        pd.Index(ids).get_indexer(frame.pop("dimension_id")), categories=names
    )
    frame["outcome"] = _outcome(frame)
    frame["chose_left"] = _chose_left(frame)
    frame["gold_answer"] = _gold_answers(frame, experiment)
    return ResultsData(experiment, names, frame, assignments, memberships)
