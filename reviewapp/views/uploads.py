"""Owners upload pairs: file -> preview of the whole file -> confirm -> import.

The file waits on disk under a random token between preview and confirmation; the
session remembers which token (and pairing) belongs to which experiment, so a token
alone is never enough to import into someone else's experiment.
"""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from ..access import get_experiment_for_owner
from ..experiments import experiment_leaks_for, flag_pair_leaks, model_names
from ..leaks import LeakTally
from ..upload_files import (
    check_upload_size,
    discard_pending_upload,
    pending_upload_path,
    save_pending_upload,
)
from ..uploads import UploadError, import_upload, preview_upload


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


def session_key(experiment) -> str:
    return f"reviewapp-upload-{experiment.pk}"


@login_required
@require_http_methods(["GET", "POST"])
def upload_pairs(request, slug):
    experiment = get_experiment_for_owner(request.user, slug)
    form = UploadForm(request.POST or None, request.FILES or None)
    context = {"experiment": experiment, "form": form}
    if request.method == "POST" and form.is_valid():
        upload, pairing = form.cleaned_data["file"], form.cleaned_data["pairing"]
        token = None
        existing_models = model_names(experiment)
        tally = LeakTally(existing_models)
        try:
            check_upload_size(upload.size)
            token = save_pending_upload(upload.chunks())
            result = preview_upload(
                experiment, pending_upload_path(token), pairing, name=upload.name, on_pair=tally
            )
        except UploadError as error:
            if token:
                discard_pending_upload(token)
            return render(request, "uploads/upload.html", {**context, "error": error})
        if previous := request.session.get(session_key(experiment)):
            discard_pending_upload(previous["token"])
        request.session[session_key(experiment)] = {
            "token": token,
            "pairing": pairing,
            "name": upload.name,
        }
        context.update(
            result=result,
            token=token,
            file_name=upload.name,
            models=result.models.most_common(),
            pairings=result.pairings.most_common(),
            # Checked against the models of the file and of the pairs already there.
            leaks=experiment_leaks_for(experiment, existing_models | set(result.models)),
            flagged={"count": tally.count, "rows": tally.rows},
        )
        return render(request, "uploads/preview.html", context)
    return render(request, "uploads/upload.html", context)


@login_required
@require_POST
def confirm_upload(request, slug):
    experiment = get_experiment_for_owner(request.user, slug)
    pending = request.session.get(session_key(experiment)) or {}
    token = request.POST.get("token", "")
    path = pending_upload_path(token) if token == pending.get("token") else None
    if path is None:
        messages.error(request, "That upload has expired or was already imported; upload it again.")
        return redirect("owner-upload", experiment.slug)
    try:
        result = import_upload(experiment, path, pending["pairing"], name=pending["name"])
    except UploadError as error:
        form = UploadForm(initial={"pairing": pending["pairing"]})
        context = {"experiment": experiment, "form": form, "error": error}
        return render(request, "uploads/upload.html", context)
    finally:
        discard_pending_upload(token)
        request.session.pop(session_key(experiment), None)
    messages.success(request, result.summary())
    if n_flagged := flag_pair_leaks(experiment):
        messages.warning(
            request,
            f"{n_flagged} pair{'s' if n_flagged != 1 else ''} may reveal which model wrote "
            "an output: see Possible identity leaks below.",
        )
    return redirect("owner-experiment", experiment.slug)
