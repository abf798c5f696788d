"""Upload files: the bytes of a CSV or JSONL upload (optionally gzip) -> records, or errors.

A record is (line, {column: value}): a CSV row under its header, or one JSON object. Sizes
are capped before reading and while decompressing, lines may not outgrow memory, text must
be UTF-8. Line numbers count the lines of the decompressed file from 1 (a CSV header is
line 1; a CSV row with quoted newlines is named by its first line); an Excel or UTF-16 file
is named as such (upload_hints). Both importers read here (uploads.py, judgment_import.py);
the upload page keeps files here until confirmed.
"""

import codecs
import gzip
import io
import json
import math
import os
import secrets
import tempfile
import time
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any, BinaryIO

from django.conf import settings

from .upload_guards import MAX_COLUMNS, json_line_fits, read_csv_records
from .upload_hints import foreign_file_message
from .upload_parser import RowError, RowErrors, UploadError, json_type

# Outputs can be 100k+ characters; the csv module's default cap (128 KiB) is too small,
# an unbounded one lets a single cell take all memory.
MAX_CELL_CHARS = 16 * 1024 * 1024
# A JSONL line is a whole pair (prompt and both outputs); a longer line is refused before
# it is held in memory.
MAX_LINE_BYTES = 64 * 1024 * 1024
CHUNK_BYTES = 1024 * 1024
# Text decoded per read: the fastest size measured (bench/README.md).
TEXT_CHUNK_CHARS = 64 * 1024
GZIP_MAGIC = b"\x1f\x8b"
# Metadata deeper than this is refused: nobody needs it, and every reader of the stored JSON
# (Python's json, the database) has a recursion limit of its own.
MAX_JSON_DEPTH = 100
NUL_MESSAGE = "contains a NUL character (0x00), which the database cannot store"

Source = str | os.PathLike | BinaryIO
Record = tuple[int, dict[str, Any]]


class _GuardedReader(io.RawIOBase):
    """Passes bytes through, refusing a stream that inflates past the size limit (a small
    gzip can hold gigabytes) or holds a line too long to be read into memory at once."""

    def __init__(self, raw, max_bytes: int):
        self.raw, self.max_bytes = raw, max_bytes
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
            limit = format_bytes(self.max_bytes)
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
            message = f"a line is longer than {format_bytes(MAX_LINE_BYTES)}"
            raise UploadError([RowError(None, "", message)])
        return n


@contextmanager
def _open_binary(source: Source) -> Iterator[tuple[BinaryIO, _GuardedReader, bool]]:
    """(content, guard, compressed): gunzipped when it starts with the gzip magic. `source`
    is a path or a seekable binary file (read more than once, left open)."""
    owned = isinstance(source, str | os.PathLike)
    raw = open(source, "rb") if owned else source  # noqa: SIM115 - closed below
    try:
        raw.seek(0, io.SEEK_END)
        check_upload_size(raw.tell())
        raw.seek(0)
        head = raw.read(8)
        if foreign := foreign_file_message(head):  # an Excel file renamed .csv, UTF-16 text
            raise UploadError([RowError(None, "", foreign)])
        compressed = head[:2] == GZIP_MAGIC
        raw.seek(0)
        content = gzip.GzipFile(fileobj=raw, mode="rb") if compressed else raw
        guard = _GuardedReader(content, settings.REVIEWAPP_MAX_UPLOAD_BYTES)
        yield io.BufferedReader(guard, buffer_size=CHUNK_BYTES), guard, compressed
    finally:
        if owned:
            raw.close()


def check_upload_size(size: int) -> None:
    """Refuses a file over settings.REVIEWAPP_MAX_UPLOAD_BYTES before anything reads it."""
    limit = settings.REVIEWAPP_MAX_UPLOAD_BYTES
    if size > limit:
        message = f"the file is {format_bytes(size)}; the upload limit is {format_bytes(limit)}"
        raise UploadError([RowError(None, "", message)])


def sniff_file_format(source: Source, name: str = "") -> str:
    """ "jsonl" when the first non-blank character is "{" or, failing that, when the name ends
    in .jsonl/.ndjson (optionally .gz); otherwise "csv". Damaged gzip data raises here."""
    with _open_binary(source) as (stream, _, _):
        while chunk := stream.read(64 * 1024):
            if stripped := chunk.lstrip(b" \t\r\n\xef\xbb\xbf"):
                if stripped[:1] == b"{":
                    return "jsonl"
                break
    base = name.lower().removesuffix(".gz")
    return "jsonl" if base.endswith((".jsonl", ".ndjson")) else "csv"


def _locate_bad_utf8(source: Source) -> tuple[int, str, str]:
    """Re-reads the bytes to name where decoding failed (the text reader only knows its chunk)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset, newlines = 0, 0
    with _open_binary(source) as (stream, _, _):
        while chunk := stream.read(1 << 20):
            pending = decoder.getstate()[0]
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                line = newlines + (pending + chunk)[: exc.start].count(b"\n") + 1
                offset += exc.start - len(pending)
                break
            newlines += chunk.count(b"\n")
            offset += len(chunk)
        else:
            line, offset = newlines + 1, offset - len(decoder.getstate()[0])
    where = f"the byte at offset {offset:,} (counting from 0)"
    return line, "", f"{where} is not valid UTF-8; save the file as UTF-8"


@dataclass
class Records:
    """An opened upload: the header (line, names; None without rows), the records (lazily)."""

    file_format: str  # csv / jsonl
    compressed: bool
    header: tuple[int, list[str]] | None
    rows: Iterator[Record]


@contextmanager
def open_records(
    source: Source, errors: RowErrors, *, name: str = "", file_format: str = ""
) -> Iterator[Records]:
    """The upload's records (CSV or JSONL, as sniffed unless `file_format` is given). Damaged
    gzip data and text that is not UTF-8, met while the caller reads, become `errors`."""
    try:
        file_format = file_format or sniff_file_format(source, name)
        with _open_binary(source) as (stream, guard, compressed):
            newline = "" if file_format == "csv" else "\n"
            text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline=newline)
            text._CHUNK_SIZE = TEXT_CHUNK_CHARS
            try:
                read = _read_csv if file_format == "csv" else _read_jsonl
                yield Records(file_format, compressed, *read(text, errors, guard))
            finally:
                text.detach()  # leave the stream to its owner: a collected wrapper closes it
    except UnicodeDecodeError:
        errors.fail(*_locate_bad_utf8(source))
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        errors.fail(None, "", f"the gzip data is damaged ({exc})")


def _read_csv(text: io.TextIOBase, errors: RowErrors, guard: _GuardedReader):
    """The header and an iterator of (line, {column: text}); blank lines are skipped, and
    columns without a name (a spreadsheet's index column) dropped."""
    rows = (
        (line, record)
        for line, record in read_csv_records(text, errors, cell_chars=MAX_CELL_CHARS)
        if record  # a blank line is []
    )
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
    unnamed, width = "" in columns, len(columns)

    def records() -> Iterator[Record]:
        for line, record in rows:
            if len(record) != width:
                errors.add(
                    line, "", f"has {len(record)} fields but the header has {width} "
                    "(a quote may be missing or a comma unquoted)",
                )  # fmt: skip
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


def _read_jsonl(text: io.TextIOBase, errors: RowErrors, guard: _GuardedReader):
    """(line, keys) of the first valid object as the header, and an iterator of (line, object).
    A raw NUL byte cannot occur in valid JSON; the escape is checked in _parse_json_line."""
    objects = (
        (line, value)
        for line, raw in enumerate(text, 1)
        if (value := _parse_json_line(line, raw, errors)) is not None
    )
    first = next(objects, None)
    if first is None:
        return None, iter(())
    return (first[0], list(first[1])), chain([first], objects)


def _parse_json_line(line: int, raw: str, errors: RowErrors) -> dict | None:
    if raw.isspace():  # blank lines are skipped (and keep their number)
        return None
    if not json_line_fits(line, raw, errors):
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
        errors.add(line, "", f"is a JSON {json_type(value)}, expected an object {{...}}")
        return None
    if len(value) > MAX_COLUMNS:
        errors.add(line, "", f"has {len(value):,} keys; the limit is {MAX_COLUMNS:,} columns")
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


def _finite_float(text: str) -> float:
    # 1e999 parses as infinity, which JSON (and PostgreSQL's jsonb) cannot hold.
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:40]} is too large a number")
    return value


def _refuse_constant(name: str):
    # Python's json accepts NaN and Infinity; JSON (and PostgreSQL's jsonb) does not.
    raise ValueError(f"{name} is not a JSON value")


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


# -- files waiting for the owner's confirmation (web upload) -------------------------------

PENDING_MAX_AGE_SECONDS = 24 * 60 * 60
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def pending_upload_dir() -> Path:
    """settings.REVIEWAPP_UPLOAD_DIR, by default a folder in the system's temporary directory."""
    default = Path(tempfile.gettempdir()) / "reviewapp-uploads"
    return Path(getattr(settings, "REVIEWAPP_UPLOAD_DIR", None) or default)


def save_pending_upload(chunks: Iterable[bytes]) -> str:
    """Writes an upload to disk under a new random token (returned); day-old ones go."""
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
    """Removes uploads nobody confirmed, and the scratch files (upload_scratch.py) of
    imports that were killed, once untouched for PENDING_MAX_AGE_SECONDS."""
    cutoff = time.time() - PENDING_MAX_AGE_SECONDS
    for pattern in ("*.upload", "*.ids"):
        for path in directory.glob(pattern):
            with suppress(FileNotFoundError):  # another worker removed it first
                if path.stat().st_mtime < cutoff:
                    path.unlink()


def format_bytes(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:,} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
