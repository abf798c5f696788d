"""Upload parser: records -> pair rows, or row errors. No database, no files: pure.

Streaming: a wide file gives its rows as its records arrive; a long file groups its records
by prompt until the end, since a prompt's outputs may be anywhere in it: in the `groups`
the importer passes (upload_scratch: on disk, so memory does not grow with the file). The row type,
PairRow, is built from Pair.UPLOAD_FIELDS, the one list of the fields an upload fills.

Also the row-error vocabulary both importers share (uploads.py, judgment_import.py).
"""

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, make_dataclass
from itertools import combinations
from typing import Any

from .models import Pair
from .upload_hints import header_hint, json_type  # json_type: upload_files imports it here

MAX_SHOWN_ERRORS = 20
MAX_ID_CHARS = Pair._meta.get_field("external_id").max_length
MAX_MODEL_CHARS = Pair._meta.get_field("model_a").max_length
PAIRINGS = ("all", "baseline")
WIDE_COLUMNS = ("prompt", "model_a", "output_a", "model_b", "output_b")
WIDE_MARKERS = {"model_a", "output_a", "model_b", "output_b"}
LONG_COLUMNS = ("prompt_id", "prompt", "model", "output")
LONG_MARKERS = {"prompt_id", "model", "output"}
KNOWN_COLUMNS = {"pair_id", *WIDE_COLUMNS, *LONG_COLUMNS}
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
            f"{self.refusal}: {n:,} problem{'s' if n != 1 else ''} "
            "(line numbers count the lines of the file, a CSV header is line 1)."
        ]
        lines += [f"- {error}" for error in self.errors]
        if self.n_more:
            lines.append(f"- and {self.n_more:,} more.")
        return "\n".join(lines)


class RowErrors:
    """Collects row errors: the first few in full, the rest counted. `fail` raises them as
    `error_class` (each importer words its refusal)."""

    def __init__(self, error_class: type[UploadError] = UploadError):
        self.error_class = error_class
        self.shown: list[RowError] = []
        self.total = 0
        self.values_as_text = 0  # a warning: JSON numbers and booleans read as text

    def add(self, row: int | None, column: str, message: str) -> None:
        self.total += 1
        if len(self.shown) < MAX_SHOWN_ERRORS:
            self.shown.append(RowError(row, column, message))

    def fail(self, row: int | None = None, column: str = "", message: str = ""):
        if message:
            self.total += 1
            self.shown.append(RowError(row, column, message))
        raise self.error_class(self.shown, self.total)

    def fail_if_any(self) -> None:
        if self.total:
            self.fail()


# One pair as read from the file, before it touches the database: the upload fields, built
# by keyword (a field added to the list is required here at once), and where it came from.
PairRow = make_dataclass(
    "PairRow",
    [
        ("line", int),
        *((name, Any) for name in Pair.UPLOAD_FIELDS),
        # pair_id, content (a generated id) or prompt_id (long format): names the repeats
        ("id_source", str, field(default="pair_id")),
        ("where", str, field(default="")),  # long format: "lines 3 and 7"
    ],
    kw_only=True,
    slots=True,
)


@dataclass
class ParsedPairs:
    """A file's pairs, read as they are asked for, and what reading them counted."""

    format: str  # wide / long
    rows: Iterator = iter(())
    rows_read: int = 0
    prompts_without_pair: int = 0  # long format: prompts answered by a single model


def parse_pairs(
    header: tuple[int, list[str]] | None,
    records: Iterable[tuple[int, dict]],
    errors: RowErrors,
    *,
    pairing: str = "all",
    dimensions: list[str] = (),
    baseline: str = "",
    groups=None,
) -> ParsedPairs:
    """The pairs of a file's records. `dimensions` (the experiment's) name the gold columns;
    `baseline` is the model the "baseline" pairing puts against every other; `groups` keeps
    a long file's outputs until its end (upload_scratch.UploadScratch: on disk)."""
    if header is None:
        errors.fail(None, "", "the file holds no rows")
    parsed = ParsedPairs(_detect_format(header, errors))
    if parsed.format == "wide":
        parsed.rows = _wide_pairs(records, header[1], errors, parsed, dimensions)
    else:
        if pairing == "baseline" and not baseline:
            message = (
                "the experiment has no baseline model; set one in its settings or pair all models"
            )
            errors.fail(None, "pairing", message)
        parsed.rows = _long_pairs(records, errors, parsed, pairing, baseline, groups)
    return parsed


def has_gold_columns(columns: list[str]) -> bool:
    return any(column.startswith(GOLD_PREFIX) for column in columns)


def generated_pair_id(prompt: str, model_a: str, output_a: str, model_b: str, output_b: str) -> str:
    """A deterministic id from the content, so re-uploading a file without ids is idempotent."""
    digest = hashlib.blake2b(digest_size=12)
    for part in (prompt, model_a, output_a, model_b, output_b):
        data = part.encode()
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return f"h-{digest.hexdigest()}"


def _detect_format(header: tuple[int, list[str]], errors: RowErrors) -> str:
    line, columns = header
    present = set(columns)
    if WIDE_MARKERS <= present:
        layout, required = "wide", WIDE_COLUMNS
    elif LONG_MARKERS <= present:
        layout, required = "long", LONG_COLUMNS
    else:
        wide = [c for c in WIDE_COLUMNS if c not in present]
        long = [c for c in LONG_COLUMNS if c not in present]
        errors.fail(
            line, "", f"the columns fit neither format: the wide format is missing "
            f"{', '.join(wide)}; the long format is missing {', '.join(long)}; "
            f"{header_hint(columns, wide, long, known=KNOWN_COLUMNS)}",
        )  # fmt: skip
    if missing := [c for c in required if c not in present]:
        errors.fail(
            line, "", f"the {layout} format needs the column(s) {', '.join(missing)}; "
            f"{header_hint(columns, missing, known=KNOWN_COLUMNS)}",
        )  # fmt: skip
    return layout


def _a_json_type(value: Any) -> str:
    """The JSON type with its article, for "expected a string, got an array"."""
    kind = json_type(value)
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def _text(values: dict, column: str, line: int, errors: RowErrors, *, required: bool) -> str | None:
    """A text cell; `required` refuses empty or blank text."""
    if column not in values:
        errors.add(line, column, "is missing")
        return None
    value = values[column]
    if isinstance(value, bool | int | float):  # JSON true or 3: taken as the text written
        value = json.dumps(value)
        errors.values_as_text += 1
    elif not isinstance(value, str):
        hint = ' (an empty output is written "")' if column.startswith("output") else ""
        errors.add(line, column, f"expected a string, got {_a_json_type(value)}{hint}")
        return None
    if required and (not value or value.isspace()):
        errors.add(line, column, "is empty; expected text")
        return None
    return value


def _name(
    values: dict, column: str, line: int, errors: RowErrors, *, numbers: bool, what: str,
    max_chars: int = MAX_ID_CHARS,
) -> str | None:  # fmt: skip
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
        errors.add(line, column, f"is {len(value):,} characters long; the limit is {max_chars:,}")
        return None
    return value


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
            expected = f"expected {model_a!r}, {model_b!r} or 'tie'"
            errors.add(line, column, f"is {str(raw)[:60]!r}; {expected}")
            continue
        for name in [dimension] if dimension else dimensions:
            # A per-dimension column wins over gold_winner for its dimension.
            if dimension or name not in answers:
                answers[name] = answer
    return answers


def _wide_pairs(records, columns: list[str], errors: RowErrors, parsed: ParsedPairs, dimensions):
    has_id = "pair_id" in columns
    gold_columns = _gold_columns(columns, dimensions, errors)
    known = {"pair_id", *WIDE_COLUMNS, *gold_columns}
    for line, values in records:
        parsed.rows_read += 1
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
        yield PairRow(
            line=line, id_source=id_source, external_id=external_id, prompt=prompt,
            model_a=model_a, output_a=output_a, model_b=model_b, output_b=output_b,
            metadata={k: v for k, v in values.items() if k not in known},
            is_gold=bool(gold), gold=gold,
        )  # fmt: skip


def _long_pairs(records, errors, parsed, pairing: str, baseline: str, groups):
    for line, values in records:
        parsed.rows_read += 1
        before = errors.total
        prompt_id = _name(values, "prompt_id", line, errors, numbers=True, what="a prompt id")
        prompt = _text(values, "prompt", line, errors, required=True)
        model = _name(values, "model", line, errors, numbers=False, **MODEL)
        output = _text(values, "output", line, errors, required=False)
        if errors.total > before:
            continue
        extra = {k: v for k, v in values.items() if k not in LONG_COLUMNS}
        first, same_prompt = groups.prompt_line(
            prompt_id, line, prompt, {"prompt_id": prompt_id, **extra}
        )
        if not same_prompt:
            message = f"prompt_id {prompt_id!r} has a different prompt text on line {first}"
            errors.add(line, "prompt", message)
            continue
        if (earlier := groups.add_output(prompt_id, model, line, output)) != line:
            errors.add(
                line, "model", f"prompt_id {prompt_id!r} already has an output from {model!r} "
                f"on line {earlier}",
            )  # fmt: skip
            continue

    for prompt_id, first_line, prompt, metadata, outputs in groups.groups():
        models = sorted(outputs)
        if pairing == "baseline":
            if baseline not in outputs:
                rows = sorted(line for line, _ in outputs.values())
                errors.add(
                    first_line, "model", f"prompt_id {prompt_id!r} ({_lines(rows)}) has no "
                    f"output from the baseline model {baseline!r}",
                )  # fmt: skip
                continue
            model_pairs = [(baseline, m) for m in models if m != baseline]
        else:
            model_pairs = list(combinations(models, 2))
        if not model_pairs:
            parsed.prompts_without_pair += 1
        for model_a, model_b in model_pairs:
            (line_a, output_a), (line_b, output_b) = outputs[model_a], outputs[model_b]
            external_id = f"{prompt_id}::{model_a}::{model_b}"
            if len(external_id) > MAX_ID_CHARS:
                errors.add(
                    first_line, "prompt_id", f"the pair id {external_id[:60]!r}... would be "
                    f"{len(external_id)} characters long; the limit is {MAX_ID_CHARS}",
                )  # fmt: skip
                continue
            yield PairRow(
                line=min(line_a, line_b), id_source="prompt_id",
                where=_lines(sorted((line_a, line_b))), external_id=external_id,
                prompt=prompt, model_a=model_a, output_a=output_a, model_b=model_b,
                output_b=output_b, metadata=metadata, is_gold=False, gold={},
            )  # fmt: skip


def _lines(rows: list[int], limit: int = 10) -> str:
    shown = ", ".join(str(r) for r in rows[:limit])
    more = f" and {len(rows) - limit} more" if len(rows) > limit else ""
    return f"line{'s' if len(rows) > 1 else ''} {shown}{more}"
