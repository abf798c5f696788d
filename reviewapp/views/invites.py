"""Invite links: owners create and revoke them; external reviewers join through them."""

from django import forms
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from ..access import get_experiment_for_owner
from ..invites import (
    InviteRefused,
    join_via_invite,
    participant_from_params,
    platform_data_from_params,
)
from ..models import InviteLink


class InviteLinkForm(forms.ModelForm):
    completion_url = forms.URLField(
        required=False,
        assume_scheme="https",
        max_length=500,
        help_text="Where finished reviewers are sent, e.g. Prolific's completion URL.",
    )

    class Meta:
        model = InviteLink
        fields = ["label", "expires_at", "max_reviewers", "quota", "completion_url"]
        widgets = {"expires_at": forms.DateTimeInput(attrs={"type": "datetime-local"})}
        help_texts = {"expires_at": "Optional (UTC). After it, nobody new can join."}


@login_required
@require_http_methods(["GET", "POST"])
def invite_links(request, slug):
    experiment = get_experiment_for_owner(request.user, slug)
    form = InviteLinkForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        link = form.save(commit=False)
        link.experiment = experiment
        link.save()
        messages.success(request, "Invite link created.")
        return redirect("owner-invites", experiment.slug)
    links = experiment.invites.annotate(n_members=Count("members"))
    for link in links:
        link.url = request.build_absolute_uri(f"/join/{link.token}/")
    context = {"experiment": experiment, "form": form, "links": links, "now": timezone.now()}
    return render(request, "invites/links.html", context)


@login_required
@require_POST
def revoke_invite(request, slug, invite_id):
    experiment = get_experiment_for_owner(request.user, slug)
    link = get_object_or_404(InviteLink, pk=invite_id, experiment=experiment)
    if link.revoked_at is None:
        link.revoked_at = timezone.now()
        link.save(update_fields=["revoked_at"])
    messages.success(request, "Invite link revoked: nobody can join or continue through it.")
    return redirect("owner-invites", experiment.slug)


@require_http_methods(["GET", "POST"])
def join(request, token):
    # PostgreSQL refuses a NUL character in text, even in a lookup: no token holds one.
    if "\x00" in token:
        raise Http404("No such invite link.")
    link = get_object_or_404(InviteLink.objects.select_related("experiment"), token=token)
    # Ids and platform data come from the crowd platform's URL: drop NULs, which no
    # platform sends and the database cannot store.
    params = {key: value.replace("\x00", "") for key, value in request.GET.items()}
    participant_id = participant_from_params(params)
    if request.method == "POST":
        participant_id = request.POST.get("name", "").replace("\x00", "").strip()
    if not participant_id:
        return render(
            request, "invites/join.html", {"review_title": link.experiment.title_for_reviewers}
        )
    try:
        membership = join_via_invite(link, participant_id, platform_data_from_params(params))
    except InviteRefused as refused:
        context = {"review_title": link.experiment.title_for_reviewers, "refused": str(refused)}
        status = 400 if refused.code == "no_participant" else 410
        return render(request, "invites/join.html", context, status=status)
    login(request, membership.user, backend="django.contrib.auth.backends.ModelBackend")
    return redirect("review-pair", link.experiment.review_key)
