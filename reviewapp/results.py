"""Where database aggregates become per-model-pair counts (and, later, statistics)."""

from collections import defaultdict
from dataclasses import dataclass

from django.db.models import Count

from .models import Assignment, Experiment, Judgment


@dataclass
class PairCounts:
    """Outcomes of one model pair on one dimension, oriented as X vs Y."""

    model_x: str
    model_y: str
    x_wins: int = 0
    y_wins: int = 0
    ties: int = 0

    @property
    def n(self) -> int:
        return self.x_wins + self.y_wins + self.ties


def orient(model_a: str, model_b: str, baseline: str) -> tuple[str, str]:
    """X vs Y: Y is the baseline when it is one of the two, else X < Y alphabetically."""
    if baseline and baseline in (model_a, model_b):
        other = model_b if model_a == baseline else model_a
        return other, baseline
    return (model_a, model_b) if model_a < model_b else (model_b, model_a)


def outcome_counts(experiment: Experiment) -> dict[str, list[PairCounts]]:
    """Per dimension (in rubric order), win/tie/loss counts per model pair, counted in SQL."""
    rows = (
        Judgment.objects.filter(
            assignment__experiment=experiment, assignment__status=Assignment.Status.SUBMITTED
        )
        .values(
            "dimension__name", "assignment__pair__model_a", "assignment__pair__model_b", "choice"
        )
        .annotate(n=Count("id"))
        .order_by()
    )
    by_dimension: dict[str, dict[tuple[str, str], PairCounts]] = defaultdict(dict)
    for row in rows:
        model_a, model_b = row["assignment__pair__model_a"], row["assignment__pair__model_b"]
        x, y = orient(model_a, model_b, experiment.baseline_model)
        counts = by_dimension[row["dimension__name"]].setdefault((x, y), PairCounts(x, y))
        if row["choice"] == Judgment.Choice.TIE:
            counts.ties += row["n"]
        else:
            winner = model_a if row["choice"] == Judgment.Choice.A else model_b
            if winner == x:
                counts.x_wins += row["n"]
            else:
                counts.y_wins += row["n"]
    return {
        d.name: sorted(by_dimension.get(d.name, {}).values(), key=lambda c: (c.model_x, c.model_y))
        for d in experiment.dimensions.all()
    }
