"""The results tables: one row per dimension x model pair (`pairs`), dimension x model
(`models`), dimension (`agreement`), reviewer (`reviewers`) or dimension x tag x model pair
(`by_tag`), taken from the results dict by column name. The one definition behind
results.csv and the `results` command."""

from __future__ import annotations

RESULT_COLUMNS = {
    "pairs": [
        "dimension", "model_x", "model_y", "n", "x_wins", "y_wins", "ties", "decided",
        "x_win_rate", "x_win_rate_ci_low", "x_win_rate_ci_high", "x_win_rate_ties_half",
        "p_value", "ci_excludes_half", "more_decided_needed", "min_detectable_win_rate",
        "prompts", "x_win_rate_cluster_se", "design_effect", "x_win_rate_cluster_ci_low",
        "x_win_rate_cluster_ci_high", "length_x_mean_chars", "length_y_mean_chars",
        "length_x_longer_share", "length_coef", "length_adjusted_x_win_rate",
        "length_adjusted_ci_low", "length_adjusted_ci_high", "length_warning",
        "noninferiority_margin", "noninferiority_p_value", "noninferiority_cluster_p_value",
        "noninferiority_holds", "anytime_p_value", "anytime_ci_low", "anytime_ci_high",
    ],
    "by_tag": [
        "dimension", "field", "tag", "model_x", "model_y", "n", "x_wins", "y_wins", "ties",
        "decided", "x_win_rate", "x_win_rate_ci_low", "x_win_rate_ci_high", "p_value",
        "p_holm", "p_bh",
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


def _flat_extras(pair: dict) -> dict:
    """The nested figures of a pair (clustered interval, length, non-inferiority, anytime)
    as flat columns."""
    cluster_low, cluster_high = pair["x_win_rate_cluster_ci"]
    length, test = pair["length"], pair["noninferiority"]
    adjusted_low, adjusted_high = length["adjusted_ci"]
    anytime_low, anytime_high = pair["anytime_ci"]
    return {
        "x_win_rate_cluster_ci_low": cluster_low,
        "x_win_rate_cluster_ci_high": cluster_high,
        **{f"length_{key}": value for key, value in length.items() if key != "adjusted_ci"},
        "length_adjusted_ci_low": adjusted_low,
        "length_adjusted_ci_high": adjusted_high,
        **{f"noninferiority_{key}": value for key, value in test.items()},
        "anytime_ci_low": anytime_low,
        "anytime_ci_high": anytime_high,
    }


def _records(results: dict, table: str):
    """Each row of `table` as a dict holding (at least) its columns."""
    dimensions = results["dimensions"].items()
    if table == "pairs":
        for name, d in dimensions:
            for p in d["pairs"]:
                low, high = p["x_win_rate_ci"]
                yield {
                    "dimension": name, **p, "x_win_rate_ci_low": low, "x_win_rate_ci_high": high,
                    **_flat_extras(p),
                }  # fmt: skip
    elif table == "by_tag":
        for name, d in dimensions:
            by_tag = d.get("by_tag") or {"groups": []}
            for group in by_tag["groups"]:
                for p in group["pairs"]:
                    low, high = p["x_win_rate_ci"]
                    yield {
                        "dimension": name, "field": by_tag["field"], "tag": group["tag"], **p,
                        "x_win_rate_ci_low": low, "x_win_rate_ci_high": high,
                    }  # fmt: skip
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
