"""Comparing experiments that share a baseline model: how the win rate moves from one
fine-tune to the next (base vs ft-v1, base vs ft-v2, ...).

Each row is one challenger model in one experiment, taken from that experiment's own
results (compute_results, so the same judgments count and the figures are identical),
turned so that X is the challenger and Y the baseline: a row of the results oriented the
other way has its wins swapped and its interval mirrored ([1 - hi, 1 - lo]; the Wilson
interval is symmetric, so this is the interval of the mirrored rate).

Prompts in common: the prompt texts of each experiment's regular (non-gold) pairs,
compared exactly; `prompts_in_common` counts those every compared experiment holds.
"""

import hashlib
from dataclasses import dataclass

from .models import Experiment
from .results import compute_results


class CompareError(ValueError):
    pass


@dataclass(frozen=True)
class Comparison:
    baseline: str
    experiments: list[dict]  # [{slug, name, prompts}] in the chosen order
    prompts_in_common: int
    dimensions: dict  # {dimension: [row, ...]} in the chosen order

    def as_dict(self) -> dict:
        return {
            "baseline": self.baseline,
            "experiments": self.experiments,
            "prompts_in_common": self.prompts_in_common,
            "dimensions": self.dimensions,
        }


def models_of(experiment: Experiment) -> set[str]:
    models = set()
    for a, b in experiment.pairs.values_list("model_a", "model_b").distinct():
        models.update((a, b))
    return models


def shared_models(experiments: list[Experiment]) -> list[str]:
    """Models present in every experiment: the candidates for the baseline."""
    if not experiments:
        return []
    common = models_of(experiments[0])
    for experiment in experiments[1:]:
        common &= models_of(experiment)
    return sorted(common)


def _prompt_digests(experiment: Experiment) -> set[bytes]:
    # Digests, not texts: 16 bytes a prompt however long the prompts are.
    return {
        hashlib.blake2b(prompt.encode(), digest_size=16).digest()
        for prompt in experiment.pairs.filter(is_gold=False)
        .values_list("prompt", flat=True)
        .iterator(chunk_size=2000)
    }


def _challenger_row(experiment: Experiment, pair: dict, baseline: str) -> dict:
    flipped = pair["model_x"] == baseline
    challenger = pair["model_y"] if flipped else pair["model_x"]
    rate, (lo, hi) = pair["x_win_rate"], pair["x_win_rate_ci"]
    if flipped:
        rate = None if rate is None else 1 - rate
        lo, hi = (None, None) if lo is None else (1 - hi, 1 - lo)
    return {
        "experiment": experiment.slug,
        "experiment_name": experiment.name,
        "challenger": challenger,
        "baseline": baseline,
        "n": pair["n"],
        "challenger_wins": pair["y_wins"] if flipped else pair["x_wins"],
        "baseline_wins": pair["x_wins"] if flipped else pair["y_wins"],
        "ties": pair["ties"],
        "decided": pair["decided"],
        "win_rate": rate,
        "win_rate_ci": [lo, hi],
        "p_value": pair["p_value"],
        "ci_excludes_half": pair["ci_excludes_half"],
    }


def compare_experiments(
    experiments: list[Experiment],
    baseline: str,
    *,
    include_automatic: bool = False,
    n_resamples: int = 1000,
) -> Comparison:
    if len(experiments) < 2:
        raise CompareError("Choose at least two experiments to compare.")
    if len({e.pk for e in experiments}) != len(experiments):
        raise CompareError("An experiment is listed twice.")
    candidates = shared_models(experiments)
    if baseline not in candidates:
        if not candidates:
            raise CompareError("These experiments share no model, so no baseline to compare on.")
        raise CompareError(
            f"{baseline!r} is not in every experiment; shared models: {', '.join(candidates)}."
        )
    dimensions: dict[str, list[dict]] = {}
    summaries, common = [], None
    for experiment in experiments:
        results = compute_results(
            experiment, n_resamples=n_resamples, include_automatic=include_automatic
        )
        for name, figures in results["dimensions"].items():
            rows = dimensions.setdefault(name, [])
            for pair in figures["pairs"]:
                if baseline in (pair["model_x"], pair["model_y"]):
                    rows.append(_challenger_row(experiment, pair, baseline))
        digests = _prompt_digests(experiment)
        common = digests if common is None else common & digests
        summaries.append(
            {"slug": experiment.slug, "name": experiment.name, "prompts": len(digests)}
        )
    return Comparison(
        baseline=baseline,
        experiments=summaries,
        prompts_in_common=len(common or ()),
        dimensions=dimensions,
    )
