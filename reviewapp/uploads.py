"""Upload stage: a CSV or JSONL file (optionally gzip-compressed) -> pairs, or row errors.

One streaming pass over the file parses and validates every row and compares the pair
ids already in the experiment, a batch at a time. The preview stops there and writes
nothing; the import, inside one transaction, also writes each batch's new pairs as long
as the file has shown no problem, and any problem rolls back everything written. A file
is imported whole or not at all.

Memory: the wide format keeps one batch of rows, so it grows neither with the size of the
outputs nor with the number of pairs; the ids seen so far (to catch duplicates) go to a
temporary SQLite file on disk (_SeenIds). The long format holds all its rows, grouped by
prompt, until the end of the file: a prompt's outputs may be anywhere in it.

Row numbers are physical line numbers of the (decompressed) file, counted from 1: a CSV
header is line 1, and a CSV row spanning several lines (quoted newlines) is named by the
line it starts on. The same convention is used by every message.
"""

import codecs
import csv
import gzip
import hashlib
import io
import json
import math
import os
import secrets
import sqlite3
import tempfile
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, field
from itertools import combinations, islice
from pathlib import Path
from typing import Any, BinaryIO

from django.conf import settings
from django.db import IntegrityError, connection, transaction

from .experiments import recount_pairs
from .models import Experiment, Pair, pair_shuffle_key

BATCH_SIZE = 2_000
# Without stored pairs to compare with, batches are smaller, so that the import sends each
# to the database while it parses the next. A batch of 2,000 pairs of a few kB is megabytes
# sent in a burst, with one side waiting for the other (bench/README.md).
STREAM_BATCH_SIZE = 100
# Outputs can be 100k+ characters; the csv module's default cap (128 KiB) is too small,
# an unbounded one lets a single cell take all memory.
MAX_CELL_CHARS = 16 * 1024 * 1024
# A JSONL line is a whole pair (prompt and both outputs); a longer line is refused before
# it is held in memory.
MAX_LINE_BYTES = 64 * 1024 * 1024
CHUNK_BYTES = 1024 * 1024
# Text decoded per read: the fastest size measured (bench/README.md).
TEXT_CHUNK_CHARS = 64 * 1024
MAX_SHOWN_ERRORS = 20
PREVIEW_ROWS = 10
GZIP_MAGIC = b"\x1f\x8b"
MAX_ID_CHARS = Pair._meta.get_field("external_id").max_length
MAX_MODEL_CHARS = Pair._meta.get_field("model_a").max_length

PAIRINGS = ("all", "baseline")
WIDE_COLUMNS = ("prompt", "model_a", "output_a", "model_b", "output_b")
WIDE_MARKERS = {"model_a", "output_a", "model_b", "output_b"}
LONG_COLUMNS = ("prompt_id", "prompt", "model", "output")
LONG_MARKERS = {"prompt_id", "model", "output"}
# Fields compared when a pair id is already in the experiment.
COMPARED_FIELDS = (
    "prompt", "model_a", "output_a", "model_b", "output_b", "metadata", "is_gold", "gold",
)  # fmt: skip
# Gold pairs (attention checks): `gold_winner` gives the expected winner on every dimension,
# `gold_<dimension>` on one; a value is model_a's name, model_b's name or "tie".
GOLD_WINNER_COLUMN = "gold_winner"
GOLD_PREFIX = "gold_"


@dataclass(frozen=True)
class RowError:
    """One problem: `row` is the line number (None for the file as a whole)."""

    row: int | None
    column: str
    message: str

    def __str__(self) -> str:
        where = "file" if self.row is None else f"line {self.row}"
        if self.column:
            where += f", column {self.column}"
        return f"{where}: {self.message}"


class UploadError(Exception):
    """The file was refused; `errors` holds the first problems, `total_errors` counts all."""

    refusal = "The file was not imported"

    def __init__(self, errors: list[RowError], total_errors: int | None = None):
        self.errors = list(errors)
        self.total_errors = len(self.errors) if total_errors is None else total_errors
        super().__init__(str(self))

    @property
    def n_more(self) -> int:
        """Problems counted but not listed."""
        return self.total_errors - len(self.errors)

    def __str__(self) -> str:
        n = self.total_errors
        lines = [
            f"{self.refusal}: {n} problem{'s' if n != 1 else ''} "
            "(line numbers count the lines of the file, a CSV header is line 1)."
        ]
        lines += [f"- {error}" for error in self.errors]
        if self.n_more:
            lines.append(f"- and {self.n_more} more.")
        return "\n".join(lines)


@dataclass
class PairRow:
    """One pair as read from the file, before it touches the database."""

    line: int
    external_id: str
    prompt: str
    model_a: str
    output_a: str
    model_b: str
    output_b: str
    metadata: dict[str, Any]
    id_source: str = "pair_id"  # pair_id, content (generated) or prompt_id (long format)
    where: str = ""  # long format: the rows the pair was built from, e.g. "lines 3 and 7"
    gold: dict[str, str] = field(default_factory=dict)  # dimension -> "A" / "B" / "tie"

    @property
    def is_gold(self) -> bool:
        return bool(self.gold)


@dataclass
class ImportResult:
    """What a file holds and what importing it does (or, for a preview, would do)."""

    file_format: str = ""  # csv / jsonl
    compressed: bool = False
    format: str = ""  # wide / long
    pairing: str = "all"
    rows_read: int = 0
    pairs_created: int = 0  # in a preview: pairs that would be created
    pairs_unchanged: int = 0  # already in the experiment with the same content
    empty_outputs_a: int = 0
    empty_outputs_b: int = 0
    prompts_without_pair: int = 0  # long format: prompts answered by a single model
    gold_pairs: int = 0  # pairs with an expected answer (attention checks)
    models: Counter = field(default_factory=Counter)  # model -> pairs it appears in
    pairings: Counter = field(default_factory=Counter)  # (model_a, model_b) -> pairs
    first_rows: list[PairRow] = field(default_factory=list)
    committed: bool = False

    @property
    def pairs_total(self) -> int:
        return self.pairs_created + self.pairs_unchanged

    def summary(self) -> str:
        kind = f"{self.format} {self.file_format.upper()}{' (gzip)' if self.compressed else ''}"
        verb = "Imported" if self.committed else "Would import"
        parts = [
            f"{verb} {_count(self.pairs_created, 'new pair')} "
            f"from {_count(self.rows_read, 'row')} ({kind})."
        ]
        if self.pairs_unchanged:
            were = "were" if self.pairs_unchanged != 1 else "was"
            parts.append(
                f"{_count(self.pairs_unchanged, 'pair')} {were} already present and unchanged."
            )
        if self.empty_outputs_a or self.empty_outputs_b:
            parts.append(
                f"Empty outputs: {self.empty_outputs_a:,} on side A, "
                f"{self.empty_outputs_b:,} on side B."
            )
        if self.gold_pairs:
            parts.append(f"{_count(self.gold_pairs, 'gold pair')} (attention checks).")
        if self.prompts_without_pair:
            parts.append(
                f"{_count(self.prompts_without_pair, 'prompt')} answered by one model only "
                "gave no pair."
            )
        return " ".join(parts)


# -- public entry points ------------------------------------------------------------------

Source = str | os.PathLike | BinaryIO


def preview_upload(
    experiment: Experiment,
    source: Source,
    pairing: str = "all",
    *,
    name: str = "",
    on_pair: Callable[[PairRow], None] | None = None,
) -> ImportResult:
    """Validate the whole file against the experiment and describe it, writing nothing.

    Raises UploadError listing the problems. `name` (the original file name) only helps
    to tell JSONL from CSV when the content does not (see `sniff_file_format`).
    `on_pair`, if given, sees every pair of the file as it is read (e.g. to look for
    identity leaks) without the preview holding them all.
    """
    return _run(experiment, source, pairing, name, write=False, on_pair=on_pair)


def import_upload(
    experiment: Experiment, source: Source, pairing: str = "all", *, name: str = ""
) -> ImportResult:
    """Validate the whole file and import its new pairs, in one transaction.

    Pairs whose id is already in the experiment with the same content are skipped, so
    re-uploading a file is harmless; any problem (including a pair id already present
    with different content) raises UploadError and nothing is written: the pairs already
    sent are rolled back with the transaction.
    """
    try:
        with transaction.atomic():
            result = _run(experiment, source, pairing, name, write=True)
            recount_pairs(experiment)  # the review screen's progress reads the stored counts
            return result
    except IntegrityError as exc:
        # Only reachable if someone else added pairs with the same ids during the import
        # (the file's own duplicates are errors before anything is written).
        message = "some of these pairs were added meanwhile by someone else; upload the file again"
        raise UploadError([RowError(None, "", message)]) from exc


# -- reading bytes ---------------------------------------------------------------------


class _GuardedReader(io.RawIOBase):
    """Passes bytes through, refusing a stream that inflates past the size limit (a small
    gzip can hold gigabytes) or holds a line too long to be read into memory at once."""

    def __init__(self, raw, max_bytes: int, compressed: bool):
        self.raw = raw
        self.max_bytes = max_bytes
        self.compressed = compressed
        self.count = 0
        self.run = 0  # bytes since the last newline
        # Set as soon as a NUL byte is read, before the text reader reaches it: rows are
        # searched for it only from then on.
        self.saw_nul = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.raw.read(min(len(buffer), CHUNK_BYTES))
        n = len(data)
        buffer[:n] = data
        self.count += n
        self.saw_nul = self.saw_nul or b"\x00" in data
        if self.count > self.max_bytes:
            limit = _format_bytes(self.max_bytes)
            raise UploadError(
                [RowError(None, "", f"the decompressed file is over the upload limit of {limit}")]
            )
        # Chunks are much shorter than the line limit, so only a line crossing a chunk's
        # edges can be too long.
        first = data.find(b"\n")
        if first == -1:
            self.run += n
        elif self.run + first > MAX_LINE_BYTES:
            self.run += first
        else:
            self.run = n - data.rfind(b"\n") - 1
        if self.run > MAX_LINE_BYTES:
            limit = _format_bytes(MAX_LINE_BYTES)
            raise UploadError([RowError(None, "", f"a line is longer than {limit}")])
        return n


@contextmanager
def _open_binary(source: Source) -> Iterator[tuple[BinaryIO, _GuardedReader]]:
    """The upload's content as a binary stream, gunzipped when it starts with the gzip magic.
    `source` is a path or a seekable binary file (read twice, left open)."""
    if isinstance(source, str | os.PathLike):
        raw = open(source, "rb")  # noqa: SIM115 - closed below
        owned = True
    else:
        raw = source
        owned = False
    try:
        raw.seek(0, io.SEEK_END)
        check_upload_size(raw.tell())
        raw.seek(0)
        compressed = raw.read(2) == GZIP_MAGIC
        raw.seek(0)
        content = gzip.GzipFile(fileobj=raw, mode="rb") if compressed else raw
        guard = _GuardedReader(content, settings.REVIEWAPP_MAX_UPLOAD_BYTES, compressed)
        yield io.BufferedReader(guard, buffer_size=CHUNK_BYTES), guard
    finally:
        if owned:
            raw.close()


def check_upload_size(size: int) -> None:
    """Refuses a file over settings.REVIEWAPP_MAX_UPLOAD_BYTES before anything reads it."""
    limit = settings.REVIEWAPP_MAX_UPLOAD_BYTES
    if size > limit:
        message = f"the file is {_format_bytes(size)}; the upload limit is {_format_bytes(limit)}"
        raise UploadError([RowError(None, "", message)])


def sniff_file_format(source: Source, name: str = "") -> str:
    """ "jsonl" when the first non-blank character is "{" or, failing that, when the name ends
    in .jsonl/.ndjson (optionally .gz); otherwise "csv"."""
    with _open_binary(source) as (stream, _):
        try:
            while chunk := stream.read(64 * 1024):
                stripped = chunk.lstrip(b" \t\r\n\xef\xbb\xbf")
                if stripped:
                    if stripped[:1] == b"{":
                        return "jsonl"
                    break
        except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
            raise UploadError([RowError(None, "", f"the gzip data is damaged ({exc})")]) from exc
    base = name.lower().removesuffix(".gz")
    return "jsonl" if base.endswith((".jsonl", ".ndjson")) else "csv"


def _locate_bad_utf8(source: Source) -> RowError:
    """Re-reads the bytes to name where decoding failed (the text reader only knows its chunk)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset, newlines = 0, 0
    with _open_binary(source) as (stream, _):
        while chunk := stream.read(1 << 20):
            pending = decoder.getstate()[0]
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                data = pending + chunk
                bad = offset - len(pending) + exc.start
                line = newlines + data[: exc.start].count(b"\n") + 1
                return _bad_utf8_error(line, bad)
            newlines += chunk.count(b"\n")
            offset += len(chunk)
        pending = decoder.getstate()[0]
    return _bad_utf8_error(newlines + 1, offset - len(pending))


def _bad_utf8_error(line: int, offset: int) -> RowError:
    return RowError(
        line,
        "",
        f"the byte at offset {offset:,} (counting from 0) is not valid UTF-8; "
        "save the file as UTF-8",
    )


# -- rows -----------------------------------------------------------------------------


class RowErrors:
    """Collects row errors: the first few in full, the rest counted."""

    def __init__(self):
        self.shown: list[RowError] = []
        self.total = 0

    def add(self, row: int | None, column: str, message: str) -> None:
        self.total += 1
        if len(self.shown) < MAX_SHOWN_ERRORS:
            self.shown.append(RowError(row, column, message))

    def fail(self, row: int | None = None, column: str = "", message: str = ""):
        if message:
            self.total += 1
            self.shown.append(RowError(row, column, message))
        raise UploadError(self.shown, self.total)


Records = Iterator[tuple[int, dict[str, Any]]]


Header = tuple[int, list[str]] | None  # (line, column names), None for an empty file


def _read_csv(
    text: io.TextIOBase, errors: RowErrors, guard: _GuardedReader
) -> tuple[Header, Records]:
    """The header and an iterator of (line, {column: text}); blank lines are skipped."""
    csv.field_size_limit(MAX_CELL_CHARS)  # process-wide; raising it harms no other reader
    # strict: an unclosed quote or text after a closing quote is an error, not a guess.
    reader = csv.reader(text, strict=True)

    def lines_and_records() -> Iterator[tuple[int, list[str]]]:
        start = 1
        while True:
            try:
                record = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                message = str(exc)
                if "field larger than field limit" in message:
                    message = f"a cell is longer than {MAX_CELL_CHARS:,} characters"
                errors.fail(start, "", f"cannot be read as CSV: {message}")
            if record:  # a blank line is []
                yield start, record
            start = reader.line_num + 1

    rows = lines_and_records()
    first = next(rows, None)
    if first is None:
        return None, iter(())
    header_line, header = first
    columns = [name.strip() for name in header]
    if guard.saw_nul and any("\x00" in name for name in columns):
        errors.fail(
            header_line, "", "the header holds NUL characters (0x00): the file looks like "
            "UTF-16 or a binary file; save it as UTF-8 text"
        )  # fmt: skip
    seen: set[str] = set()
    for name in columns:
        if name and name in seen:
            errors.fail(header_line, name, "appears twice in the header")
        seen.add(name)

    # Columns without a name (a spreadsheet's index column) are dropped.
    unnamed = "" in columns
    width = len(columns)

    def records() -> Records:
        for line, record in rows:
            if len(record) != width:
                errors.add(
                    line,
                    "",
                    f"has {len(record)} fields but the header has {width} "
                    "(a quote may be missing or a comma unquoted)",
                )
                continue
            values = dict(zip(columns, record, strict=True))
            if unnamed:
                del values[""]
            if guard.saw_nul and any("\x00" in value for value in record):
                column = next((name for name, value in values.items() if "\x00" in value), "")
                errors.add(line, column, NUL_MESSAGE)
                continue
            yield line, values

    return (header_line, [c for c in columns if c]), records()


def _read_jsonl(text: io.TextIOBase, errors: RowErrors, guard=None) -> tuple[Header, Records]:
    """(line, keys) of the first valid object as the header, and an iterator of (line, object).
    A raw NUL byte cannot occur in valid JSON; the escape is checked in _parse_json_line."""

    def objects() -> Records:
        for line, raw in enumerate(text, 1):
            if (value := _parse_json_line(line, raw, errors)) is not None:
                yield line, value

    stream = objects()
    first = next(stream, None)
    if first is None:
        return None, iter(())

    def chained() -> Records:
        yield first
        yield from stream

    return (first[0], list(first[1])), chained()


def _parse_json_line(line: int, raw: str, errors: RowErrors) -> dict | None:
    if raw.isspace():  # blank lines are skipped (and keep their number)
        return None
    try:
        value = json.loads(raw, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:
        # Python's parser gives up around a thousand levels of [ or {.
        errors.add(line, "", f"is not valid JSON here: nested deeper than {MAX_JSON_DEPTH} levels")
        return None
    except json.JSONDecodeError as exc:
        message = exc.msg.removesuffix(" at")  # "Invalid control character at"
        errors.add(line, "", f"is not valid JSON: {message} (character {exc.colno})")
        return None
    except ValueError as exc:
        errors.add(line, "", f"is not valid JSON: {exc}")
        return None
    if not isinstance(value, dict):
        errors.add(line, "", f"is a JSON {_json_type(value)}, expected an object {{...}}")
        return None
    # Counting brackets is cheap; only a line that could be too deep is measured.
    if raw.count("[") + raw.count("{") > MAX_JSON_DEPTH and _depth(value) > MAX_JSON_DEPTH:
        errors.add(line, "", f"is nested deeper than {MAX_JSON_DEPTH} levels")
        return None
    # Escapes can smuggle in text the database cannot store; only look when present.
    if "\\u" in raw and (problem := _unstorable(value)):
        errors.add(line, *problem)
        return None
    return value


NUL_MESSAGE = "contains a NUL character (0x00), which the database cannot store"
# Metadata deeper than this is refused: nobody needs it, and every reader of the stored JSON
# (Python's json, the database) has a recursion limit of its own.
MAX_JSON_DEPTH = 100


def _finite_float(text: str) -> float:
    # 1e999 parses as infinity, which JSON (and PostgreSQL's jsonb) cannot hold.
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:40]} is too large a number")
    return value


def _depth(value) -> int:
    """Nesting depth of a parsed JSON value, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return deepest


def _refuse_constant(name: str):
    # Python's json accepts NaN and Infinity; JSON (and PostgreSQL's jsonb) does not.
    raise ValueError(f"{name} is not a JSON value")


def _unstorable(obj: dict) -> tuple[str, str] | None:
    """(column, message) when a value holds a NUL or an unpaired surrogate escape."""

    def strings(value):
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict):
            for key, item in value.items():
                yield key
                yield from strings(item)
        elif isinstance(value, list):
            for item in value:
                yield from strings(item)

    for column, value in obj.items():
        for text in (column, *strings(value)):  # a column name becomes a metadata key
            if "\x00" in text:
                return column, NUL_MESSAGE
            try:
                text.encode()
            except UnicodeEncodeError:
                return column, "contains an unpaired surrogate escape (\\ud800-\\udfff)"
    return None


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _a_json_type(value: Any) -> str:
    """The JSON type with its article, for "expected a string, got an array"."""
    kind = _json_type(value)
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def _text(values: dict, column: str, line: int, errors: RowErrors, *, required: bool) -> str | None:
    """A text cell; `required` refuses empty or blank text."""
    if column not in values:
        errors.add(line, column, "is missing")
        return None
    value = values[column]
    if not isinstance(value, str):
        errors.add(
            line,
            column,
            f"expected a string, got {_a_json_type(value)}"
            + (' (an empty output is written "")' if column.startswith("output") else ""),
        )
        return None
    if required and (not value or value.isspace()):
        errors.add(line, column, "is empty; expected text")
        return None
    return value


def _name(
    values: dict,
    column: str,
    line: int,
    errors: RowErrors,
    *,
    numbers: bool,
    what: str,
    max_chars: int = MAX_ID_CHARS,
) -> str | None:
    """A model name or an id: surrounding spaces dropped, non-empty, not too long."""
    if column not in values:
        errors.add(line, column, "is missing")
        return None
    value = values[column]
    if numbers and isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        kind = "a string or a number" if numbers else "a string"
        errors.add(line, column, f"expected {kind}, got {_a_json_type(value)}")
        return None
    value = value.strip()
    if not value:
        errors.add(line, column, f"is empty; expected {what}")
        return None
    if len(value) > max_chars:
        errors.add(line, column, f"is {len(value)} characters long; the limit is {max_chars}")
        return None
    return value


def generated_pair_id(prompt: str, model_a: str, output_a: str, model_b: str, output_b: str) -> str:
    """A deterministic id from the content, so re-uploading a file without ids is idempotent."""
    digest = hashlib.blake2b(digest_size=12)
    for part in (prompt, model_a, output_a, model_b, output_b):
        data = part.encode()
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return f"h-{digest.hexdigest()}"


MODEL = {"what": "a model name", "max_chars": MAX_MODEL_CHARS}


def _gold_columns(columns: list[str], dimensions: list[str], errors: RowErrors) -> dict[str, str]:
    """{column: dimension, or "" for gold_winner} for the gold columns of the header."""
    by_name = {f"{GOLD_PREFIX}{d}".lower(): d for d in dimensions}
    gold = {}
    for column in columns:
        if column == GOLD_WINNER_COLUMN:
            gold[column] = ""
        elif column.lower() in by_name:
            gold[column] = by_name[column.lower()]
        elif column.startswith(GOLD_PREFIX):
            errors.add(
                1, column, f"names no dimension of this experiment (expected gold_winner or "
                f"one of {', '.join(f'{GOLD_PREFIX}{d}' for d in dimensions)})"
            )  # fmt: skip
    return gold


def _gold_answers(values, gold_columns, dimensions, model_a, model_b, line, errors):
    """The expected answer per dimension, in content terms (A / B / tie)."""
    content = {model_a: "A", model_b: "B", "tie": "tie"}
    answers = {}
    for column, dimension in gold_columns.items():
        raw = values.get(column)
        if raw is None or str(raw).strip() == "":
            continue
        answer = content.get(str(raw).strip())
        if answer is None:
            errors.add(
                line, column,
                f"is {str(raw)[:60]!r}; expected {model_a!r}, {model_b!r} or 'tie'",
            )  # fmt: skip
            continue
        for name in [dimension] if dimension else dimensions:
            # A per-dimension column wins over gold_winner for its dimension.
            if dimension or name not in answers:
                answers[name] = answer
    return answers


def _wide_pairs(
    records: Records, columns: list[str], errors: RowErrors, result: ImportResult, dimensions
):
    has_id = "pair_id" in columns
    gold_columns = _gold_columns(columns, dimensions, errors)
    known = {"pair_id", *WIDE_COLUMNS, *gold_columns}
    for line, values in records:
        result.rows_read += 1
        before = errors.total
        prompt = _text(values, "prompt", line, errors, required=True)
        model_a = _name(values, "model_a", line, errors, numbers=False, **MODEL)
        output_a = _text(values, "output_a", line, errors, required=False)
        model_b = _name(values, "model_b", line, errors, numbers=False, **MODEL)
        output_b = _text(values, "output_b", line, errors, required=False)
        external_id = None
        if has_id:
            external_id = _name(values, "pair_id", line, errors, numbers=True, what="a pair id")
        elif "pair_id" in values:
            errors.add(line, "pair_id", "is set here but not on the first row; use it everywhere")
        if errors.total > before:
            continue
        if model_a == model_b:
            errors.add(line, "model_b", f"is the same model as model_a ({model_a!r})")
            continue
        id_source = "pair_id"
        if external_id is None:
            external_id = generated_pair_id(prompt, model_a, output_a, model_b, output_b)
            id_source = "content"
        gold = {}
        if gold_columns:
            gold = _gold_answers(values, gold_columns, dimensions, model_a, model_b, line, errors)
        if errors.total > before:
            continue
        metadata = {k: v for k, v in values.items() if k not in known}
        yield PairRow(
            line, external_id, prompt, model_a, output_a, model_b, output_b, metadata, id_source,
            gold=gold,
        )  # fmt: skip


@dataclass
class _Prompt:
    line: int
    prompt: str
    metadata: dict[str, Any]
    outputs: dict[str, tuple[int, str]] = field(default_factory=dict)  # model -> (line, text)


def _long_pairs(
    records: Records, errors: RowErrors, result: ImportResult, pairing: str, baseline: str
):
    prompts: dict[str, _Prompt] = {}
    for line, values in records:
        result.rows_read += 1
        before = errors.total
        prompt_id = _name(values, "prompt_id", line, errors, numbers=True, what="a prompt id")
        prompt = _text(values, "prompt", line, errors, required=True)
        model = _name(values, "model", line, errors, numbers=False, **MODEL)
        output = _text(values, "output", line, errors, required=False)
        if errors.total > before:
            continue
        group = prompts.get(prompt_id)
        if group is None:
            extra = {k: v for k, v in values.items() if k not in LONG_COLUMNS}
            group = prompts[prompt_id] = _Prompt(line, prompt, {"prompt_id": prompt_id, **extra})
        elif group.prompt != prompt:
            errors.add(
                line,
                "prompt",
                f"prompt_id {prompt_id!r} has a different prompt text on line {group.line}",
            )
            continue
        if model in group.outputs:
            errors.add(
                line,
                "model",
                f"prompt_id {prompt_id!r} already has an output from {model!r} "
                f"on line {group.outputs[model][0]}",
            )
            continue
        group.outputs[model] = (line, output)

    for prompt_id, group in prompts.items():
        models = sorted(group.outputs)
        if pairing == "baseline":
            if baseline not in group.outputs:
                rows = sorted(line for line, _ in group.outputs.values())
                errors.add(
                    group.line,
                    "model",
                    f"prompt_id {prompt_id!r} ({_lines(rows)}) has no output from the "
                    f"baseline model {baseline!r}",
                )
                continue
            model_pairs = [(baseline, m) for m in models if m != baseline]
        else:
            model_pairs = list(combinations(models, 2))
        if not model_pairs:
            result.prompts_without_pair += 1
        for model_a, model_b in model_pairs:
            (line_a, output_a), (line_b, output_b) = group.outputs[model_a], group.outputs[model_b]
            external_id = f"{prompt_id}::{model_a}::{model_b}"
            if len(external_id) > MAX_ID_CHARS:
                errors.add(
                    group.line,
                    "prompt_id",
                    f"the pair id {external_id[:60]!r}... would be {len(external_id)} "
                    f"characters long; the limit is {MAX_ID_CHARS}",
                )
                continue
            yield PairRow(
                min(line_a, line_b),
                external_id,
                group.prompt,
                model_a,
                output_a,
                model_b,
                output_b,
                group.metadata,
                id_source="prompt_id",
                where=_lines(sorted((line_a, line_b))),
            )


def _lines(rows: list[int], limit: int = 10) -> str:
    shown = ", ".join(str(r) for r in rows[:limit])
    more = f" and {len(rows) - limit} more" if len(rows) > limit else ""
    return f"line{'s' if len(rows) > 1 else ''} {shown}{more}"


def _detect_format(header: tuple[int, list[str]], errors: RowErrors) -> str:
    line, columns = header
    present = set(columns)
    if WIDE_MARKERS <= present:
        layout, required = "wide", WIDE_COLUMNS
    elif LONG_MARKERS <= present:
        layout, required = "long", LONG_COLUMNS
    else:
        wide = ", ".join(c for c in WIDE_COLUMNS if c not in present)
        long = ", ".join(c for c in LONG_COLUMNS if c not in present)
        errors.fail(
            line,
            "",
            f"the columns fit neither format: the wide format is missing {wide}; "
            f"the long format is missing {long}",
        )
    missing = [c for c in required if c not in present]
    if missing:
        errors.fail(line, "", f"the {layout} format needs the column(s) {', '.join(missing)}")
    return layout


# -- the pass over the file --------------------------------------------------------------


def _run(experiment, source, pairing: str, name: str, *, write: bool, on_pair=None) -> ImportResult:
    """One pass over the file: checking it, and with `write` also writing its new pairs
    (the caller holds the transaction)."""
    if pairing not in PAIRINGS:
        raise ValueError(f"pairing must be one of {PAIRINGS}, not {pairing!r}")
    errors = RowErrors()
    file_format = sniff_file_format(source, name)
    result = ImportResult(file_format=file_format, pairing=pairing, committed=write)
    try:
        with (
            _open_binary(source) as (stream, guard),
            _PairWriter(experiment) if write else nullcontext() as writer,
            _SeenIds() as seen_ids,
        ):
            result.compressed = guard.compressed
            newline = "" if file_format == "csv" else "\n"
            text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline=newline)
            text._CHUNK_SIZE = TEXT_CHUNK_CHARS
            try:
                read = _read_csv if file_format == "csv" else _read_jsonl
                header, records = read(text, errors, guard)
                pairs = _unique(
                    _pairs(experiment, header, records, pairing, errors, result),
                    errors,
                    seen_ids,
                )
                if on_pair is not None:
                    pairs = _tapped(pairs, on_pair)
                _store_pairs(experiment, pairs, errors, result, writer)
                if errors.total:
                    errors.fail()  # before the writer closes: the COPY is aborted, not ended
            finally:
                # Leave the stream to its owner: a collected TextIOWrapper would close it.
                text.detach()
    except UnicodeDecodeError:
        errors.fail(*_astuple(_locate_bad_utf8(source)))
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        errors.fail(None, "", f"the gzip data is damaged ({exc})")
    except sqlite3.Error as exc:  # _SeenIds' scratch file: the temporary folder is full
        errors.fail(
            None,
            "",
            f"the server could not check the pair ids for repeats ({exc}); nothing was "
            "imported; ask its administrator to free space in the temporary folder",
        )
    if errors.total:
        errors.fail()
    for (model_a, model_b), n in result.pairings.items():
        result.models[model_a] += n
        result.models[model_b] += n
    return result


def _pairs(experiment, header: Header, records: Records, pairing, errors, result):
    if header is None:
        errors.fail(None, "", "the file holds no rows")
    result.format = _detect_format(header, errors)
    if result.format == "wide":
        dimensions = []
        if any(column.startswith(GOLD_PREFIX) for column in header[1]):
            dimensions = list(experiment.dimensions.values_list("name", flat=True))
        return _wide_pairs(records, header[1], errors, result, dimensions)
    if pairing == "baseline" and not experiment.baseline_model:
        errors.fail(
            None,
            "pairing",
            "the experiment has no baseline model; set one in its settings or pair all models",
        )
    return _long_pairs(records, errors, result, pairing, experiment.baseline_model)


def _tapped(pairs: Iterable[PairRow], on_pair) -> Iterator[PairRow]:
    for pair in pairs:
        on_pair(pair)
        yield pair


def _astuple(error: RowError) -> tuple:
    return error.row, error.column, error.message


class _SeenIds:
    """The pair ids met so far in one file, each with the line it was first met on.

    In a temporary SQLite file rather than a dict, so that an import's memory does not grow
    with its number of pairs (bench/README.md). SQLite keeps at most CACHE_KIB in memory
    and the rest in the file (in REVIEWAPP_UPLOAD_DIR), which is removed at the end. Ids are
    compared as their UTF-8 bytes, exactly as the dict compared them."""

    CACHE_KIB = 8192

    def __enter__(self):
        # Next to the uploads waiting for confirmation: a folder sized for files, where
        # remove_stale_uploads also clears what a killed import left behind.
        directory = pending_upload_dir()
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            handle, self.path = tempfile.mkstemp(dir=directory, prefix="pair-ids-", suffix=".ids")
        except OSError as exc:  # reported like SQLite's own "unable to open database file"
            raise sqlite3.OperationalError(f"cannot create a file in {directory}: {exc}") from exc
        os.close(handle)
        self.db = None
        try:
            self.db = sqlite3.connect(self.path, isolation_level=None)
            # A scratch file: no journal, no fsync, one writer.
            self.db.executescript(
                f"""
                PRAGMA journal_mode = OFF;
                PRAGMA synchronous = OFF;
                PRAGMA locking_mode = EXCLUSIVE;
                PRAGMA cache_size = -{self.CACHE_KIB};
                CREATE TABLE seen (id BLOB PRIMARY KEY, line INTEGER NOT NULL) WITHOUT ROWID;
                BEGIN;
                """
            )
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc_info):
        if self.db is not None:
            self.db.close()
        os.unlink(self.path)

    def first_line(self, pair_id: str, line: int) -> int:
        """The line this id was first met on; records it at `line` if it is new."""
        key = pair_id.encode("utf-8", "surrogatepass")
        try:
            self.db.execute("INSERT INTO seen VALUES (?, ?)", (key, line))
        except sqlite3.IntegrityError:
            (first,) = self.db.execute("SELECT line FROM seen WHERE id = ?", (key,)).fetchone()
            return first
        return line


def _unique(pairs: Iterable[PairRow], errors: RowErrors, seen: _SeenIds) -> Iterator[PairRow]:
    for pair in pairs:
        first = seen.first_line(pair.external_id, pair.line)
        if first != pair.line:
            if pair.id_source == "content":
                message = f"repeats line {first} (same prompt, models and outputs)"
            else:
                message = f"pair id {pair.external_id!r} was already used on line {first}"
            errors.add(pair.line, pair.id_source if pair.id_source != "content" else "", message)
            continue
        yield pair


def _batches(items: Iterable, size: int) -> Iterator[list]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def _store_pairs(experiment, pairs, errors: RowErrors, result, writer) -> None:
    """Compares each batch with the pairs already stored (one query a batch; none for an
    experiment without pairs, the first upload's usual case) and counts it. With a writer,
    also writes the batch's new pairs while the file has shown no problem; after one,
    checking goes on (to report every problem) and the caller rolls back."""
    has_pairs = experiment.pairs.exists()
    size = BATCH_SIZE if has_pairs else min(BATCH_SIZE, STREAM_BATCH_SIZE)
    for batch in _batches(pairs, size):
        stored = {}
        if has_pairs:
            if writer is not None:
                writer.pause()  # no query can run during a COPY
            stored = {
                row[0]: row[1:]
                for row in Pair.objects.filter(
                    experiment=experiment, external_id__in=[p.external_id for p in batch]
                ).values_list("external_id", *COMPARED_FIELDS)
            }
        new = []
        for pair in batch:
            old = stored.get(pair.external_id)
            if old is None:
                new.append(pair)
            else:
                differing = [
                    name
                    for name, value in zip(COMPARED_FIELDS, old, strict=True)
                    if getattr(pair, name) != value
                ]
                if differing:
                    rows = f" ({pair.where})" if pair.where else ""
                    errors.add(
                        pair.line,
                        differing[0],
                        f"pair id {pair.external_id!r}{rows} is already in this experiment "
                        f"with a different {_and(differing)}; give changed pairs a new id",
                    )
                    continue
                result.pairs_unchanged += 1
            _tally(result, pair)
        result.pairs_created += len(new)
        if writer is not None and not errors.total:
            writer.write(new)


def _tally(result: ImportResult, pair: PairRow) -> None:
    # result.models is summed from the pairings at the end of the pass.
    result.pairings[(pair.model_a, pair.model_b)] += 1
    result.empty_outputs_a += pair.output_a == ""
    result.empty_outputs_b += pair.output_b == ""
    result.gold_pairs += pair.is_gold
    if len(result.first_rows) < PREVIEW_ROWS:
        result.first_rows.append(pair)


# The columns an upload fills row by row; COPY gives every other column its field's default,
# as bulk_create would.
ROW_COLUMNS = (
    "experiment_id", "external_id", "prompt", "model_a", "output_a", "model_b", "output_b",
    "metadata", "shuffle_key", "is_gold", "gold",
)  # fmt: skip


class _PairWriter:
    """Writes batches of new pairs: with bulk_create, or on PostgreSQL into one COPY stream
    (one per batch when stored pairs are queried between batches).

    Why COPY there: for outputs of a few kB, bulk_create spends several times longer
    escaping and sending the batch than the database spends storing it, and one stream
    lets the database store rows while the next batch is parsed (bench/bench_import.py
    measures both). The caller's transaction covers either way."""

    def __init__(self, experiment: Experiment):
        self.experiment = experiment
        self.defaults = _copy_defaults() if connection.vendor == "postgresql" else None
        self.use_copy = self.defaults is not None
        self.stack = ExitStack()  # the open COPY, its cursor and Django's error wrapper
        self.copy = None
        self.types: list[int] = []  # the COPY's column types, looked up by the first one

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.copy = None
        return self.stack.__exit__(*exc_info)

    def pause(self) -> None:
        """Ends the COPY stream, so that a query can run; the next write starts another."""
        if self.copy is not None:
            self.copy = None
            self.stack.close()

    def write(self, pairs: list[PairRow]) -> None:
        if not pairs:
            return
        seed, experiment_id = self.experiment.seed, self.experiment.pk
        if not self.use_copy:
            Pair.objects.bulk_create(
                [
                    Pair(
                        experiment=self.experiment,
                        external_id=p.external_id,
                        prompt=p.prompt,
                        model_a=p.model_a,
                        output_a=p.output_a,
                        model_b=p.model_b,
                        output_b=p.output_b,
                        metadata=p.metadata,
                        shuffle_key=pair_shuffle_key(seed, p.external_id),
                        is_gold=p.is_gold,
                        gold=p.gold,
                    )
                    for p in pairs
                ],
                batch_size=BATCH_SIZE,
            )
            return
        if self.copy is None:
            self._start_copy()
        write_row, defaults = self.copy.write_row, tuple(self.defaults.values())
        for p in pairs:
            write_row(
                (
                    experiment_id, p.external_id, p.prompt, p.model_a, p.output_a, p.model_b,
                    p.output_b, p.metadata, pair_shuffle_key(seed, p.external_id), p.is_gold,
                    p.gold, *defaults,
                )
            )  # fmt: skip

    def _start_copy(self) -> None:
        """Binary COPY: each value is sent in its column type's own format, so neither side
        escapes or scans the texts (cheaper on both sides than the text format;
        bench/README.md)."""
        from psycopg.types.json import set_json_dumps  # only installed where PostgreSQL is used

        # Django's error wrapper turns psycopg's unique violation into IntegrityError.
        self.stack.enter_context(connection.wrap_database_errors)
        cursor = self.stack.enter_context(connection.cursor()).cursor  # psycopg's own
        table = connection.ops.quote_name(Pair._meta.db_table)
        columns = [*ROW_COLUMNS, *self.defaults]
        if not self.types:
            _prefer_lz4(cursor)
            self.types = _column_types(cursor, table, columns)
        set_json_dumps(_json, context=cursor)
        sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT binary)"
        self.copy = self.stack.enter_context(cursor.copy(sql))
        self.copy.set_types(self.types)


def _column_types(cursor, table: str, columns: list[str]) -> list[int]:
    """The type oid of each column, in the given order."""
    cursor.execute(
        "SELECT attname, atttypid FROM pg_attribute"
        " WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
        [table],
    )
    oids = dict(cursor.fetchall())
    return [oids[column] for column in columns]


def _prefer_lz4(cursor) -> None:
    """Compresses the long texts of this transaction with lz4 where the server has it.

    PostgreSQL compresses a row's long values as it stores them, by default with pglz,
    which took much of the server's time for a whole import; lz4 is faster both ways for
    a little more space (figures in bench/README.md). The values read back the same either
    way; servers built without lz4 keep
    their default."""
    cursor.execute(
        "SELECT set_config(name, 'lz4', true) FROM pg_settings"
        " WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)"
    )


def _json(value: Any) -> str:
    # Most pairs have no gold answers (and some no metadata): no need to run the encoder.
    return "{}" if value == {} else json.dumps(value)


def _copy_defaults() -> dict[str, Any] | None:
    """{column: database value} for the columns an upload leaves to their defaults; None
    (use bulk_create) if one of them has no default or the model lost a column we fill."""
    fields = [f for f in Pair._meta.concrete_fields if not f.primary_key]
    if not set(ROW_COLUMNS) <= {f.column for f in fields}:
        return None
    defaults = {}
    for f in fields:
        if f.column in ROW_COLUMNS:
            continue
        if not f.has_default():
            return None
        defaults[f.column] = f.get_db_prep_save(f.get_default(), connection)
    return defaults


# -- files waiting for the owner's confirmation (web upload) -------------------------------

PENDING_MAX_AGE_SECONDS = 24 * 60 * 60
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def pending_upload_dir() -> Path:
    """settings.REVIEWAPP_UPLOAD_DIR, by default a folder in the system's temporary directory."""
    default = Path(tempfile.gettempdir()) / "reviewapp-uploads"
    return Path(getattr(settings, "REVIEWAPP_UPLOAD_DIR", None) or default)


def save_pending_upload(chunks: Iterable[bytes]) -> str:
    """Writes an uploaded file to disk under a new random token; returns the token.
    Files older than a day (abandoned previews) are removed on the way."""
    directory = pending_upload_dir()
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    remove_stale_uploads(directory)
    token = secrets.token_urlsafe(24)
    with open(directory / f"{token}.upload", "xb") as out:
        for chunk in chunks:
            out.write(chunk)
    return token


def pending_upload_path(token: str) -> Path | None:
    """The stored file for a token, or None when the token is malformed or the file gone."""
    if not (20 <= len(token) <= 64) or not set(token) <= _TOKEN_CHARS:
        return None
    path = pending_upload_dir() / f"{token}.upload"
    return path if path.is_file() else None


def discard_pending_upload(token: str) -> None:
    if path := pending_upload_path(token):
        path.unlink(missing_ok=True)


def remove_stale_uploads(directory: Path) -> None:
    """Removes uploads nobody confirmed, and pair-id scratch files (_SeenIds) of imports
    that were killed, once untouched for PENDING_MAX_AGE_SECONDS."""
    cutoff = time.time() - PENDING_MAX_AGE_SECONDS
    for pattern in ("*.upload", "*.ids"):
        for path in directory.glob(pattern):
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
            except FileNotFoundError:  # another worker removed it first
                pass


def _and(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'s' if n != 1 else ''}"


def _format_bytes(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:,} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n} bytes"


__all__ = [
    "ImportResult",
    "PairRow",
    "RowError",
    "UploadError",
    "check_upload_size",
    "discard_pending_upload",
    "generated_pair_id",
    "import_upload",
    "pending_upload_path",
    "preview_upload",
    "save_pending_upload",
    "sniff_file_format",
]
