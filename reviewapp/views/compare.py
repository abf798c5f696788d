"""Owners compare experiments that share a baseline (base vs ft-v1, base vs ft-v2, ...)."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET

from ..access import experiments_for_owner, require_owner_role
from ..compare import CompareError, compare_experiments, shared_models
from ..plots import forest_plot


def chosen_experiments(request, available) -> list:
    """The ticked experiments in the owner's order (the order numbers, then the list)."""
    ticked = [e for e in available if e.slug in request.GET.getlist("e")]

    def position(experiment) -> int:
        try:
            return int(request.GET.get(f"order-{experiment.slug}", ""))
        except ValueError:
            return 10**6  # unnumbered: after the numbered ones, in list order

    return sorted(ticked, key=position)


def _plot_rows(rows: list[dict]) -> list[dict]:
    return [
        {
            "model_x": f"{row['challenger']} · {row['experiment_name']}",
            "model_y": row["baseline"],
            "x_win_rate": row["win_rate"],
            "x_win_rate_ci": row["win_rate_ci"],
            "decided": row["decided"],
            "ties": row["ties"],
            "ci_excludes_half": row["ci_excludes_half"],
        }
        for row in rows
    ]


@login_required
@require_GET
def compare_page(request):
    require_owner_role(request.user)
    available = list(experiments_for_owner(request.user).order_by("created_at"))
    # Only the owner's own experiments can be ticked: `available` is that list.
    chosen = chosen_experiments(request, available)
    candidates = shared_models(chosen) if len(chosen) >= 2 else []
    baseline = request.GET.get("baseline", "")
    if not baseline and candidates:
        preset = {e.baseline_model for e in chosen} & set(candidates)
        baseline = sorted(preset)[0] if preset else candidates[0]
    comparison = error = None
    plots = {}
    if request.GET and len(chosen) < 2:
        error = "Choose at least two experiments."
    elif len(chosen) >= 2:
        try:
            comparison = compare_experiments(
                chosen, baseline, include_automatic=bool(request.GET.get("automatic"))
            )
        except CompareError as refused:
            error = str(refused)
        else:
            for i, (dimension, rows) in enumerate(comparison.dimensions.items()):
                plots[dimension] = mark_safe(
                    forest_plot(dimension, _plot_rows(rows), plot_id=f"compare-{i}")
                )
    orders = {e.slug: i + 1 for i, e in enumerate(chosen)}
    context = {
        "available": [(e, e in chosen, orders.get(e.slug, "")) for e in available],
        "candidates": candidates,
        "baseline": baseline,
        "comparison": comparison,
        "plots": plots,
        "error": error,
        "automatic": bool(request.GET.get("automatic")),
    }
    return render(request, "owner/compare.html", context)
