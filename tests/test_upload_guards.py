"""Row width guards (issue 17): a CSV record or JSON line is refused at MAX_COLUMNS columns
or MAX_JSON_VALUES values before it is built in memory, and counted as csv/json would."""

import gzip
import io
import tracemalloc

import pytest

from reviewapp.upload_files import open_records
from reviewapp.upload_guards import MAX_COLUMNS, MAX_JSON_VALUES
from reviewapp.upload_parser import RowErrors, UploadError

HEADER = "pair_id,prompt,model_a,output_a,model_b,output_b\n"


def read_all(data: bytes, name: str = "f.csv") -> list:
    errors = RowErrors()
    with open_records(io.BytesIO(data), errors, name=name) as records:
        rows = list(records.rows)
    errors.fail_if_any()
    return rows


def refusal(data: bytes, name: str = "f.csv") -> str:
    with pytest.raises(UploadError) as refused:
        read_all(data, name)
    return str(refused.value)


def test_commas_inside_a_quoted_output_are_text_not_columns():
    output = '"' + "a, " * 50_000 + 'and a ""quote"", and\nmore, lines,\n"'
    rows = read_all(f"{HEADER}1,Hi,m1,{output},m2,y\n".encode())
    assert rows[0][1]["output_a"].count(",") == 50_003


def test_a_stray_quote_does_not_hide_columns():
    # csv keeps a quote inside an unquoted field as text: the commas after it are columns.
    row = '1,Hi,m1,x"y' + ",z" * (MAX_COLUMNS + 5)
    assert f"line 2: the row has more than {MAX_COLUMNS:,} columns" in refusal(
        f"{HEADER}{row}\n".encode()
    )


def test_columns_over_several_lines_of_one_record_count_together():
    half = ",z" * (MAX_COLUMNS // 2 + 10)
    row = f'1,Hi,m1,"x\ny"{half},"a\nb"{half}'
    assert f"line 2: the row has more than {MAX_COLUMNS:,} columns" in refusal(
        f"{HEADER}{row}\n".encode()
    )


def test_the_header_at_the_limit_is_read_and_past_it_refused():
    names = [f"c{i}" for i in range(MAX_COLUMNS)]
    rows = read_all((",".join(names) + "\n" + ",".join("1" * MAX_COLUMNS) + "\n").encode())
    assert len(rows[0][1]) == MAX_COLUMNS
    wider = ",".join([*names, "one_more"]) + "\n"
    assert f"line 1: the header has more than {MAX_COLUMNS:,} columns" in refusal(wider.encode())


def test_a_json_line_of_too_many_values_is_refused_and_one_long_string_is_not():
    numbers = ",".join("0" for _ in range(MAX_JSON_VALUES))
    pair = '"prompt": "p", "model_a": "a", "output_a": "x", "model_b": "b"'
    line = f'{{{pair}, "output_b": "y", "scores": [{numbers}]}}\n'
    message = refusal(line.encode(), "f.jsonl")
    assert f"line 1: holds more than {MAX_JSON_VALUES:,} JSON values" in message
    commas = "," * (MAX_JSON_VALUES * 2)
    rows = read_all(f'{{{pair}, "output_b": "{commas}"}}\n'.encode(), "f.jsonl")
    assert len(rows[0][1]["output_b"]) == MAX_JSON_VALUES * 2


def test_a_json_object_with_too_many_keys_is_refused():
    keys = ", ".join(f'"k{i}": 1' for i in range(MAX_COLUMNS + 1))
    assert f"has {MAX_COLUMNS + 1:,} keys; the limit is {MAX_COLUMNS:,}" in refusal(
        f"{{{keys}}}\n".encode(), "f.jsonl"
    )


def test_the_column_bomb_is_refused_in_a_few_megabytes():
    """Issue 17's 13 MB gzip of 6,000,000 columns peaked at 1.3 GB: a million of them
    (one 7 MB line, 1.5 MB gzipped) now stays within three times its line."""
    line = ",".join(f"c{i}" for i in range(1_000_000)) + "\n"
    bomb = gzip.compress((line + line).encode())
    tracemalloc.start()
    try:
        message = refusal(bomb, "bomb.csv.gz")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "line 1: the header has more than" in message
    assert peak < 3 * len(line) + 4 * 1024 * 1024, peak
