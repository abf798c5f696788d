"""Human preferences as training data: chosen/rejected pairs for preference fine-tuning.

One record per pair whose counted judgments on one rubric dimension agree enough:

- which judgments count: submitted, not on a gold pair (unless asked), not by a reviewer
  the owner excluded (unless asked), not by an automatic judge (unless asked);
- a pair needs at least `min_judgments` of them;
- the output chosen by the most judgments wins when that is strictly more than the other
  output got and at least `min_agreement` of ALL the pair's counted judgments (ties
  included): with 3 judgments and min_agreement 2/3, two must pick the same output;
- pairs whose most frequent answer is a tie, or whose two outputs got as many votes,
  stay out.

Formats: "trl" (`{"prompt", "chosen", "rejected"}`, the field names TRL's DPO trainer
reads) and "openai" (OpenAI's preference fine-tuning: `input.messages`,
`preferred_output`, `non_preferred_output`).
"""

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction

from django import forms

from .models import Assignment, Dimension, Experiment, Judgment, Membership

FORMATS = ("trl", "openai")
# Why a pair was left out, in the order the summary lists them.
REASONS = {
    "too_few_judgments": "fewer judgments than the minimum",
    "tie": "the most frequent answer was a tie",
    "split": "both outputs got as many votes",
    "low_agreement": "the winning output got less than the minimum agreement",
}


@dataclass(frozen=True)
class PreferenceFilter:
    dimension: str = ""  # empty: the experiment's first dimension
    min_judgments: int = 1
    min_agreement: Fraction = Fraction(1, 2)  # share of the pair's counted judgments
    include_gold: bool = False
    include_excluded_reviewers: bool = False
    include_automatic: bool = False
    format: str = "trl"


@dataclass
class PreferenceSummary:
    dimension: str
    pairs_considered: int = 0
    exported: int = 0
    left_out: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict:
        return {
            "dimension": self.dimension,
            "pairs_considered": self.pairs_considered,
            "exported": self.exported,
            "left_out": {reason: self.left_out[reason] for reason in REASONS},
        }


class PreferenceError(ValueError):
    pass


def parse_agreement(text: str) -> Fraction:
    """'2/3', '0.6' or '60%' -> a share in (0, 1]."""
    text = (text or "").strip()
    try:
        if text.endswith("%"):
            share = Fraction(text[:-1].strip()) / 100
        else:
            share = Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise PreferenceError(
            f"Minimum agreement {text!r} is not a share: write e.g. 2/3, 0.6 or 60%."
        ) from None
    if not 0 < share <= 1:
        raise PreferenceError(f"Minimum agreement must be above 0 and at most 1, not {text}.")
    return share


def dimension_for(experiment: Experiment, name: str) -> Dimension:
    dimensions = list(experiment.dimensions.order_by("position"))
    if not dimensions:
        raise PreferenceError("The experiment has no rubric dimension.")
    if not name:
        return dimensions[0]
    for dimension in dimensions:
        if dimension.name == name:
            return dimension
    known = ", ".join(d.name for d in dimensions)
    raise PreferenceError(f"No dimension {name!r} in this experiment; it has: {known}.")


def _counted_choices(experiment: Experiment, dimension: Dimension, flt: PreferenceFilter):
    """(pair id, prompt, output A, output B, choice) of the counted judgments, by pair."""
    # A swapped repeat is the same reviewer answering again: never a preference of its own.
    judgments = Judgment.objects.filter(
        dimension=dimension,
        assignment__status=Assignment.Status.SUBMITTED,
        assignment__repeat=False,
    )
    if not flt.include_gold:
        judgments = judgments.filter(assignment__pair__is_gold=False)
    left_out_reviewers = Membership.objects.filter(experiment=experiment)
    if flt.include_excluded_reviewers:
        left_out_reviewers = left_out_reviewers.none()
    else:
        left_out_reviewers = left_out_reviewers.filter(excluded=True)
    if not flt.include_automatic:
        left_out_reviewers = left_out_reviewers | Membership.objects.filter(
            experiment=experiment, kind=Membership.Kind.AUTOMATIC
        )
    judgments = judgments.exclude(assignment__reviewer__in=left_out_reviewers.values("user_id"))
    return judgments.order_by("assignment__pair_id").values_list("assignment__pair_id", "choice")


def _decide(choices: Counter, flt: PreferenceFilter) -> str:
    """'A', 'B' or the reason the pair stays out."""
    n = sum(choices.values())
    if n < flt.min_judgments:
        return "too_few_judgments"
    a, b, tie = choices["A"], choices["B"], choices["tie"]
    if tie > max(a, b):
        return "tie"
    if a == b:
        return "split"
    top = max(a, b)
    if Fraction(top, n) < flt.min_agreement:
        return "low_agreement"
    return "A" if a > b else "B"


def preference_decisions(
    experiment: Experiment, flt: PreferenceFilter
) -> Iterator[tuple[int, str]]:
    """(pair id, 'A' | 'B' | reason left out) for every pair with a counted judgment, in
    pair id order. Streams: one pair's choices in memory at a time."""
    dimension = dimension_for(experiment, flt.dimension)
    current, choices = None, Counter()
    for pair_id, choice in _counted_choices(experiment, dimension, flt).iterator(chunk_size=5000):
        if pair_id != current:
            if current is not None:
                yield current, _decide(choices, flt)
            current, choices = pair_id, Counter()
        choices[choice] += 1
    if current is not None:
        yield current, _decide(choices, flt)


def summarise(experiment: Experiment, flt: PreferenceFilter) -> PreferenceSummary:
    summary = PreferenceSummary(dimension=dimension_for(experiment, flt.dimension).name)
    for _, decision in preference_decisions(experiment, flt):
        summary.pairs_considered += 1
        if decision in ("A", "B"):
            summary.exported += 1
        else:
            summary.left_out[decision] += 1
    return summary


def _record(prompt: str, chosen: str, rejected: str, fmt: str) -> dict:
    if fmt == "openai":
        return {
            "input": {"messages": [{"role": "user", "content": prompt}]},
            "preferred_output": [{"role": "assistant", "content": chosen}],
            "non_preferred_output": [{"role": "assistant", "content": rejected}],
        }
    return {"prompt": prompt, "chosen": chosen, "rejected": rejected}


def preference_lines(experiment: Experiment, flt: PreferenceFilter, batch: int = 500):
    """The JSONL text in chunks. Pair texts are read a batch of winners at a time."""
    if flt.format not in FORMATS:
        raise PreferenceError(f"Unknown format {flt.format!r}; use one of: {', '.join(FORMATS)}.")
    winners: list[tuple[int, str]] = []

    def flush():
        texts = experiment.pairs.filter(pk__in=[pk for pk, _ in winners]).in_bulk()
        lines = []
        for pk, side in winners:
            pair = texts[pk]
            chosen, rejected = (
                (pair.output_a, pair.output_b) if side == "A" else (pair.output_b, pair.output_a)
            )
            record = _record(pair.prompt, chosen, rejected, flt.format)
            lines.append(json.dumps(record, ensure_ascii=False) + "\n")
        winners.clear()
        return "".join(lines)

    for pair_id, decision in preference_decisions(experiment, flt):
        if decision in ("A", "B"):
            winners.append((pair_id, decision))
            if len(winners) >= batch:
                yield flush()
    if winners:
        yield flush()


class PreferenceForm(forms.Form):
    """The filter from a query string: the web page, its download link and the API."""

    dimension = forms.ChoiceField(required=False)
    min_judgments = forms.IntegerField(required=False, min_value=1, max_value=1000, initial=1)
    min_agreement = forms.CharField(
        required=False,
        max_length=20,
        initial="1/2",
        help_text="Share of a pair's judgments that must pick the winner: 2/3, 0.6 or 60%.",
    )
    include_gold = forms.BooleanField(required=False)
    include_excluded_reviewers = forms.BooleanField(required=False)
    include_automatic = forms.BooleanField(required=False)
    format = forms.ChoiceField(
        choices=[("trl", "TRL / DPO: prompt, chosen, rejected"), ("openai", "OpenAI preference")],
        required=False,
        initial="trl",
    )

    def __init__(self, experiment: Experiment, *args, **kwargs):
        super().__init__(*args, **kwargs)
        names = list(experiment.dimensions.order_by("position").values_list("name", flat=True))
        self.fields["dimension"].choices = [(n, n) for n in names]
        self.fields["dimension"].initial = names[0] if names else ""

    def clean_min_agreement(self) -> Fraction:
        try:
            return parse_agreement(self.cleaned_data["min_agreement"] or "1/2")
        except PreferenceError as error:
            raise forms.ValidationError(str(error)) from None

    def to_filter(self) -> PreferenceFilter:
        data = self.cleaned_data
        return PreferenceFilter(
            dimension=data["dimension"] or "",
            min_judgments=data["min_judgments"] or 1,
            min_agreement=data["min_agreement"],
            include_gold=data["include_gold"],
            include_excluded_reviewers=data["include_excluded_reviewers"],
            include_automatic=data["include_automatic"],
            format=data["format"] or "trl",
        )


def filter_from_params(experiment: Experiment, params) -> PreferenceFilter:
    """A PreferenceFilter from query parameters, or PreferenceError naming each problem."""
    form = PreferenceForm(experiment, params)
    if not form.is_valid():
        problems = "; ".join(
            f"{name}: {' '.join(messages)}" for name, messages in form.errors.items()
        )
        raise PreferenceError(problems)
    return form.to_filter()
