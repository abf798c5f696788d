"""Results: the page, its JSON, and excluding a reviewer from them (owners only)."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponseBadRequest, JsonResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_POST

from ..access import get_experiment_for_owner
from ..exports import stream_csv, streamed_download
from ..models import Membership
from ..plots import acceptance_plot, forest_plot, ratings_plot, tag_forest_plot
from ..results import RESULT_TABLES, compute_results, format_p, result_table, strength_word
from ..results.by_tag import check_tag_field


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
    if pair["more_decided_needed"] == 0:
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


def _extras_display(pair: dict, baseline: str | None) -> dict:
    """The clustered, length, non-inferiority and anytime figures of a pair, as words."""
    if "prompts" not in pair:
        return {}
    length, test = pair["length"], pair["noninferiority"]
    effect, anytime_p = pair["design_effect"], pair["anytime_p_value"]
    margin = f"{100 * test['margin']:g} points"
    if test["p_value"] is None:
        noninferiority = "—"
    elif test["holds"]:
        noninferiority = f"not worse by more than {margin}"
    else:
        noninferiority = f"not shown (margin {margin})"
    against_baseline = bool(baseline) and pair["model_y"] == baseline
    return {
        "cluster_ci_text": _interval(pair["x_win_rate_cluster_ci"]),
        "design_effect_text": _number(effect, 1),
        # Three decimals near the 0.05 line, so "0.05" never stands beside "you may stop".
        "anytime_p_text": (
            f"{anytime_p:.3f}"
            if anytime_p is not None and 0.01 <= anytime_p < 0.1
            else _p_cell(anytime_p)
        ),
        "anytime_ci_text": _interval(pair["anytime_ci"]),
        "may_stop": anytime_p is not None and anytime_p < 0.05,
        "x_chars_text": _number(length["x_mean_chars"], 0),
        "y_chars_text": _number(length["y_mean_chars"], 0),
        "longer_text": _pct(length["x_longer_share"]),
        "coef_text": _number(length["coef"]),
        "adjusted_text": _pct(length["adjusted_x_win_rate"]),
        "adjusted_ci_text": _interval(length["adjusted_ci"]),
        "length_warning": length["warning"],
        "noninferiority_text": noninferiority,
        "noninferiority_p_text": _p_cell(test["p_value"]),
        "noninferiority_cluster_p_text": _p_cell(test["cluster_p_value"]),
        # With a baseline the test reads "X is not worse than the baseline".
        "noninferiority_sentence": (
            (
                f"{pair['model_x']} is not worse than {baseline} by more than {margin}"
                if test["holds"]
                else f"It is not yet shown that {pair['model_x']} is not worse than "
                f"{baseline} by more than {margin}"
            )
            if against_baseline and test["p_value"] is not None
            else ""
        ),
    }


def _by_tag_display(name: str, position: int, by_tag: dict | None) -> dict | None:
    if not by_tag:
        return None
    rows = [
        {
            "tag": group["tag"],
            **pair,
            "rate_text": _pct(pair["x_win_rate"]),
            "ci_text": _interval(pair["x_win_rate_ci"]),
            "p_text": _p_cell(pair["p_value"]),
            "holm_text": _p_cell(pair["p_holm"]),
            "bh_text": _p_cell(pair["p_bh"]),
            "significant": pair["p_holm"] is not None and pair["p_holm"] < 0.05,
        }
        for group in by_tag["groups"]
        for pair in group["pairs"]
    ]
    heterogeneity = [
        {**h, "p_text": "—" if h["p_value"] is None else format_p(h["p_value"])}
        for h in by_tag["heterogeneity"]
    ]
    plot = tag_forest_plot(name, by_tag, plot_id=f"tags-{position}") if rows else ""
    return {
        "field": by_tag["field"],
        "rows": rows,
        "family": sum(1 for row in rows if row["decided"]),
        "heterogeneity": heterogeneity,
        # Plots are built from escaped strings only (see plots.py).
        "plot": mark_safe(plot),
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
        "consistent_text": _pct(reviewer["repeats"]["consistent"]),
        "same_side_text": _pct(reviewer["repeats"]["same_side"]),
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
                "pairs": [
                    {**_pair_display(p), **_extras_display(p, results["baseline_model"])}
                    for p in dim["pairs"]
                ],
                "by_tag": _by_tag_display(name, position, dim.get("by_tag")),
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
        "any_repeats": any(r["repeats"]["n"] for r in results["reviewers"]),
        "pooled_majority_text": _pct(results["reviewers_pooled_majority_agreement"]),
        "too_fast_seconds": f"{results['too_fast_seconds']:g}",
        "margin_text": f"{100 * results['margin']:g} points",
    }


def _by(request) -> str | None:
    """`?by=FIELD`: the metadata field of the results by tag (absent: the experiment's
    setting; empty: none). ValueError when no field can have that name."""
    by = request.GET.get("by")
    return None if by is None else check_tag_field(by)


@login_required
@require_GET
def results_page(request, slug):
    experiment = get_experiment_for_owner(request.user, slug)
    include_automatic = request.GET.get("automatic") == "1"
    try:
        by = _by(request)
    except ValueError as error:
        # Plain text: the message quotes what was asked for.
        return HttpResponseBadRequest(str(error), content_type="text/plain; charset=utf-8")
    results = compute_results(experiment, include_automatic=include_automatic, by=by)
    context = {
        "experiment": experiment,
        "include_automatic": include_automatic,
        "by": results["tag_field"] or "",
        # The links to the JSON and CSV ask for what the page shows.
        "query": urlencode(
            {key: request.GET[key] for key in ("automatic", "by") if key in request.GET}
        ),
        **results_context(results),
    }
    return render(request, "results/results.html", context)


@login_required
@require_GET
def results_json(request, slug):
    experiment = get_experiment_for_owner(request.user, slug)
    include_automatic = request.GET.get("automatic") == "1"
    try:
        by = _by(request)
    except ValueError as error:
        # Plain text: the message quotes what was asked for.
        return HttpResponseBadRequest(str(error), content_type="text/plain; charset=utf-8")
    results = compute_results(experiment, include_automatic=include_automatic, by=by)
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
    """One results table as CSV (`?table=pairs|models|agreement|reviewers|by_tag`), for
    pandas."""
    experiment = get_experiment_for_owner(request.user, slug)
    table = request.GET.get("table", "pairs")
    if table not in RESULT_TABLES:
        return HttpResponseBadRequest(f"table must be one of {', '.join(RESULT_TABLES)}")
    try:
        by = _by(request)
    except ValueError as error:
        # Plain text: the message quotes what was asked for.
        return HttpResponseBadRequest(str(error), content_type="text/plain; charset=utf-8")
    results = compute_results(
        experiment, include_automatic=request.GET.get("automatic") == "1", by=by
    )
    header, rows = result_table(results, table)
    return streamed_download(stream_csv(header, rows), f"{experiment.slug}-results-{table}.csv")
