"""Results by tag: the model pairs' counts within each value of a pair metadata field
(e.g. the prompt's category), corrected for testing many (tag, pair) rows at once, and
whether the win rate differs between tags (docs/results.md, "Results by tag")."""

from __future__ import annotations

import pandas as pd

from .. import stats
from ..stats import multiple
from .frame import count_outcomes
from .pairs import CONFIDENCE

MAX_FIELD_CHARS = 200


def check_tag_field(name: str) -> str:
    """The metadata field name results may be broken down by, or ValueError saying why
    not. A name of digits only would be read as a list position by the database."""
    name = name.strip()
    if len(name) > MAX_FIELD_CHARS:
        raise ValueError(f"The tag field is {len(name)} characters long; the limit is 200.")
    if name.isdigit():
        raise ValueError(
            f"The tag field {name!r} is made of digits only, which cannot name a metadata "
            "field here; rename the column in the upload."
        )
    return name


def _row(model_x: str, model_y: str, x_wins: int, y_wins: int, ties: int) -> dict:
    decided = x_wins + y_wins
    lo, hi = stats.wilson_interval(x_wins, decided, CONFIDENCE)
    return {
        "model_x": model_x,
        "model_y": model_y,
        "n": decided + ties,
        "x_wins": x_wins,
        "y_wins": y_wins,
        "ties": ties,
        "decided": decided,
        "x_win_rate": x_wins / decided if decided else None,
        "x_win_rate_ci": [lo, hi],
        "p_value": stats.binomial_test_two_sided(x_wins, decided),
        "p_holm": None,
        "p_bh": None,
    }


def _adjust(rows: list[dict]) -> None:
    """Holm and Benjamini-Hochberg over the family: every row with decided judgments."""
    family = [row for row in rows if row["decided"]]
    p_values = [row["p_value"] for row in family]
    for row, holm, bh in zip(
        family, multiple.holm_adjusted(p_values), multiple.bh_adjusted(p_values), strict=True
    ):
        row["p_holm"], row["p_bh"] = holm, bh


def _heterogeneity(groups: list[dict]) -> list[dict]:
    """Per model pair: chi-square test of tags x (X wins, Y wins) over its tags with
    decided judgments (null with fewer than 2 such tags or a zero column)."""
    tables: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for group in groups:
        for row in group["pairs"]:
            tables.setdefault((row["model_x"], row["model_y"]), [])
            if row["decided"]:
                tables[(row["model_x"], row["model_y"])].append((row["x_wins"], row["y_wins"]))
    result = []
    for (model_x, model_y), table in sorted(tables.items()):
        test = multiple.tag_heterogeneity([x for x, _ in table], [y for _, y in table])
        result.append(
            {
                "model_x": model_x,
                "model_y": model_y,
                "chi2": None if test is None else test.chi2,
                "dof": None if test is None else test.dof,
                "p_value": None if test is None else test.p_value,
            }
        )
    return result


def by_tag_figures(on_dimension: pd.DataFrame, field: str) -> dict:
    """`by_tag` of one dimension: the `tag` column of the frame (read for `field`)."""
    table = count_outcomes(on_dimension, ["tag", "model_x", "model_y"])
    by_tag: dict[str, list[dict]] = {}
    for (tag, x, y), (x_wins, y_wins, ties) in zip(
        table.index, table.to_numpy().tolist(), strict=True
    ):
        by_tag.setdefault(tag, []).append(_row(x, y, x_wins, y_wins, ties))
    groups = [
        {"tag": tag, "pairs": sorted(rows, key=lambda r: (r["model_x"], r["model_y"]))}
        for tag, rows in sorted(by_tag.items())
    ]
    _adjust([row for group in groups for row in group["pairs"]])
    return {"field": field, "groups": groups, "heterogeneity": _heterogeneity(groups)}
