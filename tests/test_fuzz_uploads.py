"""Hypothesis throws generated files at the upload parser: whatever the bytes, preview_upload
returns a result or raises UploadError (the documented refusal), nothing else.

Examples are kept small and few (about 10 s in all); the hostile classes that need size
(10 MB cells, gzip bombs, a million columns) are in tests/test_hostile_uploads.py.
"""

import csv
import gzip
import io
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reviewapp.uploads import ImportResult, UploadError, preview_upload
from tests.conftest import make_experiment, make_user

pytestmark = pytest.mark.django_db

FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
COLUMNS = [
    "pair_id", "prompt", "model_a", "output_a", "model_b", "output_b", "prompt_id", "model",
    "output", "gold_winner", "gold_overall", "gold_nope", "", " prompt ", "meta",
]  # fmt: skip
# Characters that have broken parsers: quotes, separators, every kind of line end, NUL,
# BOM, bidi overrides, the line and paragraph separators, astral characters.
WEIRD = st.sampled_from(
    list('",;\t\r\n\x00\ufeff\u202e\u2028\u2029\x85\x1f\\{}[]:') + ["🐈", "e\u0301", "\U0010ffff"]
)
CELL = st.one_of(
    st.text(max_size=30),
    st.lists(st.one_of(WEIRD, st.characters()), max_size=30).map("".join),
    st.sampled_from(["m1", "m2", "tie", "=1+1", "", " ", "1e999", "NaN"]),
)
JSON_SCALAR = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), CELL)
JSON_VALUE = st.recursive(
    JSON_SCALAR,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(CELL, children, max_size=4),
    max_leaves=20,
)


@pytest.fixture
def experiment(db):
    return make_experiment(make_user("olivia", owner=True), slug="fuzz", baseline_model="m1")


def check(experiment, data: bytes, name: str, pairing: str = "all") -> None:
    try:
        result = preview_upload(experiment, io.BytesIO(data), pairing, name=name)
    except UploadError as error:
        assert error.errors or error.total_errors == 0
        assert str(error).startswith("The file was not imported")
        return
    assert isinstance(result, ImportResult)
    assert result.pairs_created + result.pairs_unchanged <= max(result.rows_read, 0) ** 2
    assert not experiment.pairs.exists()


@FUZZ
@given(
    data=st.binary(max_size=3_000),
    compress=st.booleans(),
    name=st.sampled_from(["f.csv", "f.jsonl", "f"]),
)
def test_random_bytes(experiment, data, compress, name):
    check(experiment, gzip.compress(data) if compress else data, name)


@FUZZ
@given(
    header=st.lists(st.sampled_from(COLUMNS) | CELL, min_size=1, max_size=8),
    rows=st.lists(st.lists(CELL, max_size=9), max_size=8),
    quoted=st.booleans(),
    line_end=st.sampled_from(["\n", "\r\n", "\r"]),
    bom=st.booleans(),
    pairing=st.sampled_from(["all", "baseline"]),
)
def test_csv_rows_with_weird_cells(experiment, header, rows, quoted, line_end, bom, pairing):
    if quoted:  # well-formed CSV with weird content
        out = io.StringIO()
        csv.writer(out, lineterminator=line_end).writerows([header, *rows])
        text = out.getvalue()
    else:  # naively joined: unbalanced quotes, ragged rows
        text = line_end.join(",".join(row) for row in [header, *rows])
    data = ("\ufeff" if bom else "") + text
    check(experiment, data.encode("utf-8", "surrogatepass"), "f.csv", pairing)


WIDE_ROW = st.fixed_dictionaries(
    {"prompt": JSON_VALUE, "model_a": JSON_VALUE, "output_a": JSON_VALUE},
    optional={
        "model_b": JSON_VALUE, "output_b": JSON_VALUE, "pair_id": JSON_VALUE,
        "gold_winner": JSON_VALUE, "meta": JSON_VALUE,
    },
)  # fmt: skip
GOOD_ROW = st.fixed_dictionaries(
    {
        "prompt": st.text(min_size=1, max_size=20),
        "model_a": st.sampled_from(["m1", "m2", "m3"]),
        "output_a": CELL,
        "model_b": st.sampled_from(["m1", "m2", "m3"]),
        "output_b": CELL,
    },
    optional={"pair_id": st.integers() | CELL, "meta": JSON_VALUE, "gold_winner": CELL},
)


@FUZZ
@given(
    lines=st.lists(
        st.one_of(
            WIDE_ROW.map(json.dumps),
            GOOD_ROW.map(lambda r: json.dumps(r, ensure_ascii=False)),
            JSON_VALUE.map(json.dumps),
            st.integers(0, 3_000).map(lambda n: '{"prompt": ' + "[" * n + "]" * n + "}"),
            st.integers(0, 3_000).map(lambda n: '{"m": ' + '{"a":' * n + "1" + "}" * n + "}"),
            st.sampled_from(['{"a": 1e999}', '{"a": -Infinity}', '{"a": "\\ud800"}', "{", ""]),
            CELL,
        ),
        max_size=6,
    ),
    line_end=st.sampled_from(["\n", "\r\n"]),
)
def test_jsonl_lines_of_random_values(experiment, lines, line_end):
    text = line_end.join(lines)
    check(experiment, text.encode("utf-8", "surrogatepass"), "f.jsonl")
