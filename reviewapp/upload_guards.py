"""Upload guards: how wide a row may be, checked before the row is built in memory.

A parser holds a whole row (a CSV record, a JSON line) at once, and a row's size in memory
is not its size on disk: a 13 MB gzip of 6,000,000 one-letter columns becomes a list of
6,000,000 strings (over a gigabyte), a 40 MB JSON line of numbers a list of 20,000,000.
So a CSV record is counted, field by field, before csv builds it, and a JSON line's values
before json parses it; both by cheap counts first (a comma count), the exact count only
for the rare row the cheap one cannot clear. upload_files reads through these.
"""

import csv
import re
from collections.abc import Iterator

from .upload_parser import RowErrors

# More columns than any pairs file has (pairs have 5-7, plus metadata), few enough that a
# row's field list stays small: a documented limit (docs/owners.md).
MAX_COLUMNS = 1_000
# A row (a CSV record over several lines, or a JSON line) is at most this long: two
# outputs at the cell limit, with room for the rest.
MAX_ROW_CHARS = 64 * 1024 * 1024
# Numbers, booleans, nulls, arrays and objects in one JSON line (strings are bounded by the
# row's length): generous for metadata such as per-token scores, and a few MB in memory.
MAX_JSON_VALUES = 100_000

# The inside of a quoted CSV field up to its closing quote ("" is an escaped quote).
_QUOTED_BODY = re.compile(r'[^"]*(?:""[^"]*)*')
# A JSON string, escapes included.
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')


class _FieldCounter:
    """Counts the delimiters of one CSV record as csv.reader (default dialect) splits it:
    a quote opens a quoted field only at the start of a field, where commas do not count.
    Stops counting past MAX_COLUMNS, so that it costs at most that many steps."""

    def __init__(self):
        self.commas = 0
        self.quoted = False
        self.field_start = True

    def feed(self, line: str) -> None:
        pos, end = 0, len(line)
        while pos < end and self.commas < MAX_COLUMNS:
            if self.quoted:
                pos = _QUOTED_BODY.match(line, pos).end()
                if pos >= end:
                    return
                pos += 1  # the closing quote
                self.quoted, self.field_start = False, False
            elif self.field_start and line[pos] == '"':
                self.quoted, pos = True, pos + 1
            else:
                comma = line.find(",", pos)
                if comma == -1:
                    return
                self.commas += 1
                pos, self.field_start = comma + 1, True


class _CsvLines:
    """The text's lines for csv.reader, refusing a record with more than MAX_COLUMNS fields
    or MAX_ROW_CHARS characters before csv holds it. `next_record` starts a new record."""

    def __init__(self, text, errors: RowErrors):
        self.lines = iter(text)
        self.errors = errors
        self.line = 0  # lines handed out
        self.next_record()

    def next_record(self) -> None:
        self.start = self.line + 1
        self.chars = self.commas = 0
        self.held: list[str] = []  # this record's lines, for an exact count if needed
        self.counter: _FieldCounter | None = None

    def __iter__(self):
        return self

    def __next__(self) -> str:
        line = next(self.lines)
        self.line += 1
        self.chars += len(line)
        if self.chars > MAX_ROW_CHARS:
            self.errors.fail(self.start, "", f"the row is longer than {MAX_ROW_CHARS:,} characters")
        self.commas += line.count(",")
        if self.commas < MAX_COLUMNS:  # every row of an ordinary file stops here
            self.held.append(line)
            return line
        if self.counter is None:
            self.counter = _FieldCounter()
            for held in self.held:
                self.counter.feed(held)
            self.held = []
        self.counter.feed(line)
        if self.counter.commas >= MAX_COLUMNS:
            what = "the header has" if self.start == 1 else "the row has"
            self.errors.fail(self.start, "", f"{what} more than {MAX_COLUMNS:,} columns, the limit")
        return line


def read_csv_records(text, errors: RowErrors, *, cell_chars: int) -> Iterator[tuple[int, list]]:
    """(first line, fields) for each CSV record of `text`; blank lines give []."""
    csv.field_size_limit(cell_chars)  # process-wide; raising it harms no other reader
    lines = _CsvLines(text, errors)
    # strict: an unclosed quote or text after a closing quote is an error, not a guess.
    reader = csv.reader(lines, strict=True)
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            message = str(exc)
            if "field larger than field limit" in message:
                message = f"a cell is longer than {cell_chars:,} characters"
            errors.fail(lines.start, "", f"cannot be read as CSV: {message}")
        yield lines.start, record
        lines.next_record()


def json_line_fits(line: int, raw: str, errors: RowErrors) -> bool:
    """Whether a JSON line holds at most MAX_JSON_VALUES values (outside its strings); if
    not, the error is added. Counts commas and brackets, then, past the limit, again
    without the strings (where commas are text)."""
    if raw.count(",") + raw.count("[") + raw.count("{") < MAX_JSON_VALUES:
        return True
    bare = _JSON_STRING.sub("", raw)
    if bare.count(",") + bare.count("[") + bare.count("{") < MAX_JSON_VALUES:
        return True
    errors.add(line, "", f"holds more than {MAX_JSON_VALUES:,} JSON values, the limit for a line")
    return False
