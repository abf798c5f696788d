"""The results tables: one row per dimension x model pair (`pairs`), dimension x model
(`models`), dimension (`agreement`) or reviewer (`reviewers`), taken from the results
dict by column name. The one definition behind results.csv and the `results` command."""

from __future__ import annotations

RESULT_COLUMNS = {
    "pairs": [
        "dimension", "model_x", "model_y", "n", "x_wins", "y_wins", "ties", "decided",
        "x_win_rate", "x_win_rate_ci_low", "x_win_rate_ci_high", "x_win_rate_ties_half",
        "p_value", "ci_excludes_half", "more_decided_needed", "min_detectable_win_rate",
    ],
    "models": [
        "dimension", "model", "wins", "losses", "ties", "n", "rating", "rating_ci_low",
        "rating_ci_high", "rank",
    ],
    "agreement": [
        "dimension", "n_judgments", "items", "percent_agreement", "fleiss_kappa",
        "fleiss_items", "krippendorff_alpha", "cohen_kappa_mean", "cohen_pairs",
        "position_bias_n", "left_share", "left_share_p_value",
    ],
    "reviewers": [
        "reviewer", "kind", "excluded", "n", "decided", "left_share", "median_seconds",
        "majority_items", "majority_agreement", "gold_accuracy", "flags",
        "repeats_n", "repeats_consistent", "repeats_same_side",
    ],
}  # fmt: skip
RESULT_TABLES = tuple(RESULT_COLUMNS)


def _records(results: dict, table: str):
    """Each row of `table` as a dict holding (at least) its columns."""
    dimensions = results["dimensions"].items()
    if table == "pairs":
        for name, d in dimensions:
            for p in d["pairs"]:
                low, high = p["x_win_rate_ci"]
                yield {"dimension": name, **p, "x_win_rate_ci_low": low, "x_win_rate_ci_high": high}
    elif table == "models":
        for name, d in dimensions:
            for m in d["models"]:
                low, high = m["rating_ci"]
                yield {"dimension": name, **m, "rating_ci_low": low, "rating_ci_high": high}
    elif table == "agreement":
        for name, d in dimensions:
            bias = d["position_bias"]
            yield {
                "dimension": name, "n_judgments": d["n_judgments"], **d["agreement"],
                "position_bias_n": bias["n"], "left_share": bias["left_share"],
                "left_share_p_value": bias["p_value"],
            }  # fmt: skip
    else:
        for r in results["reviewers"]:
            repeats = {f"repeats_{key}": value for key, value in r["repeats"].items()}
            yield {**r, "flags": " ".join(r["flags"]), **repeats}


def result_table(results: dict, table: str = "pairs") -> tuple[list[str], list[list]]:
    """One of the results' tables as (header, rows). Undefined figures are None (an empty
    cell)."""
    if table not in RESULT_COLUMNS:
        raise ValueError(f"table must be one of {RESULT_TABLES}")
    columns = RESULT_COLUMNS[table]
    return columns, [[record[c] for c in columns] for record in _records(results, table)]
