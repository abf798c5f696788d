"""Hostile upload files: each one imports correctly or is refused with a clear UploadError,
never an exception of another kind, and never a half-written experiment.

tests/test_uploads.py covers the ordinary bad files (Latin-1, a UTF-8 BOM with CRLF and
quoted newlines, a 1 MB gzip bomb, NUL in a CSV cell, NaN...). This file adds the classes
it does not: binary files, UTF-16, BOMs elsewhere, bare CR line ends, 10 MB cells, millions
of columns, gzip bombs of one endless line, gzip inside gzip, and deep JSON nesting.
"""

import gzip
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from django.urls import reverse

from reviewapp.models import Pair
from reviewapp.upload_files import MAX_JSON_DEPTH
from reviewapp.upload_guards import MAX_COLUMNS, MAX_JSON_VALUES
from reviewapp.uploads import UploadError, import_upload, preview_upload
from tests.conftest import make_experiment, make_user

HEADER = "pair_id,prompt,model_a,output_a,model_b,output_b"
ROW = {"prompt": "Hi", "model_a": "m1", "output_a": "x", "model_b": "m2", "output_b": "y"}
GOOD_CSV = f"{HEADER}\n1,Hi,m1,x,m2,y\n"


def jsonl(*rows: dict) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.fixture
def experiment(db):
    return make_experiment(make_user("olivia", owner=True), slug="hostile-uploads")


def upload(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def refused(experiment, path) -> str:
    """Imports a file that must be refused; checks nothing was written; the message."""
    with pytest.raises(UploadError) as info:
        import_upload(experiment, path)
    assert not Pair.objects.filter(experiment=experiment).exists()
    return str(info.value)


# -- binary files and wrong encodings --------------------------------------------------------

BINARY = {
    "png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)),
    "zip": b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + bytes(range(256)) * 4,
    "pdf": b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n" + bytes(range(128, 256)),
    "all-bytes": bytes(range(256)) * 64,
    "nul-bytes": b"\x00" * 10_000,
}


@pytest.mark.parametrize("kind", BINARY)
def test_refuses_binary_files_clearly(experiment, tmp_path, kind):
    message = refused(experiment, upload(tmp_path, f"{kind}.csv", BINARY[kind]))
    assert (
        ("not valid UTF-8" in message)
        or ("NUL" in message)
        or ("columns" in message)
        or ("ZIP archive" in message)
    )


def test_refuses_utf16_with_bom_naming_the_encoding(experiment, tmp_path):
    message = refused(experiment, upload(tmp_path, "u16.csv", GOOD_CSV.encode("utf-16")))
    assert "file: the file is UTF-16 text (it starts with a UTF-16 byte order mark)" in message
    assert "Save As > 'CSV UTF-8 (Comma delimited)'" in message


def test_refuses_utf16_without_bom_naming_the_encoding(experiment, tmp_path):
    message = refused(experiment, upload(tmp_path, "u16.csv", GOOD_CSV.encode("utf-16-le")))
    assert "file: the file is UTF-16 text (every other byte is 0), not UTF-8" in message


def test_refuses_windows_1252_naming_the_byte(experiment, tmp_path):
    data = (HEADER + "\n1,“smart quotes”,m1,x,m2,y\n").encode("cp1252")
    message = refused(experiment, upload(tmp_path, "cp.csv", data))
    assert "line 2: the byte at offset 51 (counting from 0) is not valid UTF-8" in message


def test_refuses_a_utf8_encoded_surrogate(experiment, tmp_path):
    data = (HEADER + "\n1,Hi,m1,").encode() + b"\xed\xa0\x80" + b",m2,y\n"
    assert "is not valid UTF-8" in refused(experiment, upload(tmp_path, "s.csv", data))


# -- BOMs, line ends, quoting ------------------------------------------------------------------


def test_jsonl_with_a_utf8_bom_imports(experiment, tmp_path):
    import_upload(experiment, upload(tmp_path, "bom.jsonl", b"\xef\xbb\xbf" + jsonl(ROW)))
    assert Pair.objects.get().prompt == "Hi"


def test_a_file_holding_only_a_bom_is_empty(experiment, tmp_path):
    message = refused(experiment, upload(tmp_path, "bom.csv", b"\xef\xbb\xbf\r\n"))
    assert "the file holds no rows" in message


def test_a_bom_inside_a_cell_is_kept_as_text(experiment, tmp_path):
    import_upload(
        experiment, upload(tmp_path, "b.csv", f"{HEADER}\n1,Hi\ufeff,m1,x,m2,y\n".encode())
    )
    assert Pair.objects.get().prompt == "Hi\ufeff"


def test_bare_cr_line_ends_import(experiment, tmp_path):
    """Old Mac line ends: the csv module reads them as lines."""
    data = GOOD_CSV.replace("\n", "\r").encode()
    import_upload(experiment, upload(tmp_path, "cr.csv", data))
    assert Pair.objects.get().model_b == "m2"


def test_crlf_jsonl_imports(experiment, tmp_path):
    data = jsonl(ROW, {**ROW, "prompt": "Ho"}).replace(b"\n", b"\r\n")
    result = import_upload(experiment, upload(tmp_path, "crlf.jsonl", data))
    assert result.pairs_created == 2


def test_quoted_crlf_and_quotes_inside_cells_survive(experiment, tmp_path):
    cell = 'line one\r\nline "two"\n\nline, three'
    quoted = '"' + cell.replace('"', '""') + '"'
    data = f"{HEADER}\r\n1,Hi,m1,{quoted},m2,y\r\n".encode()
    import_upload(experiment, upload(tmp_path, "q.csv", data))
    assert Pair.objects.get().output_a == cell


def test_text_after_a_closing_quote_is_refused(experiment, tmp_path):
    data = f'{HEADER}\n1,"Hi"there,m1,x,m2,y\n'.encode()
    message = refused(experiment, upload(tmp_path, "q.csv", data))
    assert "line 2: cannot be read as CSV" in message


# -- size: huge cells, millions of columns, gzip bombs -------------------------------------------


def test_a_10_mb_csv_cell_imports(experiment, tmp_path):
    big = "x" * 10_000_000
    import_upload(
        experiment, upload(tmp_path, "big.csv", f'{HEADER}\n1,Hi,m1,"{big}",m2,y\n'.encode())
    )
    assert len(Pair.objects.get().output_a) == 10_000_000


def test_a_10_mb_json_string_imports(experiment, tmp_path):
    import_upload(
        experiment, upload(tmp_path, "big.jsonl", jsonl({**ROW, "output_b": "é" * 5_000_000}))
    )
    assert len(Pair.objects.get().output_b) == 5_000_000


def test_a_million_columns_are_refused_at_the_column_limit(experiment, tmp_path):
    data = (",".join(f"c{i}" for i in range(1_000_000)) + "\n1\n").encode()
    message = refused(experiment, upload(tmp_path, "wide.csv", data))
    assert f"line 1: the header has more than {MAX_COLUMNS:,} columns, the limit" in message


def test_empty_columns_beside_the_needed_ones_up_to_the_limit(experiment, tmp_path):
    """Unnamed columns (a spreadsheet's trailing commas) are dropped."""
    commas = "," * (MAX_COLUMNS - 7)
    data = f"{HEADER}{commas}\n1,Hi,m1,x,m2,y{commas}\n".encode()
    import_upload(experiment, upload(tmp_path, "commas.csv", data))
    assert Pair.objects.get().metadata == {}


def test_a_million_columns_in_one_row_only_is_refused_at_the_limit(experiment, tmp_path):
    data = f"{HEADER}\n1,Hi,m1,x,m2,y{',' * 1_000_000}\n".encode()
    message = refused(experiment, upload(tmp_path, "ragged.csv", data))
    assert f"line 2: the row has more than {MAX_COLUMNS:,} columns, the limit" in message


@override_settings(REVIEWAPP_MAX_UPLOAD_BYTES=1_000_000)
def test_a_gzip_bomb_of_one_endless_json_line_is_refused(experiment, tmp_path):
    bomb = gzip.compress(b'{"prompt": "' + b"A" * 20_000_000)
    assert len(bomb) < 100_000
    message = refused(experiment, upload(tmp_path, "bomb.jsonl.gz", bomb))
    assert "the decompressed file is over the upload limit" in message


@override_settings(REVIEWAPP_MAX_UPLOAD_BYTES=1_000_000)
def test_a_gzip_bomb_of_blank_lines_is_refused(experiment, tmp_path):
    bomb = gzip.compress(b"\n" * 50_000_000)
    message = refused(experiment, upload(tmp_path, "blank.csv.gz", bomb))
    assert "the decompressed file is over the upload limit" in message


def test_gzip_inside_gzip_is_refused(experiment, tmp_path):
    data = gzip.compress(gzip.compress(GOOD_CSV.encode()))
    assert "not valid UTF-8" in refused(experiment, upload(tmp_path, "twice.csv.gz", data))


def test_gzip_with_trailing_garbage_is_refused(experiment, tmp_path):
    data = gzip.compress(GOOD_CSV.encode()) + b"garbage"
    assert "the gzip data is damaged" in refused(experiment, upload(tmp_path, "g.csv.gz", data))


def test_a_gzip_header_alone_is_refused(experiment, tmp_path):
    assert "the gzip data is damaged" in refused(experiment, upload(tmp_path, "g.gz", b"\x1f\x8b"))


# -- JSON: nesting, numbers, keys ---------------------------------------------------------------


def test_json_nested_ten_thousand_levels_is_a_row_error(experiment, tmp_path):
    line = json.dumps(ROW)[:-1] + ', "meta": ' + nested(10_000) + "}\n"
    message = refused(experiment, upload(tmp_path, "deep.jsonl", line.encode()))
    assert f"line 1: is not valid JSON here: nested deeper than {MAX_JSON_DEPTH} levels" in message


def test_json_nested_a_hundred_thousand_levels_is_refused_by_its_count_of_values(
    experiment, tmp_path
):
    line = json.dumps(ROW)[:-1] + ', "meta": ' + nested(100_000) + "}\n"
    message = refused(experiment, upload(tmp_path, "deep.jsonl", line.encode()))
    assert f"line 1: holds more than {MAX_JSON_VALUES:,} JSON values" in message


def test_json_nested_just_past_the_limit_is_a_row_error(experiment, tmp_path):
    line = json.dumps(ROW)[:-1] + ', "meta": ' + nested(MAX_JSON_DEPTH) + "}\n"
    message = refused(experiment, upload(tmp_path, "deep.jsonl", line.encode()))
    assert f"line 1: is nested deeper than {MAX_JSON_DEPTH} levels" in message


def test_json_nested_within_the_limit_is_stored(experiment, tmp_path):
    meta = json.loads(nested(MAX_JSON_DEPTH - 2))
    import_upload(experiment, upload(tmp_path, "ok.jsonl", jsonl({**ROW, "meta": meta})))
    assert Pair.objects.get().metadata == {"meta": meta}


def test_json_deep_object_nesting_is_refused(experiment, tmp_path):
    line = json.dumps(ROW)[:-1] + ', "m": ' + '{"a":' * 5_000 + "1" + "}" * 5_000 + "}\n"
    message = refused(experiment, upload(tmp_path, "deep.jsonl", line.encode()))
    assert "nested deeper than" in message


def test_json_number_too_large_for_a_float_is_refused(experiment, tmp_path):
    line = json.dumps(ROW)[:-1] + ', "score": 1e999}\n'
    message = refused(experiment, upload(tmp_path, "inf.jsonl", line.encode()))
    assert "line 1: is not valid JSON: 1e999 is too large a number" in message


def test_json_integer_with_thousands_of_digits_is_refused(experiment, tmp_path):
    line = json.dumps(ROW)[:-1] + ', "n": ' + "9" * 5_000 + "}\n"
    message = refused(experiment, upload(tmp_path, "n.jsonl", line.encode()))
    assert "line 1: is not valid JSON" in message


def test_json_nul_in_a_column_name_is_refused(experiment, tmp_path):
    line = json.dumps({**ROW, "k\x00": 1}) + "\n"
    assert "\\u0000" in line
    message = refused(experiment, upload(tmp_path, "k.jsonl", line.encode()))
    assert "line 1, column k\x00: contains a NUL character" in message


def test_json_lone_surrogate_in_metadata_is_refused(experiment, tmp_path):
    line = json.dumps(ROW)[:-1] + ', "m": {"\\udc00": ["x"]}}\n'
    message = refused(experiment, upload(tmp_path, "s.jsonl", line.encode()))
    assert "line 1, column m: contains an unpaired surrogate escape" in message


def test_json_duplicate_keys_keep_the_last_value(experiment, tmp_path):
    line = '{"prompt": "first", "prompt": "last", ' + json.dumps(ROW)[1:].replace(
        '"prompt": "Hi", ', ""
    )
    import_upload(experiment, upload(tmp_path, "dup.jsonl", (line + "\n").encode()))
    assert Pair.objects.get().prompt == "last"


def test_json_wrong_types_in_every_column_are_row_errors(experiment, tmp_path):
    rows = [
        {**ROW, "prompt": ["a"]},
        {**ROW, "model_a": {"x": 1}},
        {**ROW, "output_b": None},  # (true or 3 is read as text: test_upload_friendliness)
        {**ROW, "pair_id": None},
    ]
    message = refused(experiment, upload(tmp_path, "types.jsonl", jsonl(*rows)))
    assert "4 problems" in message
    for expected in [
        "line 1, column prompt: expected a string, got an array",
        "line 2, column model_a: expected a string, got an object",
        "line 3, column output_b: expected a string, got a null",
        "line 4, column pair_id: is set here but not on the first row",
    ]:
        assert expected in message


# -- through the web page: a clear error, never a 500 -----------------------------------------


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("image.png", BINARY["png"]),
        ("deep.jsonl", (json.dumps(ROW)[:-1] + ', "m": ' + nested(50_000) + "}\n").encode()),
        ("inf.jsonl", (json.dumps(ROW)[:-1] + ', "m": -1e999}\n').encode()),
        ("u16.csv", GOOD_CSV.encode("utf-16-le")),
        ("g.csv.gz", b"\x1f\x8b\x08\x00garbage"),
        ("empty.csv", b""),
    ],
)
def test_upload_page_answers_a_hostile_file_with_its_errors(client, experiment, name, data):
    client.force_login(experiment.owner)
    response = client.post(
        reverse("owner-upload", args=[experiment.slug]),
        {"file": SimpleUploadedFile(name, data), "pairing": "all"},
        follow=True,  # to the check job's page (tests run jobs where they are queued)
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "The file was not imported" in body or "The submitted file is empty" in body
    assert not Pair.objects.exists()


def test_preview_of_a_hostile_file_is_a_preview_not_an_error(experiment, tmp_path):
    from pathlib import Path

    hostile = Path(__file__).parent / "resources" / "hostile" / "hostile_pairs.jsonl"
    result = preview_upload(experiment, hostile)
    assert result.pairs_created == 11 and not Pair.objects.exists()
