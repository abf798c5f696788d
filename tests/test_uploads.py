"""Upload stage: parsing, validation, the batched import, the command and the web pages."""

import csv
import dataclasses
import gzip
import io
import json
import os
import time
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DataError, connection, transaction
from django.test import override_settings
from django.urls import reverse

from reviewapp import upload_files, uploads
from reviewapp.access import grant_owner_role
from reviewapp.models import (
    DEFAULT_DIMENSIONS,
    Dimension,
    Experiment,
    Pair,
    UploadJob,
    pair_shuffle_key,
)
from reviewapp.upload_parser import PairRow, RowErrors, parse_pairs
from reviewapp.upload_scratch import UploadScratch
from reviewapp.uploads import UploadError, import_upload, preview_upload

RESOURCES = Path(__file__).parent / "resources" / "uploads"
PANDALM = RESOURCES / "pandalm_sample.jsonl"
WIDE_HEADER = "pair_id,prompt,model_a,output_a,model_b,output_b\n"


def make_user(username, *, owner=False):
    user = get_user_model().objects.create_user(
        username=username
    )  # no password: fast; tests log in with force_login
    if owner:
        grant_owner_role(user)
    return user


def make_experiment(owner, *, slug="uploads", **fields):
    experiment = Experiment.objects.create(owner=owner, name="Uploads", slug=slug, **fields)
    Dimension.objects.bulk_create(
        Dimension(experiment=experiment, name=name, position=i)
        for i, name in enumerate(DEFAULT_DIMENSIONS)
    )
    return experiment


def write(tmp_path, name, content, *, compress=False) -> Path:
    data = content.encode() if isinstance(content, str) else content
    path = tmp_path / name
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def rejected(experiment, path, pairing="all") -> UploadError:
    """Imports a file that must be refused; checks nothing was written."""
    with pytest.raises(UploadError) as info:
        import_upload(experiment, path, pairing)
    assert Pair.objects.count() == 0
    return info.value


@pytest.fixture
def experiment(db):
    return make_experiment(make_user("olivia", owner=True))


# -- good files ---------------------------------------------------------------------------


def test_imports_real_pandalm_pairs_with_metadata_and_shuffle_keys(experiment):
    result = import_upload(experiment, PANDALM)

    assert (result.file_format, result.format, result.compressed) == ("jsonl", "wide", False)
    assert (result.rows_read, result.pairs_created, result.pairs_unchanged) == (20, 20, 0)
    assert result.committed
    pair = Pair.objects.get(experiment=experiment, external_id="pandalm-0000")
    assert (pair.model_a, pair.model_b) == ("bloom-7b", "llama-7b")
    assert pair.metadata["category"] == "Grammarly"
    assert pair.metadata["source_id"] == 0  # numbers in metadata stay numbers
    assert pair.shuffle_key == pair_shuffle_key(experiment.seed, "pandalm-0000")
    assert result.models["bloom-7b"] == 10
    assert result.pairings[("bloom-7b", "llama-7b")] == 3
    assert len(result.first_rows) == 10


def test_empty_output_is_imported_and_counted(experiment):
    result = import_upload(experiment, PANDALM)

    assert (result.empty_outputs_a, result.empty_outputs_b) == (2, 0)
    assert Pair.objects.get(external_id="pandalm-0018").output_a == ""
    assert "Empty outputs: 2 on side A, 0 on side B." in result.summary()


def test_reupload_of_same_file_creates_nothing_and_says_unchanged(experiment):
    import_upload(experiment, PANDALM)
    result = import_upload(experiment, PANDALM)

    assert (result.pairs_created, result.pairs_unchanged) == (0, 20)
    assert "20 pairs were already present and unchanged" in result.summary()
    assert Pair.objects.count() == 20


def test_reupload_without_pair_ids_is_idempotent(experiment, tmp_path):
    path = write(
        tmp_path,
        "no_ids.csv",
        "prompt,model_a,output_a,model_b,output_b\nHi,m1,hello,m2,hey\nBye,m1,ciao,m2,\n",
    )
    first = import_upload(experiment, path)
    second = import_upload(experiment, path)

    assert (first.pairs_created, second.pairs_created, second.pairs_unchanged) == (2, 0, 2)
    assert all(p.external_id.startswith("h-") for p in Pair.objects.all())


def test_reupload_with_changed_content_is_refused_naming_the_field(experiment, tmp_path):
    import_upload(experiment, PANDALM)
    lines = PANDALM.read_text().splitlines()
    row = json.loads(lines[4])
    row["output_b"] = "A different answer."
    lines[4] = json.dumps(row)
    changed = write(tmp_path, "changed.jsonl", "\n".join(lines) + "\n")

    with pytest.raises(UploadError) as info:
        import_upload(experiment, changed)

    assert info.value.errors[0].row == 5
    assert info.value.errors[0].column == "output_b"
    assert "line 5, column output_b: pair id 'pandalm-0004' is already" in str(info.value)
    assert Pair.objects.count() == 20
    assert Pair.objects.get(external_id="pandalm-0004").output_b != "A different answer."


def test_csv_with_bom_crlf_and_quoted_newlines(experiment):
    result = import_upload(experiment, RESOURCES / "wide_bom_crlf.csv")

    assert (result.file_format, result.pairs_created, result.empty_outputs_b) == ("csv", 2, 1)
    q1 = Pair.objects.get(external_id="q1")
    assert q1.prompt == "Write a haiku\r\nabout rain."
    assert q1.output_a == 'Soft rain on the roof,\r\n"drip", says the gutter'
    assert q1.output_b == ""
    assert q1.metadata == {"topic": "poetry"}
    assert [r.line for r in result.first_rows] == [2, 5]  # q1 spans lines 2-4


def test_gzip_jsonl_detected_by_content_not_name(experiment, tmp_path):
    path = write(tmp_path, "pairs.data", PANDALM.read_bytes(), compress=True)
    result = import_upload(experiment, path)

    assert (result.compressed, result.file_format, result.pairs_created) == (True, "jsonl", 20)


def test_gzip_csv(experiment, tmp_path):
    path = write(
        tmp_path, "pairs.csv.gz", (RESOURCES / "wide_bom_crlf.csv").read_bytes(), compress=True
    )
    result = import_upload(experiment, path)

    assert (result.compressed, result.file_format, result.pairs_created) == (True, "csv", 2)


def test_preview_writes_nothing(experiment):
    result = preview_upload(experiment, PANDALM)

    assert result.pairs_created == 20 and not result.committed
    assert result.summary().startswith("Would import 20 new pairs")
    assert Pair.objects.count() == 0


def test_reads_a_binary_file_object(experiment):
    with open(PANDALM, "rb") as handle:
        result = import_upload(experiment, handle)
        assert not handle.closed
    assert result.pairs_created == 20


def test_checks_existing_ids_with_one_query_per_batch(
    experiment, monkeypatch, django_assert_num_queries
):
    Pair.objects.create(
        experiment=experiment, external_id="other", prompt="x", model_a="a", model_b="b"
    )
    monkeypatch.setattr(uploads, "BATCH_SIZE", 5)
    with django_assert_num_queries(1 + 4):  # does the experiment have pairs? + 4 batches
        preview_upload(experiment, PANDALM)


# -- long format ----------------------------------------------------------------------------


def test_long_format_pairs_every_two_models_of_a_prompt(experiment):
    result = import_upload(experiment, RESOURCES / "long_three_models.csv", "all")

    assert (result.format, result.rows_read, result.pairs_created) == ("long", 5, 4)
    ids = set(Pair.objects.values_list("external_id", flat=True))
    assert ids == {"p1::alpha::beta", "p1::alpha::gamma", "p1::beta::gamma", "p2::alpha::beta"}
    pair = Pair.objects.get(external_id="p1::alpha::gamma")
    assert (pair.output_a, pair.output_b) == ("Four.", "4")
    assert pair.metadata == {"prompt_id": "p1", "source": "handwritten"}
    assert (result.empty_outputs_a, result.empty_outputs_b) == (1, 1)  # beta's empty output


def test_long_format_pairs_each_model_against_the_baseline(db):
    experiment = make_experiment(make_user("olivia", owner=True), baseline_model="gamma")
    path = RESOURCES / "long_three_models.csv"

    error = rejected(experiment, path, "baseline")  # p2 has no gamma output
    assert "line 5, column model: prompt_id 'p2' (lines 5, 6) has no output" in str(error)

    only_p1 = "\n".join(path.read_text().splitlines()[:4]) + "\n"
    result = import_upload(experiment, io.BytesIO(only_p1.encode()), "baseline")
    assert result.pairs_created == 2
    assert set(Pair.objects.values_list("model_a", "model_b")) == {
        ("gamma", "alpha"),
        ("gamma", "beta"),
    }
    assert set(Pair.objects.values_list("external_id", flat=True)) == {
        "p1::gamma::alpha",
        "p1::gamma::beta",
    }


def test_baseline_pairing_needs_a_baseline_model(experiment):
    error = rejected(experiment, RESOURCES / "long_three_models.csv", "baseline")
    assert "no baseline model" in str(error)


def test_long_format_refuses_a_model_twice_for_a_prompt(experiment, tmp_path):
    path = write(
        tmp_path,
        "long.csv",
        "prompt_id,prompt,model,output\np1,Hi,alpha,a\np1,Hi,beta,b\np1,Hi,alpha,c\n",
    )
    error = rejected(experiment, path)
    assert str(error.errors[0]) == (
        "line 4, column model: prompt_id 'p1' already has an output from 'alpha' on line 2"
    )


def test_long_format_refuses_a_prompt_id_with_two_texts(experiment, tmp_path):
    path = write(
        tmp_path, "long.csv", "prompt_id,prompt,model,output\n7,Hi,alpha,a\n7,Hello,beta,b\n"
    )
    error = rejected(experiment, path)
    assert str(error.errors[0]) == (
        "line 3, column prompt: prompt_id '7' has a different prompt text on line 2"
    )


# -- bad files: each is refused whole, naming line and column -----------------------------------


BAD_FILES = [
    pytest.param(
        "bad.csv",
        "prompt,model,out\nHi,m,x\n",
        "line 1: the columns fit neither format: the wide format is missing model_a, output_a, "
        "model_b, output_b; the long format is missing prompt_id, output",
        id="missing-columns",
    ),
    pytest.param(
        "bad.csv",
        "model_a,output_a,model_b,output_b\nm1,x,m2,y\n",
        "line 1: the wide format needs the column(s) prompt",
        id="missing-prompt-column",
    ),
    pytest.param(
        "bad.csv",
        WIDE_HEADER + "1,Hi,m1,x,m2,y\n2,  ,m1,x,m2,y\n",
        "line 3, column prompt: is empty; expected text",
        id="empty-prompt",
    ),
    pytest.param(
        "bad.csv",
        WIDE_HEADER + "1,Hi,m1,x,,y\n",
        "line 2, column model_b: is empty; expected a model name",
        id="empty-model",
    ),
    pytest.param(
        "bad.csv",
        WIDE_HEADER + "1,Hi,m1,x,m1,y\n",
        "line 2, column model_b: is the same model as model_a ('m1')",
        id="same-model",
    ),
    pytest.param(
        "bad.csv",
        WIDE_HEADER + "1,Hi,m1,x,m2,y\n2,Ho,m1,x,m2,y\n1,He,m1,x,m2,y\n",
        "line 4, column pair_id: pair id '1' was already used on line 2",
        id="duplicate-pair-id",
    ),
    pytest.param(
        "bad.csv",
        "prompt,model_a,output_a,model_b,output_b\nHi,m1,x,m2,y\nHi,m1,x,m2,y\n",
        "line 3: repeats line 2 (same prompt, models and outputs)",
        id="duplicate-row-without-ids",
    ),
    pytest.param(
        "bad.csv",
        WIDE_HEADER + "1,Hi,m1,x,m2\n",
        "line 2: has 5 fields but the header has 6",
        id="missing-field",
    ),
    pytest.param(
        "bad.csv",
        WIDE_HEADER + f"1,Hi,{'m' * 201},x,m2,y\n",
        "line 2, column model_a: is 201 characters long; the limit is 200",
        id="model-name-too-long",
    ),
    pytest.param(
        "bad.csv",
        WIDE_HEADER + f"{'i' * 201},Hi,m1,x,m2,y\n",
        "line 2, column pair_id: is 201 characters long; the limit is 200",
        id="pair-id-too-long",
    ),
    pytest.param(
        "bad.csv",
        (WIDE_HEADER + "1,Hi,m1,x,m2,y\n2,Caf\xe9,m1,x,m2,y\n").encode("latin-1"),
        "line 3: the byte at offset 69 (counting from 0) is not valid UTF-8",
        id="not-utf8",
    ),
    pytest.param(
        "bad.csv",
        WIDE_HEADER + '1,"Hi\n',
        "line 2: cannot be read as CSV: unexpected end of data",
        id="unclosed-quote",
    ),
    pytest.param(
        "bad.csv",
        WIDE_HEADER + "1,Hi\x00,m1,x,m2,y\n",
        "line 2, column prompt: contains a NUL character",
        id="nul-character",
    ),
    pytest.param(
        "bad.jsonl",
        '{"prompt": "Hi", "model_a": "m1", "output_a": "x", "model_b": "m2", "output_b": "y"}\n'
        '{"prompt": "Ho", "model_a": "m1", "output_a": "x", "model_b": "m2", "output_b": "y",}\n',
        "line 2: is not valid JSON: Expecting property name enclosed in double quotes "
        "(character 85)",
        id="bad-json",
    ),
    pytest.param(
        "bad.jsonl",
        '{"prompt": "Hi", "model_a": "m1", "output_a": "x", "model_b": "m2", "output_b": "y"}\n'
        '\n["Ho", "m1", "x", "m2", "y"]\n',
        "line 3: is a JSON array, expected an object {...}",
        id="json-not-object",
    ),
    pytest.param(
        "bad.jsonl",
        '{"prompt": "Hi", "model_a": "m1", "output_a": null, "model_b": "m2", "output_b": "y"}\n',
        'line 1, column output_a: expected a string, got a null (an empty output is written "")',
        id="json-null-output",
    ),
    pytest.param(
        "bad.jsonl",
        '{"prompt": "Hi", "model_a": "m1", "output_a": "x", "model_b": "m2", "output_b": "y"}\n'
        '{"prompt": "Ho", "model_a": "m1", "output_a": "x", "model_b": "m2"}\n',
        "line 2, column output_b: is missing",
        id="json-missing-key",
    ),
    pytest.param(
        "bad.jsonl",
        '{"prompt": "Hi", "model_a": 3, "output_a": "x", "model_b": "m2", "output_b": "y"}\n',
        "line 1, column model_a: expected a string, got a number",
        id="json-number-model",
    ),
    pytest.param(
        "bad.jsonl",
        '{"prompt": "Hi", "model_a": ["m1"], "output_a": "x", "model_b": "m2", "output_b": "y"}\n',
        "line 1, column model_a: expected a string, got an array",
        id="json-array-model",
    ),
    pytest.param(
        "bad.jsonl",
        '{"prompt": "Hi", "model_a": "m1", "output_a": "x", "model_b": "m2", "output_b": {}}\n',
        'line 1, column output_b: expected a string, got an object (an empty output is written "")',
        id="json-object-output",
    ),
    pytest.param(
        "bad.jsonl",
        '{"pair_id": [1], "prompt": "Hi", "model_a": "m1", "output_a": "x", "model_b": "m2", '
        '"output_b": "y"}\n',
        "line 1, column pair_id: expected a string or a number, got an array",
        id="json-array-pair-id",
    ),
    pytest.param(
        "bad.jsonl",
        '{"prompt": "Hi", "model_a": "m1", "output_a": "x", "model_b": "m2", "output_b": "y", '
        '"score": NaN}\n',
        "line 1: is not valid JSON: NaN is not a JSON value",
        id="json-nan",
    ),
    pytest.param(
        "bad.jsonl",
        '{"prompt": "Hi\\u0000", "model_a": "m1", "output_a": "x", "model_b": "m2", '
        '"output_b": "y"}\n',
        "line 1, column prompt: contains a NUL character",
        id="json-nul-escape",
    ),
    pytest.param("empty.csv", "\n\n", "file: the file holds no rows", id="empty-file"),
]


@pytest.mark.parametrize(("name", "content", "expected"), BAD_FILES)
def test_refuses_bad_file_whole(experiment, tmp_path, name, content, expected):
    path = write(tmp_path, name, content)
    error = rejected(experiment, path)
    assert expected in str(error)


def test_error_message_lists_twenty_problems_then_counts_the_rest(experiment, tmp_path):
    rows = "".join(f"{i},Hi,m1,x,m1,y\n" for i in range(25))
    error = rejected(experiment, write(tmp_path, "bad.csv", WIDE_HEADER + rows))

    assert (error.total_errors, len(error.errors), error.n_more) == (25, 20, 5)
    text = str(error)
    assert text.startswith("The file was not imported: 25 problems")
    assert "- line 21, column model_b" in text and "- line 22," not in text
    assert text.endswith("- and 5 more.")


def test_refuses_a_line_too_long_to_hold_in_memory(experiment, tmp_path, monkeypatch):
    monkeypatch.setattr(upload_files, "MAX_LINE_BYTES", 1_000)
    monkeypatch.setattr(upload_files, "CHUNK_BYTES", 256)
    path = write(tmp_path, "long.csv", WIDE_HEADER + f"1,Hi,m1,{'x' * 2_000},m2,y\n")
    error = rejected(experiment, path)
    assert "file: a line is longer than 1,000 bytes" in str(error)


def test_refuses_a_json_line_with_an_unclosed_string(experiment, tmp_path):
    good = '{"prompt": "Hi", "model_a": "m1", "output_a": "x", "model_b": "m2", "output_b": "y"}'
    error = rejected(experiment, write(tmp_path, "bad.jsonl", good + '\n{"prompt": "Ho\n'))
    assert "line 2: is not valid JSON: Invalid control character (character 15)" in str(error)


def test_an_empty_json_object_is_a_row_with_missing_columns(experiment, tmp_path):
    good = '{"prompt": "Hi", "model_a": "m1", "output_a": "x", "model_b": "m2", "output_b": "y"}'
    error = rejected(experiment, write(tmp_path, "bad.jsonl", good + "\n{}\n"))
    assert "line 2, column prompt: is missing" in str(error)
    assert error.total_errors == 5


def test_unnamed_csv_columns_are_dropped(experiment, tmp_path):
    """pandas writes its index as a first column without a name."""
    content = ",prompt,model_a,output_a,model_b,output_b,lang\n0,Hi,m1,x,m2,y,en\n"
    import_upload(experiment, write(tmp_path, "pandas.csv", content))
    assert Pair.objects.get().metadata == {"lang": "en"}


def test_non_ascii_text_and_nested_metadata_survive(experiment, tmp_path):
    row = {
        "pair_id": "ü-1",
        "prompt": "Übersetze: 猫 🐈",
        "model_a": "modèle-a",
        "output_a": "Katze 🐈",
        "model_b": "model-b",
        "output_b": "",
        "tags": {"lang": ["de", "zh"], "score": 0.5},
    }
    path = write(tmp_path, "x.jsonl", json.dumps(row, ensure_ascii=False) + "\n")
    import_upload(experiment, path)
    stored = Pair.objects.get()
    assert (stored.external_id, stored.prompt, stored.output_a) == (
        "ü-1",
        "Übersetze: 猫 🐈",
        "Katze 🐈",
    )
    assert stored.metadata == {"tags": {"lang": ["de", "zh"], "score": 0.5}}


def test_long_format_counts_prompts_answered_by_one_model(experiment, tmp_path):
    content = "prompt_id,prompt,model,output\np1,Hi,a,x\np1,Hi,b,y\np2,Ho,a,z\n"
    result = import_upload(experiment, write(tmp_path, "long.csv", content))
    assert (result.pairs_created, result.prompts_without_pair) == (1, 1)
    assert "1 prompt answered by one model only gave no pair." in result.summary()


def test_numbers_are_accepted_as_pair_ids(experiment, tmp_path):
    row = {"pair_id": 12, "prompt": "Hi", "model_a": "m1", "output_a": "", "model_b": "m2"}
    path = write(tmp_path, "ok.jsonl", json.dumps({**row, "output_b": "y"}) + "\n")
    import_upload(experiment, path)
    assert Pair.objects.get().external_id == "12"


# -- size limits ----------------------------------------------------------------------------


@override_settings(REVIEWAPP_MAX_UPLOAD_BYTES=10_000)
def test_refuses_a_file_over_the_size_limit_before_reading_it(experiment):
    error = rejected(experiment, PANDALM)  # 37 KB
    assert "file: the file is 37.0 KiB; the upload limit is 9.8 KiB" in str(error)


@override_settings(REVIEWAPP_MAX_UPLOAD_BYTES=100_000)
def test_refuses_a_gzip_bomb_by_its_decompressed_size(experiment, tmp_path):
    rows = "".join(f"{i},Hi,m1,{'x' * 1000},m2,y\n" for i in range(1000))  # ~1 MB
    path = write(tmp_path, "bomb.csv.gz", WIDE_HEADER + rows, compress=True)
    assert path.stat().st_size < 100_000

    error = rejected(experiment, path)
    assert "the decompressed file is over the upload limit of 97.7 KiB" in str(error)


def test_refuses_a_damaged_gzip_file(experiment, tmp_path):
    data = gzip.compress(PANDALM.read_bytes())
    error = rejected(experiment, write(tmp_path, "cut.jsonl.gz", data[: len(data) // 2]))
    assert "the gzip data is damaged" in str(error)


def test_csv_cells_over_128k_characters_are_read(experiment, tmp_path):
    long_output = "word " * 60_000
    path = write(tmp_path, "big.csv", WIDE_HEADER + f'1,Hi,m1,"{long_output}",m2,y\n')
    import_upload(experiment, path)
    assert Pair.objects.get().output_a == long_output


# -- the import is all or nothing ---------------------------------------------------------------


def test_import_failing_midway_leaves_nothing(experiment, monkeypatch):
    monkeypatch.setattr(uploads, "BATCH_SIZE", 5)
    real_write = uploads._PairWriter.write
    calls = []

    def write_then_fail(writer, pairs):
        calls.append(len(pairs))
        if len(calls) == 2:
            raise RuntimeError("killed midway")
        real_write(writer, pairs)

    monkeypatch.setattr(uploads._PairWriter, "write", write_then_fail)
    with pytest.raises(RuntimeError, match="killed midway"):
        import_upload(experiment, PANDALM)

    assert calls == [5, 5]
    assert Pair.objects.count() == 0


def test_import_with_bulk_create_failing_on_second_batch_leaves_nothing(experiment, monkeypatch):
    """The portable path (every database but PostgreSQL, where COPY is used)."""
    monkeypatch.setattr(uploads, "BATCH_SIZE", 5)
    monkeypatch.setattr(uploads, "_copy_available", lambda: False)
    real_bulk_create = Pair.objects.bulk_create
    calls = []

    def failing_bulk_create(objs, *args, **kwargs):
        calls.append(len(objs))
        if len(calls) == 2:
            raise RuntimeError("killed midway")
        return real_bulk_create(objs, *args, **kwargs)

    monkeypatch.setattr(Pair.objects, "bulk_create", failing_bulk_create)
    with pytest.raises(RuntimeError, match="killed midway"):
        import_upload(experiment, PANDALM)

    assert calls == [5, 5]
    assert Pair.objects.count() == 0


def test_pairs_added_after_the_check_roll_the_import_back(experiment, monkeypatch):
    """The check found no pair 0019; someone else stores one before the write."""
    real_write = uploads._PairWriter.write
    added = []

    def someone_else_adds_a_pair_first(writer, pairs):
        if not added:  # before the first write: no query can run during a COPY
            added.append(
                Pair.objects.create(
                    experiment=experiment,
                    external_id="pandalm-0019",
                    prompt="x",
                    model_a="a",
                    model_b="b",
                )
            )
        real_write(writer, pairs)

    monkeypatch.setattr(uploads._PairWriter, "write", someone_else_adds_a_pair_first)
    with pytest.raises(UploadError, match="added meanwhile"):
        import_upload(experiment, PANDALM)
    assert Pair.objects.count() == 0


def test_problems_after_written_batches_are_all_listed_and_nothing_is_kept(
    experiment, monkeypatch, tmp_path
):
    """The import writes batch by batch while it checks: a problem further down the file
    stops the writing, the checking goes on to the end, and everything is rolled back."""
    monkeypatch.setattr(uploads, "BATCH_SIZE", 5)
    real_write = uploads._PairWriter.write
    written = []

    def counting_write(writer, pairs):
        written.append(len(pairs))
        real_write(writer, pairs)

    monkeypatch.setattr(uploads._PairWriter, "write", counting_write)
    rows = [f"q{i},Prompt {i},m1,x,m2,y\n" for i in range(20)]
    rows[12] = "q12,Prompt 12,m1,x,m1,y\n"  # line 14
    rows[17] = "q17,,m1,x,m2,y\n"  # line 19
    error = rejected(experiment, write(tmp_path, "late.csv", WIDE_HEADER + "".join(rows)))

    assert written == [5, 5]  # batches 1 and 2 were sent; batch 3 holds line 14
    assert [str(e) for e in error.errors] == [
        "line 14, column model_b: is the same model as model_a ('m1')",
        "line 19, column prompt: is empty; expected text",
    ]


def test_reupload_with_new_pairs_checks_and_writes_each_batch(experiment, monkeypatch, tmp_path):
    """An experiment with pairs: each batch is compared with the stored pairs (on
    PostgreSQL between two COPY streams, as no query can run during one), then written."""
    lines = PANDALM.read_text().splitlines(keepends=True)
    import_upload(experiment, write(tmp_path, "odd.jsonl", "".join(lines[1::2])))
    monkeypatch.setattr(uploads, "BATCH_SIZE", 3)
    result = import_upload(experiment, PANDALM)

    assert (result.pairs_created, result.pairs_unchanged) == (10, 10)
    stored = {p.external_id: p for p in Pair.objects.filter(experiment=experiment)}
    assert len(stored) == 20
    for line in lines:
        row = json.loads(line)
        pair = stored[row["pair_id"]]
        assert (pair.prompt, pair.output_a, pair.output_b) == (
            row["prompt"],
            row["output_a"],
            row["output_b"],
        )
        assert pair.shuffle_key == pair_shuffle_key(experiment.seed, row["pair_id"])


# Text that COPY's text format must escape (backslash, tab, newline, carriage return),
# its end-of-data marker and NULL marker, and characters outside ASCII and the BMP.
HOSTILE_TEXTS = [
    "back\\slash \\N \\t \\\\ end\\",
    "tab\there\t\ttwice",
    "lines\nand\r\nCRLF\rand bare CR\n\n",
    "\\.\nafter the end marker\n\\.",
    "\\N",
    'quotes " and "" and , commas',
    "Übersetze: 猫 🐈 عربى \u2028 e\u0301 \U0010fffd",
]


@pytest.mark.parametrize("use_copy", [True, False], ids=["copy-if-postgres", "bulk-create"])
def test_hostile_text_round_trips_through_the_writer(experiment, monkeypatch, tmp_path, use_copy):
    if not use_copy:
        monkeypatch.setattr(uploads, "_copy_available", lambda: False)
    buffer = io.StringIO()
    out = csv.writer(buffer)
    out.writerow(["pair_id", "prompt", "model_a", "output_a", "model_b", "output_b", "note"])
    for i, text in enumerate(HOSTILE_TEXTS):
        out.writerow([f"id {i} {text}", text, f"a {i} {text}", text, f"b {i} {text}", text, text])
    import_upload(experiment, write(tmp_path, "hostile.csv", buffer.getvalue()))

    for i, text in enumerate(HOSTILE_TEXTS):
        pair = Pair.objects.get(external_id=f"id {i} {text}".strip())
        assert (pair.prompt, pair.output_a, pair.output_b) == (text, text, text)
        assert (pair.model_a, pair.model_b) == (f"a {i} {text}".strip(), f"b {i} {text}".strip())
        assert pair.metadata == {"note": text}


@pytest.mark.postgres
@pytest.mark.parametrize("use_copy", [True, False], ids=["copy", "bulk-create"])
def test_postgres_refuses_a_nul_that_got_past_the_checks(experiment, monkeypatch, use_copy):
    """The checks refuse NUL characters (see BAD_FILES), which PostgreSQL cannot store; the
    writer adds no escaping that would let one through."""
    if not use_copy:
        monkeypatch.setattr(uploads, "_copy_available", lambda: False)
    pair = PairRow(
        line=2, external_id="nul", prompt="Hi", model_a="m1", output_a="a\x00b", model_b="m2",
        output_b="y", metadata={}, is_gold=False, gold={},
    )  # fmt: skip
    with pytest.raises(DataError):
        with transaction.atomic(), uploads._PairWriter(experiment) as writer:
            writer.write([pair])
    assert not Pair.objects.exists()


@pytest.mark.postgres
def test_long_texts_are_stored_with_lz4_where_the_server_has_it(experiment, tmp_path):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
        )
        if not cursor.fetchone()[0]:
            pytest.skip("this PostgreSQL was built without lz4")
    long_output = "A long and repetitive answer. " * 400
    content = WIDE_HEADER + f"q1,Hi,m1,{long_output},m2,short\n"
    import_upload(experiment, write(tmp_path, "long.csv", content))

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_column_compression(output_a), output_a FROM reviewapp_pair"
            " WHERE external_id = 'q1'"
        )
        assert cursor.fetchone() == ("lz4", long_output)


@pytest.mark.parametrize("use_copy", [True, False], ids=["copy-if-postgres", "bulk-create"])
def test_both_write_paths_store_the_same_pairs(experiment, monkeypatch, use_copy):
    if not use_copy:
        monkeypatch.setattr(uploads, "_copy_available", lambda: False)
    import_upload(experiment, PANDALM)

    stored = Pair.objects.get(external_id="pandalm-0003")
    source = json.loads(PANDALM.read_text().splitlines()[3])
    assert (stored.prompt, stored.output_a, stored.output_b) == (
        source["prompt"],
        source["output_a"],
        source["output_b"],
    )
    assert stored.metadata == {
        k: source[k] for k in ("instruction", "input", "source_id", "category")
    }
    assert (stored.slots_taken, stored.is_gold, stored.gold) == (0, False, {})
    assert stored.shuffle_key == pair_shuffle_key(experiment.seed, "pandalm-0003")


def test_both_writers_fill_every_column_alike(experiment, monkeypatch):
    """COPY (on PostgreSQL) and bulk_create store identical rows, including the columns the
    upload leaves to their defaults (slots_taken, leak_flags, excluded)."""
    other = make_experiment(experiment.owner, slug="bulk", seed=experiment.seed)
    import_upload(experiment, PANDALM)
    monkeypatch.setattr(uploads, "_copy_available", lambda: False)
    import_upload(other, PANDALM)

    columns = [f.name for f in Pair._meta.concrete_fields if f.name not in ("id", "experiment")]
    first, second = (
        list(e.pairs.order_by("external_id").values(*columns)) for e in (experiment, other)
    )
    assert len(first) == 20 and first == second
    assert (first[0]["leak_flags"], first[0]["excluded"], first[0]["slots_taken"]) == ([], False, 0)


def test_the_upload_fields_are_written_and_compared_from_one_list():
    assert uploads.WRITTEN_FIELDS == ("experiment", *Pair.UPLOAD_FIELDS, "shuffle_key")
    assert set(uploads.COMPARED_FIELDS) == set(Pair.UPLOAD_FIELDS) - {"external_id"}
    names = [f.name for f in dataclasses.fields(PairRow)]
    assert names == ["line", *Pair.UPLOAD_FIELDS, "id_source", "where"]
    with pytest.raises(TypeError):  # rows are built by keyword, every upload field given
        PairRow(line=2, external_id="x", prompt="p")


def test_the_parser_needs_no_database():
    """Records in, rows or row errors out: no query (pytest-django refuses one here)."""
    header = (1, ["pair_id", "prompt", "model_a", "output_a", "model_b", "output_b", "topic"])
    records = [
        (2, dict(zip(header[1], ["p1", "Hi", "m1", "x", "m2", "y", "maths"], strict=True))),
        (3, dict(zip(header[1], ["p2", "", "m1", "x", "m1", "y", ""], strict=True))),
    ]
    errors = RowErrors()
    parsed = parse_pairs(header, iter(records), errors)
    rows = list(parsed.rows)

    assert (parsed.format, parsed.rows_read, len(rows)) == ("wide", 2, 1)
    assert (rows[0].external_id, rows[0].metadata, rows[0].is_gold) == (
        "p1",
        {"topic": "maths"},
        False,
    )
    assert [(e.row, e.column) for e in errors.shown] == [(3, "prompt")]


def test_rejects_unknown_pairing(experiment):
    with pytest.raises(ValueError, match="pairing"):
        preview_upload(experiment, PANDALM, "random")


# -- the import_pairs command -----------------------------------------------------------------


def test_command_imports_and_prints_the_summary(experiment):
    out = io.StringIO()
    call_command("import_pairs", experiment.slug, str(PANDALM), stdout=out)

    assert "Imported 20 new pairs from 20 rows (wide JSONL)." in out.getvalue()
    assert Pair.objects.count() == 20


def test_command_dry_run_writes_nothing(experiment):
    out = io.StringIO()
    call_command("import_pairs", experiment.slug, str(PANDALM), "--dry-run", stdout=out)

    assert out.getvalue().startswith("Would import 20 new pairs")
    assert Pair.objects.count() == 0


def test_command_fails_with_the_row_errors(experiment, tmp_path):
    path = write(tmp_path, "bad.csv", WIDE_HEADER + "1,Hi,m1,x,m1,y\n")
    with pytest.raises(CommandError, match="line 2, column model_b: is the same model"):
        call_command("import_pairs", experiment.slug, str(path))
    assert Pair.objects.count() == 0


def test_command_long_format_with_baseline_pairing(db):
    experiment = make_experiment(make_user("olivia", owner=True), baseline_model="alpha")
    out = io.StringIO()
    path = RESOURCES / "long_three_models.csv"
    call_command("import_pairs", experiment.slug, str(path), "--pairing=baseline", stdout=out)
    assert "Imported 3 new pairs from 5 rows (long CSV)." in out.getvalue()


def test_command_unknown_experiment(db):
    with pytest.raises(CommandError, match="No experiment with slug 'nope'"):
        call_command("import_pairs", "nope", str(PANDALM))


# -- web upload: form -> preview -> confirm -------------------------------------------------------


@pytest.fixture
def owner_client(client, experiment, tmp_path, settings):
    settings.REVIEWAPP_UPLOAD_DIR = tmp_path / "pending"
    client.force_login(experiment.owner)
    return client


def upload(client, experiment, name, content, pairing="all"):
    file = SimpleUploadedFile(name, content if isinstance(content, bytes) else content.encode())
    url = reverse("owner-upload", args=[experiment.slug])
    return client.post(url, {"file": file, "pairing": pairing})


def test_upload_page_has_labelled_controls(owner_client, experiment):
    response = owner_client.get(reverse("owner-upload", args=[experiment.slug]))

    html = response.content.decode()
    assert response.status_code == 200
    assert '<label for="id_file">Pairs file</label>' in html
    assert "<legend>Pairs from a long-format file</legend>" in html
    assert 'enctype="multipart/form-data"' in html


def check_page(client, response):
    """The upload's check job page (the job ran where it was queued: tests use the
    immediate task backend; tests/test_upload_jobs.py runs the real worker)."""
    assert response.status_code == 302, response.content[:500]
    return client.get(response["Location"])


def import_checked(client, experiment, **kwargs):
    job = UploadJob.objects.filter(experiment=experiment, kind="check").latest("pk")
    url = reverse("owner-upload-import", args=[experiment.slug, job.pk])
    return client.post(url, **kwargs)


def test_upload_preview_then_confirm_imports(owner_client, experiment, tmp_path):
    page = check_page(
        owner_client, upload(owner_client, experiment, "pandalm.jsonl", PANDALM.read_bytes())
    )

    assert page.status_code == 200
    assert Pair.objects.count() == 0
    result = page.context["result"]
    assert (result["pairs_created"], result["empty_outputs_a"]) == (20, 2)
    html = page.content.decode()
    assert "Import 20 new pairs" in html
    assert "bloom-7b" in html
    token = UploadJob.objects.get(kind="check").token
    assert (tmp_path / "pending" / f"{token}.upload").exists()

    response = import_checked(owner_client, experiment, follow=True)

    assert Pair.objects.filter(experiment=experiment).count() == 20
    assert (
        "Imported 20 new pairs from 20 rows (wide JSONL). Empty outputs: 2 on side A, 0 on side B."
        in response.content.decode()
    )
    assert not (tmp_path / "pending" / f"{token}.upload").exists()


def test_preview_escapes_file_content(owner_client, experiment):
    content = WIDE_HEADER + '1,<script>alert(1)</script>,<b>m1</b>,"<img src=x>",m2,y\n'
    page = check_page(owner_client, upload(owner_client, experiment, "x.csv", content))

    html = page.content.decode()
    assert "<script>alert(1)</script>" not in html and "<b>m1</b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;m1&lt;/b&gt;" in html


def test_upload_of_gzip_file(owner_client, experiment):
    data = gzip.compress((RESOURCES / "wide_bom_crlf.csv").read_bytes())
    page = check_page(owner_client, upload(owner_client, experiment, "pairs.csv.gz", data))

    assert "csv (gzip)" in " ".join(page.content.decode().split()).lower()
    import_checked(owner_client, experiment)
    assert Pair.objects.count() == 2


def test_upload_of_bad_file_shows_errors_and_keeps_nothing(owner_client, experiment, tmp_path):
    content = WIDE_HEADER + "1,<i>Hi</i>,m1,x,m1,y\n"
    page = check_page(owner_client, upload(owner_client, experiment, "bad.csv", content))

    html = page.content.decode()
    assert page.status_code == 200
    assert "The file was not imported" in html
    assert "line 2, column model_b: is the same model as model_a (&#x27;m1&#x27;)" in html
    assert Pair.objects.count() == 0
    assert list((tmp_path / "pending").glob("*.upload")) == []


@override_settings(REVIEWAPP_MAX_UPLOAD_BYTES=100)
def test_upload_over_the_limit_is_refused_before_storing(owner_client, experiment, tmp_path):
    response = upload(owner_client, experiment, "big.jsonl", PANDALM.read_bytes())

    assert "the upload limit is 100 bytes" in response.content.decode()
    assert not (tmp_path / "pending").exists()


def test_long_format_upload_uses_the_chosen_pairing(owner_client, db):
    experiment = make_experiment(
        Experiment.objects.get().owner, slug="with-baseline", baseline_model="beta"
    )
    content = (RESOURCES / "long_three_models.csv").read_bytes()
    response = upload(owner_client, experiment, "long.csv", content, pairing="baseline")
    assert check_page(owner_client, response).context["result"]["pairs_created"] == 3

    import_checked(owner_client, experiment)
    assert set(Pair.objects.values_list("model_a", flat=True)) == {"beta"}


def test_a_refused_file_cannot_be_imported(owner_client, experiment):
    upload(owner_client, experiment, "bad.csv", WIDE_HEADER + "1,Hi,m1,x,m1,y\n")
    response = import_checked(owner_client, experiment, follow=True)

    assert Pair.objects.count() == 0
    assert "Only a file that was checked without problems" in response.content.decode()


def test_confirm_twice_imports_once(owner_client, experiment):
    upload(owner_client, experiment, "p.jsonl", PANDALM.read_bytes())
    import_checked(owner_client, experiment)
    response = import_checked(owner_client, experiment)

    assert response.status_code == 302
    assert Pair.objects.count() == 20
    assert UploadJob.objects.filter(kind="import").count() == 1


def test_confirm_reports_a_conflict_that_appeared_after_the_preview(owner_client, experiment):
    upload(owner_client, experiment, "p.jsonl", PANDALM.read_bytes())
    Pair.objects.create(
        experiment=experiment, external_id="pandalm-0003", prompt="Other", model_a="x", model_b="y"
    )
    response = import_checked(owner_client, experiment, follow=True)

    assert "line 4, column prompt: pair id &#x27;pandalm-0003&#x27;" in response.content.decode()
    assert Pair.objects.count() == 1


def test_other_users_get_404(client, experiment, tmp_path, settings):
    settings.REVIEWAPP_UPLOAD_DIR = tmp_path / "pending"
    client.force_login(make_user("mallory", owner=True))
    url = reverse("owner-upload", args=[experiment.slug])

    assert client.get(url).status_code == 404
    file = SimpleUploadedFile("p.jsonl", PANDALM.read_bytes())
    assert client.post(url, {"file": file, "pairing": "all"}).status_code == 404
    job = UploadJob.objects.create(experiment=experiment, kind="check", token="x" * 32)
    job_url = reverse("owner-upload-job", args=[experiment.slug, job.pk])
    assert client.get(job_url).status_code == 404
    import_url = reverse("owner-upload-import", args=[experiment.slug, job.pk])
    assert client.post(import_url).status_code == 404
    assert Pair.objects.count() == 0


def test_anonymous_users_are_sent_to_login(client, experiment):
    response = client.get(reverse("owner-upload", args=[experiment.slug]))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_unknown_experiment_is_404(owner_client):
    assert owner_client.get(reverse("owner-upload", args=["nope"])).status_code == 404


def test_confirm_refuses_get(owner_client, experiment):
    job = UploadJob.objects.create(experiment=experiment, kind="check", token="x" * 32)
    response = owner_client.get(reverse("owner-upload-import", args=[experiment.slug, job.pk]))
    assert response.status_code == 405


def test_abandoned_uploads_older_than_a_day_are_removed(owner_client, experiment, tmp_path):
    pending = tmp_path / "pending"
    pending.mkdir()
    old, recent = pending / "old.upload", pending / "recent.upload"
    old.write_text("x")
    recent.write_text("x")
    two_days_ago = time.time() - 2 * 24 * 3600
    os.utime(old, (two_days_ago, two_days_ago))

    upload(owner_client, experiment, "p.jsonl", PANDALM.read_bytes())

    assert not old.exists() and recent.exists()


def test_csv_writer_output_round_trips(experiment, tmp_path):
    """A file written by Python's csv module (as pandas or a spreadsheet would) imports as is."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["pair_id", "prompt", "model_a", "output_a", "model_b", "output_b"])
    rows = [json.loads(line) for line in PANDALM.read_text().splitlines()]
    columns = ["pair_id", "prompt", "model_a", "output_a", "model_b", "output_b"]
    for row in rows:
        writer.writerow([row[column] for column in columns])
    result = import_upload(experiment, write(tmp_path, "pandalm.csv", buffer.getvalue()))

    assert result.pairs_created == 20
    stored = Pair.objects.get(external_id="pandalm-0007")
    assert stored.output_b == rows[7]["output_b"]


def test_seen_ids_on_disk_give_the_first_line_and_compare_exactly(tmp_path, settings):
    # The duplicate check keeps its ids in a temporary SQLite file (flat memory): it must
    # answer exactly as a dict would, and leave nothing behind.
    settings.REVIEWAPP_UPLOAD_DIR = tmp_path
    with UploadScratch() as seen:
        assert seen.first_line("p1", 2) == 2
        assert seen.first_line("p2", 3) == 3
        assert seen.first_line("p1", 9) == 2  # a repeat names the first line
        assert seen.first_line("p1", 10) == 2
        assert seen.first_line("P1", 11) == 11  # case matters
        assert seen.first_line("\u00e9", 12) == 12  # é, composed
        assert seen.first_line("e\u0301", 13) == 13  # é, decomposed: another id
        assert seen.first_line("\ud800", 14) == 14  # a lone surrogate does not break it
        assert seen.first_line("\ud800", 15) == 14
        assert len(list(tmp_path.iterdir())) == 1  # the scratch file, while it is used
    assert list(tmp_path.iterdir()) == []


def test_seen_ids_file_is_removed_when_the_import_fails(tmp_path, settings):
    settings.REVIEWAPP_UPLOAD_DIR = tmp_path
    with pytest.raises(RuntimeError), UploadScratch() as seen:
        seen.first_line("p1", 2)
        raise RuntimeError("the upload broke off")
    assert list(tmp_path.iterdir()) == []


def test_a_full_temporary_folder_is_a_clear_error_and_imports_nothing(
    experiment, tmp_path, monkeypatch
):
    def disk_full(self, pair_id, line):
        raise uploads.sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(UploadScratch, "first_line", disk_full)
    path = write(tmp_path, "pairs.csv", WIDE_HEADER + "1,Hi,m1,a,m2,b\n2,Ho,m1,c,m2,d\n")
    error = rejected(experiment, path)
    assert "could not check the pair ids for repeats (database or disk is full)" in str(error)
    assert "nothing was imported" in str(error)
    assert not Pair.objects.filter(experiment=experiment).exists()


def test_stale_uploads_and_scratch_files_of_killed_imports_are_removed(tmp_path):
    old, fresh = time.time() - upload_files.PENDING_MAX_AGE_SECONDS - 60, time.time()
    names = ["a.upload", "pair-ids-x.ids", "b.upload", "pair-ids-y.ids", "keep.txt"]
    for name, mtime in zip(names, [old, old, fresh, fresh, old], strict=True):
        (tmp_path / name).write_bytes(b"x")
        os.utime(tmp_path / name, (mtime, mtime))
    upload_files.remove_stale_uploads(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.upload", "keep.txt", "pair-ids-y.ids"]


def test_an_unwritable_upload_folder_is_a_clear_error(experiment, tmp_path, settings):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    settings.REVIEWAPP_UPLOAD_DIR = blocker / "uploads"
    path = write(tmp_path, "pairs.csv", WIDE_HEADER + "1,Hi,m1,a,m2,b\n")
    error = rejected(experiment, path)
    assert "could not check the pair ids for repeats (cannot create a file in" in str(error)


def test_preview_shows_every_pair_to_on_pair_as_it_is_read(experiment):
    seen = []
    result = preview_upload(experiment, PANDALM, on_pair=lambda row: seen.append(row.external_id))
    assert len(seen) == result.pairs_created == 20
    assert seen[0] == "pandalm-0000"
