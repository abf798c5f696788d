"""What a refused file is, in its owner's words: files that are not text (an Excel workbook
renamed .csv), text that is not UTF-8 (UTF-16), and the expected column names nearest to a
header's. Pure functions over bytes and names (nothing of ours imported): the upload modules
and the judgments import word their refusals with them.
"""

from collections.abc import Iterable
from difflib import SequenceMatcher
from typing import Any

SAVE_AS_CSV = (
    "in Excel or LibreOffice use File > Save As > 'CSV UTF-8 (Comma delimited)' and upload that"
)
# The first bytes of files owners upload by mistake, and what they are.
SIGNATURES = (
    (b"PK\x03\x04", "a ZIP archive, such as an Excel workbook (.xlsx), not a CSV or JSONL file"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an Excel 97-2003 workbook (.xls), not a text file"),
    (b"\xff\xfe", "UTF-16 text (it starts with a UTF-16 byte order mark), not UTF-8"),
    (b"\xfe\xff", "UTF-16 text (it starts with a UTF-16 byte order mark), not UTF-8"),
)
MAX_LISTED_COLUMNS = 30
SIMILAR = 0.6  # difflib's ratio from which a found name is offered for an expected one


def foreign_file_message(head: bytes) -> str:
    """What the file is and what to do, when its first bytes are an Excel workbook or UTF-16
    text (without a byte order mark: ASCII letters each beside a NUL byte); else ""."""
    kind = next((kind for magic, kind in SIGNATURES if head.startswith(magic)), "")
    little_endian = len(head) >= 4 and head[1] == head[3] == 0 and head[0] and head[2]
    big_endian = len(head) >= 4 and head[0] == head[2] == 0 and head[1] and head[3]
    if not kind and (little_endian or big_endian):
        kind = "UTF-16 text (every other byte is 0), not UTF-8"
    return f"the file is {kind}: {SAVE_AS_CSV}" if kind else ""


def nearest_names(found: Iterable[str], missing: Iterable[str]) -> list[str]:
    """ "found -> expected?" pairs: each missing expected name with the found column most like
    it (difflib's ratio, at least SIMILAR), no column offered twice, best matches first
    taken; e.g. `output1 -> output_a?` and `output2 -> output_b?`."""
    found = list(found)[:200]  # a header of thousands of columns is not worth comparing
    candidates = sorted(
        (
            (-SequenceMatcher(None, name.lower(), expected).ratio(), i, j, name, expected)
            for i, name in enumerate(found)
            for j, expected in enumerate(missing)
        )
    )
    used_found, used_missing, hints = set(), set(), []
    for negative_ratio, i, j, name, expected in candidates:
        if -negative_ratio < SIMILAR:
            break
        if i not in used_found and j not in used_missing:
            used_found.add(i)
            used_missing.add(j)
            hints.append((j, f"{name} -> {expected}?"))
    return [hint for _, hint in sorted(hints)]


def header_hint(columns: list[str], *missing: Iterable[str], known: Iterable[str] = ()) -> str:
    """ "the header has a, b, c (nearest expected names: ...)": the columns found, and for each
    list of missing names (one per format the file could be in, hinted separately and joined
    by "or") the closest found columns that are not already `known` names."""
    listed = ", ".join(columns[:MAX_LISTED_COLUMNS]) if columns else "no column names"
    if len(columns) > MAX_LISTED_COLUMNS:
        listed += f" and {len(columns) - MAX_LISTED_COLUMNS} more"
    unknown = [c for c in columns if c not in set(known)]
    hints = [", ".join(h) for names in missing if (h := nearest_names(unknown, list(names)))]
    close = f" (nearest expected names: {'; or '.join(hints)})" if hints else ""
    return f"the header has {listed}{close}"


def json_type(value: Any) -> str:
    """A parsed JSON value's type, as JSON names it ("expected a string, got an array")."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"
