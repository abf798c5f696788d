"""Owners import judgments made elsewhere: file -> preview of the whole file -> confirm.

The same path as `manage.py import_judgments` (judgment_import.py): the export's format or
the minimal one (judgment_formats.py), all or nothing. Judgment files are small beside pair
files (a row is a few names), so the check runs in the request. The file waits on disk
under a random token that this owner's session ties to this experiment, so nobody can
confirm it elsewhere.
"""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from ..access import get_experiment_for_owner
from ..judgment_import import JudgmentImportError, import_judgments, preview_judgments
from ..models import Membership
from ..upload_files import (
    check_upload_size,
    discard_pending_upload,
    pending_upload_path,
    save_pending_upload,
)
from ..upload_parser import UploadError

SESSION_KEY = "judgment_uploads"  # {token: experiment pk}
KIND_CHOICES = [
    (Membership.Kind.HUMAN, "People (their judgments count in the results)"),
    (Membership.Kind.AUTOMATIC, "An automatic judge (left out of the results unless asked for)"),
]


class JudgmentFileForm(forms.Form):
    file = forms.FileField(
        label="Judgments file",
        help_text="CSV, UTF-8, optionally gzip-compressed: the judgments export's format "
        "or the minimal one below.",
    )
    kind = forms.ChoiceField(
        label="Who made these judgments",
        choices=KIND_CHOICES,
        initial=Membership.Kind.HUMAN,
        widget=forms.RadioSelect,
        help_text="Given to reviewers who are not members of the experiment yet.",
    )


@login_required
@require_http_methods(["GET", "POST"])
def judgment_upload(request, slug):
    """The form; a posted file is saved and checked whole, then previewed."""
    experiment = get_experiment_for_owner(request.user, slug)
    form = JudgmentFileForm(request.POST or None, request.FILES or None)
    context = {"experiment": experiment, "form": form}
    if request.method == "POST" and form.is_valid():
        upload, kind = form.cleaned_data["file"], form.cleaned_data["kind"]
        try:
            check_upload_size(upload.size)
        except UploadError as error:
            return render(request, "uploads/judgments.html", {**context, "error": error})
        token = save_pending_upload(upload.chunks())
        try:
            result = preview_judgments(experiment, pending_upload_path(token))
        except JudgmentImportError as error:
            discard_pending_upload(token)
            return render(request, "uploads/judgments.html", {**context, "error": error})
        request.session[SESSION_KEY] = {
            **request.session.get(SESSION_KEY, {}),
            token: experiment.pk,
        }
        context.update(
            result=result, token=token, kind=kind, file_name=upload.name,
            reviewers=result.reviewers.most_common(),
        )  # fmt: skip
    return render(request, "uploads/judgments.html", context)


@login_required
@require_POST
def judgment_import(request, slug):
    """The owner confirms a previewed file: it is imported in one transaction."""
    experiment = get_experiment_for_owner(request.user, slug)
    token, kind = request.POST.get("token", ""), request.POST.get("kind", "")
    pending = request.session.get(SESSION_KEY, {})
    path = pending_upload_path(token)
    if pending.get(token) != experiment.pk or path is None or kind not in Membership.Kind.values:
        messages.error(request, "That file is no longer waiting to be imported; upload it again.")
        return redirect("owner-judgment-upload", experiment.slug)
    try:
        result = import_judgments(experiment, path, kind=kind)
    except JudgmentImportError as error:  # someone judged the same pairs meanwhile
        form = JudgmentFileForm()
        context = {"experiment": experiment, "form": form, "error": error}
        return render(request, "uploads/judgments.html", context)
    finally:
        discard_pending_upload(token)
        request.session[SESSION_KEY] = {t: pk for t, pk in pending.items() if t != token}
    messages.success(request, result.summary())
    return redirect("owner-experiment", experiment.slug)
