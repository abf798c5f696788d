"""Upload stage, the importer: an upload file -> the experiment's new pairs, all or nothing.

One streaming pass: upload_files reads the records, upload_parser makes them rows or row
errors, and here each batch of rows is compared with the stored pairs. A preview stops
there; an import, in one transaction, also writes each batch's new pairs until the file
shows a problem, which rolls everything back. Memory holds one batch (wide format); the
ids seen so far, to catch repeats, and a long file's outputs grouped by prompt, go to a
scratch SQLite file (upload_scratch.py).
"""

import json
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass, field
from itertools import islice
from operator import attrgetter

from django.db import IntegrityError, connection, transaction

from .experiments import recount_pairs
from .models import Experiment, Pair, pair_shuffle_key
from .upload_files import Source, open_records
from .upload_parser import (
    PAIRINGS,
    PairRow,
    RowError,
    RowErrors,
    UploadError,
    has_gold_columns,
    parse_pairs,
)
from .upload_scratch import UploadScratch

BATCH_SIZE = 2_000
# Without stored pairs to compare with, batches are smaller, so that the import sends each
# to the database while it parses the next. A batch of 2,000 pairs of a few kB is megabytes
# sent in a burst, with one side waiting for the other (bench/README.md).
STREAM_BATCH_SIZE = 100
PREVIEW_ROWS = 10
# Compared when a pair id is uploaded again (the id itself is the key).
COMPARED_FIELDS = tuple(name for name in Pair.UPLOAD_FIELDS if name != "external_id")
# What the import writes for each pair: the upload's fields, then what it derives.
WRITTEN_FIELDS = ("experiment", *Pair.UPLOAD_FIELDS, "shuffle_key")
_upload_values = attrgetter(*Pair.UPLOAD_FIELDS)


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
    values_as_text: int = 0  # JSON numbers and booleans in text columns, read as text
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
        if n := self.pairs_unchanged:
            were = "were" if n != 1 else "was"
            parts.append(f"{_count(n, 'pair')} {were} already present and unchanged.")
        if self.empty_outputs_a or self.empty_outputs_b:
            a, b = self.empty_outputs_a, self.empty_outputs_b
            parts.append(f"Empty outputs: {a:,} on side A, {b:,} on side B.")
        if self.gold_pairs:
            parts.append(f"{_count(self.gold_pairs, 'gold pair')} (attention checks).")
        if n := self.prompts_without_pair:
            parts.append(f"{_count(n, 'prompt')} answered by one model only gave no pair.")
        if n := self.values_as_text:
            parts.append(f"Warning: {n:,} JSON number(s)/boolean(s) in text columns read as text.")
        return " ".join(parts)


def preview_upload(
    experiment: Experiment, source: Source, pairing: str = "all", *, name: str = "",
    on_pair: Callable[[PairRow], None] | None = None,
) -> ImportResult:  # fmt: skip
    """Validate the whole file against the experiment and describe it, writing nothing.
    Raises UploadError listing the problems. `name` (the original file name) only helps
    to tell JSONL from CSV when the content does not (see `sniff_file_format`). `on_pair`
    sees every pair as it is read (e.g. to look for identity leaks) without holding them."""
    return _run(experiment, source, pairing, name, write=False, on_pair=on_pair)


def import_upload(
    experiment: Experiment, source: Source, pairing: str = "all", *, name: str = "",
    on_pair: Callable[[PairRow], None] | None = None,
) -> ImportResult:  # fmt: skip
    """Validate the whole file and import its new pairs, in one transaction.

    Pairs whose id is already in the experiment with the same content are skipped, so
    re-uploading a file is harmless; any problem (including a pair id already present
    with different content) raises UploadError and rolls back the pairs already sent."""
    try:
        with transaction.atomic():
            result = _run(experiment, source, pairing, name, write=True, on_pair=on_pair)
            recount_pairs(experiment)  # the review screen's progress reads the stored counts
            return result
    except IntegrityError as exc:
        # Only reachable if someone else added pairs with the same ids during the import
        # (the file's own duplicates are errors before anything is written).
        message = "some of these pairs were added meanwhile by someone else; upload the file again"
        raise UploadError([RowError(None, "", message)]) from exc


def batches(items: Iterable, size: int = BATCH_SIZE) -> Iterator[list]:
    """Lists of up to `size` items, taken from any iterable as they are needed."""
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def _run(experiment, source, pairing, name, *, write: bool, on_pair=None) -> ImportResult:
    """One pass over the file: checking it, and with `write` also writing its new pairs
    (the caller holds the transaction)."""
    if pairing not in PAIRINGS:
        raise ValueError(f"pairing must be one of {PAIRINGS}, not {pairing!r}")
    errors = RowErrors()
    result = ImportResult(pairing=pairing, committed=write)
    try:
        with (
            open_records(source, errors, name=name) as records,
            _PairWriter(experiment) if write else nullcontext() as writer,
            UploadScratch() as scratch,
        ):
            result.file_format, result.compressed = records.file_format, records.compressed
            dimensions = []
            if records.header and has_gold_columns(records.header[1]):
                dimensions = list(experiment.dimensions.values_list("name", flat=True))
            parsed = parse_pairs(
                records.header, records.rows, errors, pairing=pairing, dimensions=dimensions,
                baseline=experiment.baseline_model, groups=scratch,
            )  # fmt: skip
            result.format = parsed.format
            rows = _unique(parsed.rows, errors, scratch, on_pair)
            _store_pairs(experiment, rows, errors, result, writer)
            errors.fail_if_any()  # before the writer closes: the COPY is aborted, not ended
    except sqlite3.Error as exc:  # the scratch file: the temporary folder is full
        errors.fail(
            None, "", f"the server could not check the pair ids for repeats ({exc}); nothing "
            "was imported; ask its administrator to free space in the temporary folder",
        )  # fmt: skip
    result.rows_read, result.prompts_without_pair = parsed.rows_read, parsed.prompts_without_pair
    result.values_as_text = errors.values_as_text
    for (model_a, model_b), n in result.pairings.items():
        result.models[model_a] += n
        result.models[model_b] += n
    return result


def _unique(
    rows: Iterable[PairRow], errors: RowErrors, seen: UploadScratch, on_pair=None
) -> Iterator[PairRow]:
    """The rows whose pair id is new, each shown to `on_pair` first when given."""
    for row in rows:
        first = seen.first_line(row.external_id, row.line)
        if first != row.line:
            if row.id_source == "content":
                message = f"repeats line {first} (same prompt, models and outputs)"
            else:
                message = f"pair id {row.external_id!r} was already used on line {first}"
            errors.add(row.line, row.id_source if row.id_source != "content" else "", message)
            continue
        if on_pair is not None:
            on_pair(row)
        yield row


def _store_pairs(experiment, rows, errors: RowErrors, result: ImportResult, writer) -> None:
    """Compares each batch with the stored pairs (one query a batch; none while there are
    none) and counts it; with a writer, writes its new pairs until the file shows a problem,
    after which checking goes on (to report every problem) and the caller rolls back."""
    has_pairs = experiment.pairs.exists()
    for batch in batches(rows, BATCH_SIZE if has_pairs else min(BATCH_SIZE, STREAM_BATCH_SIZE)):
        stored = {}
        if has_pairs:
            if writer is not None:
                writer.pause()  # no query can run during a COPY
            stored = {
                values[0]: values[1:]
                for values in Pair.objects.filter(
                    experiment=experiment, external_id__in=[row.external_id for row in batch]
                ).values_list("external_id", *COMPARED_FIELDS)
            }
        new = []
        for row in batch:
            old = stored.get(row.external_id)
            if old is None:
                new.append(row)
            else:
                differing = [
                    name
                    for name, value in zip(COMPARED_FIELDS, old, strict=True)
                    if getattr(row, name) != value
                ]
                if differing:
                    lines = f" ({row.where})" if row.where else ""
                    errors.add(
                        row.line, differing[0], f"pair id {row.external_id!r}{lines} is already "
                        f"in this experiment with a different {_and(differing)}; give changed "
                        "pairs a new id",
                    )  # fmt: skip
                    continue
                result.pairs_unchanged += 1
            # result.models is summed from the pairings at the end of the pass.
            result.pairings[(row.model_a, row.model_b)] += 1
            result.empty_outputs_a += row.output_a == ""
            result.empty_outputs_b += row.output_b == ""
            result.gold_pairs += row.is_gold
            if len(result.first_rows) < PREVIEW_ROWS:
                result.first_rows.append(row)
        result.pairs_created += len(new)
        if writer is not None and not errors.total:
            writer.write(new)


def _copy_available() -> bool:
    return connection.vendor == "postgresql"


class _PairWriter:
    """Writes batches of new pairs (WRITTEN_FIELDS, every other column its default): with
    bulk_create, or on PostgreSQL into one binary COPY stream (one per batch when stored
    pairs are queried between batches). The caller's transaction covers either way.

    Why the hand-written COPY (all of the import's SQL is here): bulk_create spends longer
    building and sending a batch than the database spends storing it. At 100,000 pairs the
    import ran at 0.68 of a plain COPY of its rows with this writer (30,200 pairs/s, peak
    74 MiB), 0.13 with bulk_create (5,900 pairs/s, 319 MiB), medians of 3 runs; target 0.5
    (`DATABASE_URL=postgres://postgres@127.0.0.1:5432/reviewapp_bench DEBUG=1
    .venv/bin/python bench/bench_import.py --pairs 100000 --runs 3 --bulk-create`, 2026-12-03;
    bench/README.md, Import)."""

    def __init__(self, experiment: Experiment):
        self.experiment = experiment
        self.use_copy = _copy_available()
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

    def write(self, rows: list[PairRow]) -> None:
        if not rows:
            return
        seed, experiment = self.experiment.seed, self.experiment
        if not self.use_copy:
            Pair.objects.bulk_create(
                [
                    Pair(
                        experiment=experiment,
                        shuffle_key=pair_shuffle_key(seed, row.external_id),
                        **dict(zip(Pair.UPLOAD_FIELDS, _upload_values(row), strict=True)),
                    )
                    for row in rows
                ],
                batch_size=BATCH_SIZE,
            )
            return
        if self.copy is None:
            self._start_copy()
        write_row, defaults = self.copy.write_row, self.defaults
        for row in rows:
            key = pair_shuffle_key(seed, row.external_id)
            write_row((experiment.pk, *_upload_values(row), key, *defaults))

    def _start_copy(self) -> None:
        """Binary COPY, no escaping: 15 % less database time, 5 % less of ours than the text
        format (bench_import.py); it needs the column types, read from pg_attribute."""
        from psycopg.types.json import set_json_dumps  # only installed where PostgreSQL is used

        # Django's error wrapper turns psycopg's unique violation into IntegrityError.
        self.stack.enter_context(connection.wrap_database_errors)
        cursor = self.stack.enter_context(connection.cursor()).cursor  # psycopg's own
        table = connection.ops.quote_name(Pair._meta.db_table)
        written = [Pair._meta.get_field(name) for name in WRITTEN_FIELDS]
        # The columns the upload leaves alone get what bulk_create would give them.
        rest = [f for f in Pair._meta.concrete_fields if not f.primary_key and f not in written]
        self.defaults = tuple(f.get_db_prep_save(f.get_default(), connection) for f in rest)
        columns = [f.column for f in written + rest]
        if not self.types:
            _prefer_lz4(cursor)
            cursor.execute(
                "SELECT attname, atttypid FROM pg_attribute"
                " WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
                [table],
            )
            oids = dict(cursor.fetchall())
            self.types = [oids[column] for column in columns]
        set_json_dumps(_json, context=cursor)
        sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT binary)"
        self.copy = self.stack.enter_context(cursor.copy(sql))
        self.copy.set_types(self.types)


def _prefer_lz4(cursor) -> None:
    """lz4 for this transaction's long texts where the server has it: the default, pglz,
    took a third of the server's time for a whole import (bench_import.py); lz4 saves it
    for about 10 % more space. Servers built without lz4 keep their default."""
    cursor.execute(
        "SELECT set_config(name, 'lz4', true) FROM pg_settings"
        " WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)"
    )


def _json(value) -> str:
    # Most pairs have no gold answers (and some no metadata): no need to run the encoder.
    return "{}" if value == {} else json.dumps(value)


def _and(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'s' if n != 1 else ''}"
