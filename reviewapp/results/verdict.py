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


def headline_pair(dimension: dict, baseline: str | None) -> dict | None:
    """The pair the verdict speaks about: among the pairs with the baseline (or all pairs),
    the one with the most decided judgments, first in order on a tie."""
    pairs = dimension["pairs"]
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
            f"{pair['n']} judgments were ties; {agreement}."
        )
    rate = pair["x_win_rate"]
    lo, hi = pair["x_win_rate_ci"]
    p_text = format_p(pair["p_value"])
    decided = f"{pair['decided']} decided judgment{'s' if pair['decided'] != 1 else ''}"
    if lo > 0.5 or hi < 0.5:
        if lo > 0.5:
            winner, loser, share, ci = x, y, rate, (lo, hi)
        else:
            winner, loser, share, ci = y, x, 1 - rate, (1 - hi, 1 - lo)
        return (
            f"{winner} beats {loser} on {dimension_name}: {_percent(share)} % of {decided}, "
            f"95 % CI {_percent(ci[0])}–{_percent(ci[1])} %, {p_text}; {agreement}."
        )
    return (
        f"No clear winner between {x} and {y} on {dimension_name} yet: {x} wins "
        f"{_percent(rate)} % of {decided}, 95 % CI {_percent(lo)}–{_percent(hi)} %, "
        f"{p_text}; {agreement}."
    )
