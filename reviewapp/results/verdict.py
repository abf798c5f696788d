"""The one-sentence verdict of the results and the words it uses."""

from __future__ import annotations


def strength_word(value: float | None) -> str | None:
    """Landis & Koch (1977) words for a kappa/alpha: slight (<= .20), fair (<= .40),
    moderate (<= .60), substantial (<= .80), almost perfect (above); below 0: poor."""
    if value is None:
        return None
    if value < 0:
        return "poor"
    limits = ((0.20, "slight"), (0.40, "fair"), (0.60, "moderate"), (0.80, "substantial"))
    for limit, word in limits:
        if value <= limit:
            return word
    return "almost perfect"


_AGREE_ADVERB = {
    "poor": "less than chance would predict",
    "slight": "slightly",
    "fair": "fairly",
    "moderate": "moderately",
    "substantial": "substantially",
    "almost perfect": "almost perfectly",
}


def format_p(p: float | None) -> str:
    if p is None:
        return "p undefined"
    if p < 0.001:
        return "p < 0.001"
    if p < 0.01:
        return f"p = {p:.3f}"
    return f"p = {p:.2f}"


def _percent(value: float) -> str:
    return f"{100 * value:.0f}"


def leader_pair(dimension: dict) -> dict | None:
    """With more than two models: the Bradley-Terry leader against the runner-up (the first
    two rated models, best first), or, if those two never met, the leader's pair with the
    most decided judgments. None with two models or without ratings."""
    models = dimension.get("models", [])
    rated = [m["model"] for m in models if m["rank"] is not None]
    if len(models) <= 2 or len(rated) < 2:
        return None
    leader, runner_up = rated[0], rated[1]
    with_leader = [p for p in dimension["pairs"] if leader in (p["model_x"], p["model_y"])]
    against_runner_up = [p for p in with_leader if runner_up in (p["model_x"], p["model_y"])]
    candidates = against_runner_up or with_leader
    return max(candidates, key=lambda p: p["decided"]) if candidates else None


def headline_pair(dimension: dict, baseline: str | None) -> dict | None:
    """The pair the verdict speaks about: among the pairs with the baseline (or all pairs),
    the one with the most decided judgments, first in order on a tie. Without a baseline and
    with more than two models, the leader's pair (`leader_pair`) when there is one."""
    pairs = dimension["pairs"]
    if not baseline and (leader := leader_pair(dimension)) is not None:
        return leader
    with_baseline = [p for p in pairs if baseline and p["model_y"] == baseline]
    candidates = with_baseline or pairs
    if not candidates:
        return None
    return max(candidates, key=lambda p: p["decided"])  # max keeps the first of equals


def _acceptance_clause(results: dict, model: str) -> str:
    """How often `model`'s outputs were judged acceptable; "" when none was asked about."""
    row = next((r for r in results.get("acceptance") or () if r["model"] == model), None)
    if row is None:
        return ""
    lo, hi = row["rate_ci"]
    return (
        f"; {model}'s outputs were acceptable in {_percent(row['rate'])} % of {row['n']:,} "
        f"(95 % CI {_percent(lo)}–{_percent(hi)} %)"
    )


def verdict(results: dict) -> str:
    """One sentence on the first dimension with judgments (see the README, "Results")."""
    dimension_name = next(
        (name for name, d in results["dimensions"].items() if d["n_judgments"]), None
    )
    if dimension_name is None:
        return "No judgments yet."
    dimension = results["dimensions"][dimension_name]
    pair = headline_pair(dimension, results["baseline_model"])
    x, y = pair["model_x"], pair["model_y"]
    alpha = dimension["agreement"]["krippendorff_alpha"]
    if alpha is None:
        agreement = "reviewer agreement cannot be measured yet (needs pairs with 2+ judgments)"
    else:
        agreement = f"reviewers agree {_AGREE_ADVERB[strength_word(alpha)]}, alpha = {alpha:.2f}"
    # X is the challenger when the pair holds the baseline (Y).
    agreement += _acceptance_clause(results, x)
    if not pair["decided"]:
        return (
            f"No clear winner between {x} and {y} on {dimension_name} yet: all "
            f"{pair['n']:,} judgments were ties; {agreement}."
        )
    rate = pair["x_win_rate"]
    lo, hi, by_prompt = _verdict_interval(pair)
    p_text = format_p(pair["p_value"])
    clauses = _length_clause(pair) + _noninferiority_clause(pair, results["baseline_model"])
    decided = f"{pair['decided']:,} decided judgment{'s' if pair['decided'] != 1 else ''}"
    if lo > 0.5 or hi < 0.5:
        if lo > 0.5:
            winner, loser, share, ci = x, y, rate, (lo, hi)
        else:
            winner, loser, share, ci = y, x, 1 - rate, (1 - hi, 1 - lo)
        return (
            f"{winner} beats {loser} on {dimension_name}: {_percent(share)} % of {decided}, "
            f"95 % CI {_percent(ci[0])}–{_percent(ci[1])} %{by_prompt}, {p_text}; "
            f"{agreement}{clauses}."
        )
    return (
        f"No clear winner between {x} and {y} on {dimension_name} yet: {x} wins "
        f"{_percent(rate)} % of {decided}, 95 % CI {_percent(lo)}–{_percent(hi)} %{by_prompt}, "
        f"{p_text}; {agreement}{clauses}."
    )


# Adjusted and raw win rates (both with ties as half) further apart than this get a clause.
LENGTH_CLAUSE_POINTS = 0.05


def _verdict_interval(pair: dict) -> tuple[float, float, str]:
    """The interval the verdict speaks of: clustered by prompt when there is one (judgments
    of one prompt are not independent), else the Wilson interval."""
    lo, hi = pair.get("x_win_rate_cluster_ci") or (None, None)
    if lo is not None:
        return lo, hi, " (clustered by prompt)"
    lo, hi = pair["x_win_rate_ci"]
    return lo, hi, ""


def _length_clause(pair: dict) -> str:
    length = pair.get("length") or {}
    adjusted, raw = length.get("adjusted_x_win_rate"), pair["x_win_rate_ties_half"]
    if adjusted is None or raw is None or abs(adjusted - raw) <= LENGTH_CLAUSE_POINTS:
        return ""
    return (
        f"; with outputs of equal length {pair['model_x']} would score {_percent(adjusted)} % "
        f"instead of {_percent(raw)} % (ties as half), so output length sways the reviewers"
    )


def _noninferiority_clause(pair: dict, baseline: str | None) -> str:
    """With a baseline, whether X is shown not to be worse than it by more than the margin."""
    test = pair.get("noninferiority")
    if not baseline or pair["model_y"] != baseline or not test or test["p_value"] is None:
        return ""
    margin = f"{100 * test['margin']:g} points"
    evidence = f"{format_p(test['p_value'])}, clustered {format_p(test['cluster_p_value'])}"
    if test["holds"]:
        return (
            f"; {pair['model_x']} is not worse than {baseline} by more than {margin} ({evidence})"
        )
    return (
        f"; it is not yet shown that {pair['model_x']} is not worse than {baseline} by more "
        f"than {margin} ({evidence})"
    )
