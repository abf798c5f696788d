"""Results: the page, its JSON, and excluding a reviewer from them (owners only)."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponseBadRequest, JsonResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_POST

from ..access import get_experiment_for_owner
from ..exports import stream_csv, streamed_download
from ..models import Membership
from ..plots import acceptance_plot, forest_plot, ratings_plot
from ..results import RESULT_TABLES, compute_results, format_p, result_table, strength_word


def _pct(value, digits: int = 0) -> str:
    return "—" if value is None else f"{100 * value:.{digits}f} %"


def _interval(pair, digits: int = 0) -> str:
    lo, hi = pair
    if lo is None:
        return "—"
    return f"{100 * lo:.{digits}f}–{100 * hi:.{digits}f} %"


def _number(value, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _p_cell(p) -> str:
    """A p-value for a table whose header already says "p-value"."""
    return "—" if p is None else format_p(p).removeprefix("p = ").removeprefix("p ")


def _pair_display(pair: dict) -> dict:
    if pair["ci_excludes_half"]:
        needed = "reached"
    elif pair["more_decided_needed"] is None:
        needed = "—"
    else:
        needed = f"≈ {pair['more_decided_needed']:,} more"
    detectable = pair["min_detectable_win_rate"]
    return {
        **pair,
        "rate_text": _pct(pair["x_win_rate"]),
        "ci_text": _interval(pair["x_win_rate_ci"]),
        "ties_half_text": _pct(pair["x_win_rate_ties_half"], 1),
        "p_text": _p_cell(pair["p_value"]),
        "needed_text": needed,
        "detectable_text": (
            "— (too few decided judgments)" if detectable is None else _pct(detectable)
        ),
    }


def _model_display(model: dict) -> dict:
    lo, hi = model["rating_ci"]
    return {
        **model,
        "rating_text": _number(model["rating"], 0),
        "ci_text": "—" if lo is None else f"{lo:.0f}–{hi:.0f}",
    }


def _agreement_display(agreement: dict) -> dict:
    def with_word(value):
        word = strength_word(value)
        return "—" if value is None else f"{value:.2f} ({word})"

    return {
        **agreement,
        "percent_text": _pct(agreement["percent_agreement"], 1),
        "fleiss_text": with_word(agreement["fleiss_kappa"]),
        "alpha_text": with_word(agreement["krippendorff_alpha"]),
        "cohen_text": with_word(agreement["cohen_kappa_mean"]),
    }


def _reviewer_display(reviewer: dict) -> dict:
    seconds = reviewer["median_seconds"]
    return {
        **reviewer,
        "left_text": _pct(reviewer["left_share"]),
        "seconds_text": "—" if seconds is None else f"{seconds:.0f} s",
        "majority_text": _pct(reviewer["majority_agreement"]),
        "gold_text": _pct(reviewer["gold_accuracy"]),
    }


def _acceptance_display(results: dict) -> dict | None:
    """The acceptance section: per model, and per pair of the first dimension; None when
    no output was judged for acceptability."""
    if not results["acceptance"]:
        return None
    first = results["dimensions"].get(results["first_dimension"]) or {"pairs": []}
    return {
        "plot": mark_safe(acceptance_plot(results["acceptance"], plot_id="acceptance")),
        "models": [
            {
                **m,
                "n_text": f"{m['n']:,}",
                "acceptable_text": f"{m['acceptable']:,}",
                "rate_text": _pct(m["rate"], 1),
                "ci_text": _interval(m["rate_ci"], 1),
            }
            for m in results["acceptance"]
        ],
        "pairs": [
            {
                "model_x": p["model_x"],
                "model_y": p["model_y"],
                **{key: f"{count:,}" for key, count in p["acceptability"].items()},
            }
            for p in first["pairs"]
            if p.get("acceptability")
        ],
    }


def results_context(results: dict) -> dict:
    """What the page shows, decided here: display strings, plots, which tables appear."""
    dimensions = []
    for position, (name, dim) in enumerate(results["dimensions"].items()):
        bias = dim["position_bias"]
        dimensions.append(
            {
                "name": name,
                "anchor": f"dimension-{position}",
                "n_judgments": dim["n_judgments"],
                "n_text": f"{dim['n_judgments']:,}",
                "pairs": [_pair_display(p) for p in dim["pairs"]],
                # Plots are built from escaped strings only (see plots.py).
                "forest": mark_safe(forest_plot(name, dim["pairs"], plot_id=f"forest-{position}"))
                if dim["pairs"]
                else "",
                "show_ratings": len(dim["models"]) > 2,
                "models": [_model_display(m) for m in dim["models"]],
                "ratings_plot": mark_safe(
                    ratings_plot(name, dim["models"], plot_id=f"ratings-{position}")
                )
                if len(dim["models"]) > 2 and any(m["rating"] is not None for m in dim["models"])
                else "",
                "agreement": _agreement_display(dim["agreement"]),
                "bias": {
                    **bias,
                    "n_text": f"{bias['n']:,}",
                    "share_text": _pct(bias["left_share"]),
                    "ci_text": _interval(bias["left_share_ci"]),
                    "p_text": format_p(bias["p_value"]) if bias["p_value"] is not None else "—",
                },
            }
        )
    return {
        "results": results,
        "dimensions": dimensions,
        "acceptance": _acceptance_display(results),
        "reviewers": [_reviewer_display(r) for r in results["reviewers"]],
        "pooled_majority_text": _pct(results["reviewers_pooled_majority_agreement"]),
        "too_fast_seconds": f"{results['too_fast_seconds']:g}",
    }


@login_required
@require_GET
def results_page(request, slug):
    experiment = get_experiment_for_owner(request.user, slug)
    include_automatic = request.GET.get("automatic") == "1"
    results = compute_results(experiment, include_automatic=include_automatic)
    context = {
        "experiment": experiment,
        "include_automatic": include_automatic,
        **results_context(results),
    }
    return render(request, "results/results.html", context)


@login_required
@require_GET
def results_json(request, slug):
    experiment = get_experiment_for_owner(request.user, slug)
    include_automatic = request.GET.get("automatic") == "1"
    results = compute_results(experiment, include_automatic=include_automatic)
    return JsonResponse(results, json_dumps_params={"allow_nan": False, "indent": 2})


class ExclusionForm(forms.Form):
    reviewer = forms.CharField(max_length=150)
    excluded = forms.TypedChoiceField(choices=[("1", "exclude"), ("0", "include")], coerce=int)
    next = forms.CharField(required=False)


@login_required
@require_POST
def reviewer_exclusion(request, slug):
    """Exclude a reviewer from the results, or include them again (their judgments stay)."""
    experiment = get_experiment_for_owner(request.user, slug)
    form = ExclusionForm(request.POST)
    if not form.is_valid():
        raise Http404("No such reviewer.")
    try:
        membership = Membership.objects.select_related("user").get(
            experiment=experiment, user__username=form.cleaned_data["reviewer"]
        )
    except Membership.DoesNotExist:
        raise Http404("No such reviewer.") from None
    membership.excluded = bool(form.cleaned_data["excluded"])
    membership.save(update_fields=["excluded"])
    name = membership.user.get_username()
    if membership.excluded:
        messages.success(request, f"{name} is excluded: results no longer count their judgments.")
    else:
        messages.success(request, f"{name} is included again in the results.")
    target = form.cleaned_data["next"]
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect("owner-experiment", experiment.slug)


@login_required
@require_GET
def results_csv(request, slug):
    """One results table as CSV (`?table=pairs|models|agreement|reviewers`), for pandas."""
    experiment = get_experiment_for_owner(request.user, slug)
    table = request.GET.get("table", "pairs")
    if table not in RESULT_TABLES:
        return HttpResponseBadRequest(f"table must be one of {', '.join(RESULT_TABLES)}")
    results = compute_results(experiment, include_automatic=request.GET.get("automatic") == "1")
    header, rows = result_table(results, table)
    return streamed_download(stream_csv(header, rows), f"{experiment.slug}-results-{table}.csv")
