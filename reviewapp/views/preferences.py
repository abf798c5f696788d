from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import HttpResponseBadRequest
from django.shortcuts import render
from django.views.decorators.http import require_GET

from ..access import get_experiment_for_owner
from ..exports import streamed_download
from ..preferences import (
    PreferenceError,
    PreferenceForm,
    filter_from_params,
    preference_lines,
    summarise,
)


@login_required
@require_GET
def preference_export(request, slug):
    """The filter form, the summary of what it lets through, and the download link."""
    experiment = get_experiment_for_owner(request.user, slug)
    form = PreferenceForm(experiment, request.GET or None)
    summary = download_query = None
    if not request.GET:
        form = PreferenceForm(experiment, {"min_agreement": "1/2", "format": "trl"})
    if form.is_valid():
        summary = summarise(experiment, form.to_filter())
        download_query = urlencode(
            {k: v for k, v in form.data.items() if v not in ("", None)}, doseq=False
        )
    context = {
        "experiment": experiment,
        "form": form,
        "summary": summary,
        "reasons": summary and summary.as_dict()["left_out"],
        "download_query": download_query,
    }
    return render(request, "exports/preferences.html", context)


@login_required
@require_GET
def preferences_jsonl(request, slug):
    experiment = get_experiment_for_owner(request.user, slug)
    try:
        flt = filter_from_params(experiment, request.GET)
    except PreferenceError as error:
        return HttpResponseBadRequest(f"{error}\n", content_type="text/plain; charset=utf-8")
    return streamed_download(
        preference_lines(experiment, flt),
        f"{experiment.slug}-preferences-{flt.format}.jsonl",
        "application/x-ndjson; charset=utf-8",
    )
