"""The minimal judgments format -> the judgments export's cells, checked by the same rules.

Files from other tools rarely carry the export's 13 columns: the published PandaLM rater
file is `pair_id, rater, winner, label_raw`. A file is read in the minimal format when its
header lacks the export's model columns but has `pair_id`, `reviewer` (or `rater`) and
`winner`; each of its rows becomes the cells of an export row, with `model_a` and `model_b`
taken from the experiment's pair, so that judgment_import checks and writes it exactly as it
would an exported file (one validator, one writer).

Minimal columns: `pair_id`, `reviewer` or `rater`, `winner` (model_a's or model_b's name,
`tie`, or `a` / `b` for model_a / model_b), and optionally `dimension` (default: the
experiment's first), `strength`, `rationale`, `submitted_at`. Other columns are ignored.
The screen side is unknown (see judgment_import: such judgments count everywhere except in
position bias).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from .exports import JUDGMENT_COLUMNS
from .models import Experiment, Pair
from .upload_hints import header_hint
from .upload_parser import RowErrors

REVIEWER_COLUMNS = ("reviewer", "rater")
MINIMAL_REQUIRED = ("pair_id", "reviewer or rater", "winner")
MINIMAL_OPTIONAL = ("dimension", "strength", "rationale", "submitted_at")
# Letters for the two sides, as other tools write them (A/B, 1/2 are not guessed: "1" could
# be a model's name and a label's meaning is the source's own).
SIDE_LETTERS = {"a": "model_a", "b": "model_b"}


def is_minimal_header(columns: list[str]) -> bool:
    """A header of the minimal format: its three columns, and not the export's models."""
    present = set(columns)
    return (
        "pair_id" in present
        and "winner" in present
        and bool(present & set(REVIEWER_COLUMNS))
        and not {"model_a", "model_b"} <= present
    )


def missing_columns_message(columns: list[str], missing: list[str]) -> str:
    """A header fitting neither format: what is missing, what was found, what is close."""
    present = set(columns)
    minimal_missing = [c for c in ("pair_id", "reviewer", "winner") if c not in present]
    if "rater" in present:
        minimal_missing.remove("reviewer")
    hint = header_hint(
        columns, missing, minimal_missing, known={*JUDGMENT_COLUMNS, *REVIEWER_COLUMNS}
    )
    return (
        f"missing column(s) {', '.join(missing)}; {hint}. Expected the judgments export's "
        f"columns ({', '.join(JUDGMENT_COLUMNS)}) or the minimal format: "
        f"{', '.join(MINIMAL_REQUIRED)}, optionally {', '.join(MINIMAL_OPTIONAL)}"
    )


def minimal_records(
    experiment: Experiment,
    header: tuple[int, list[str]],
    records: Iterable[tuple[int, dict[str, str]]],
    errors: RowErrors,
) -> Iterator[tuple[int, dict[str, str]]]:
    """(line, export cells) for every minimal row; rows naming no pair of the experiment or
    an unknown winner are row errors here (their model columns cannot be filled)."""
    _, columns = header
    reviewer_column = next(c for c in REVIEWER_COLUMNS if c in columns)
    pairs = {
        external_id: (model_a, model_b)
        for external_id, model_a, model_b in Pair.objects.filter(experiment=experiment).values_list(
            "external_id", "model_a", "model_b"
        )
    }
    first_dimension = experiment.dimensions.order_by("position").values_list("name", flat=True)
    default_dimension = first_dimension.first() or ""
    for line, cells in records:
        if not any(cell.strip() for cell in cells.values()):
            continue  # a row of empty cells is blank, as in the export format
        pair_id = cells["pair_id"].strip()
        models = pairs.get(pair_id)
        if models is None:
            message = f"no pair {pair_id!r} in this experiment" if pair_id else "must not be empty"
            errors.add(line, "pair_id", message)
            continue
        winner = _winner(cells["winner"].strip(), *models)
        if winner is None:
            errors.add(
                line, "winner", f"expected {models[0]!r} (model_a), {models[1]!r} (model_b), "
                f"'a', 'b' or 'tie', got {cells['winner'].strip()!r}",
            )  # fmt: skip
            continue
        yield (
            line,
            {
                "pair_id": pair_id,
                "reviewer": cells[reviewer_column],
                "dimension": cells.get("dimension", "").strip() or default_dimension,
                "model_a": models[0],
                "model_b": models[1],
                "winner": winner,
                "strength": cells.get("strength", ""),
                "rationale": cells.get("rationale", ""),
                "submitted_at": cells.get("submitted_at", ""),
            },
        )


def _winner(raw: str, model_a: str, model_b: str) -> str | None:
    """The winner in the export's terms (a model name or "tie"); a model's own name wins over
    a side letter, so a model called "b" on side A stays itself."""
    if raw in (model_a, model_b):
        return raw
    lowered = raw.lower()
    if lowered == "tie":
        return "tie"
    if lowered in SIDE_LETTERS:
        return model_a if SIDE_LETTERS[lowered] == "model_a" else model_b
    return None
