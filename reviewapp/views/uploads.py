"""Owners upload pairs: file -> check of the whole file (preview) -> confirm -> import.

Checking and importing run as background jobs (upload_jobs.py), so a large file never
holds a web worker or meets a request timeout. The file waits on disk under a random
token; the job rows tie it to its experiment, so nobody can import it elsewhere.
"""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from ..access import get_experiment_for_owner
from ..experiments import experiment_leaks_for, model_names
from ..models import UploadJob
from ..upload_files import check_upload_size, pending_upload_path, save_pending_upload
from ..upload_jobs import job_state, queue_job
from ..uploads import UploadError


class UploadForm(forms.Form):
    file = forms.FileField(
        label="Pairs file",
        help_text="CSV or JSONL, UTF-8, optionally gzip-compressed.",
    )
    pairing = forms.ChoiceField(
        label="Pairs from a long-format file",
        choices=[
            ("all", "Every two models that answered the same prompt"),
            ("baseline", "Each model against the experiment's baseline model"),
        ],
        initial="all",
        widget=forms.RadioSelect,
        help_text="Wide files name both models of each pair and ignore this choice.",
    )


@login_required
@require_http_methods(["GET", "POST"])
def upload_pairs(request, slug):
    """The form; a posted file is saved and queued for checking (upload_jobs.py)."""
    experiment = get_experiment_for_owner(request.user, slug)
    form = UploadForm(request.POST or None, request.FILES or None)
    context = {"experiment": experiment, "form": form}
    if request.method == "POST" and form.is_valid():
        upload, pairing = form.cleaned_data["file"], form.cleaned_data["pairing"]
        try:
            check_upload_size(upload.size)
        except UploadError as error:
            return render(request, "uploads/upload.html", {**context, "error": error})
        token = save_pending_upload(upload.chunks())
        job = queue_job(
            experiment,
            kind=UploadJob.Kind.CHECK,
            token=token,
            file_name=upload.name,
            pairing=pairing,
            user=request.user,
        )
        return redirect("owner-upload-job", experiment.slug, job.pk)
    return render(request, "uploads/upload.html", context)


def _owned_job(request, slug, job_id) -> UploadJob:
    experiment = get_experiment_for_owner(request.user, slug)
    job = get_object_or_404(UploadJob, pk=job_id, experiment=experiment)
    job.experiment = experiment
    return job


@login_required
@require_GET
def upload_job(request, slug, job_id):
    """A job's page: its progress bar while it runs (htmx refreshes the fragment; without
    JavaScript the page reloads itself), then the preview, the import's outcome, or the
    problems found. It survives reloads: the job lives in the database."""
    job = _owned_job(request, slug, job_id)
    state = job_state(job)
    job.refresh_from_db()
    context = {
        "experiment": job.experiment,
        "job": job,
        "state": state,
        "result": job.result,
        "running": job.status in (UploadJob.Status.QUEUED, UploadJob.Status.RUNNING),
    }
    if job.kind == UploadJob.Kind.CHECK and job.status == UploadJob.Status.DONE:
        # The experiment's own text against the models of the file and those already there.
        file_models = {model for model, _ in job.result.get("models", [])}
        context["leaks"] = experiment_leaks_for(
            job.experiment, model_names(job.experiment) | file_models
        )
        context["flagged"] = job.result.get("flagged") or {"count": 0, "rows": []}
    if request.htmx and context["running"]:
        return render(request, "uploads/_job_progress.html", context)
    if request.htmx:
        response = render(request, "uploads/_job_progress.html", context)
        response["HX-Refresh"] = "true"  # done: show the whole page (preview or outcome)
        return response
    return render(request, "uploads/job.html", context)


@login_required
@require_POST
def import_checked_upload(request, slug, job_id):
    """The owner confirms a checked file: the import is queued as a job of its own."""
    check = _owned_job(request, slug, job_id)
    if check.kind != UploadJob.Kind.CHECK or check.status != UploadJob.Status.DONE:
        messages.error(request, "Only a file that was checked without problems can be imported.")
        return redirect("owner-upload-job", check.experiment.slug, check.pk)
    if check.experiment.upload_jobs.filter(kind=UploadJob.Kind.IMPORT, token=check.token).exists():
        messages.error(request, "This file has been imported already (or is being imported).")
        return redirect("owner-upload-job", check.experiment.slug, check.pk)
    if pending_upload_path(check.token) is None:
        messages.error(request, "That upload has expired; upload it again.")
        return redirect("owner-upload", check.experiment.slug)
    job = queue_job(
        check.experiment,
        kind=UploadJob.Kind.IMPORT,
        token=check.token,
        file_name=check.file_name,
        pairing=check.pairing,
        user=request.user,
    )
    return redirect("owner-upload-job", check.experiment.slug, job.pk)
