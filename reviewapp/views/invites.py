"""Invite links: owners create and revoke them; external reviewers join through them."""

from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from ..access import get_experiment_for_owner
from ..invites import (
    MAX_PARTICIPANT_CHARS,
    InviteRefused,
    join_via_invite,
    participant_from_params,
    platform_data_from_params,
)
from ..models import InviteLink, Membership


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


# The resume code, kept where only the join page can read it; a year outlasts any study.
RESUME_COOKIE_SALT = "reviewapp.invites.resume"
RESUME_COOKIE_SECONDS = 365 * 24 * 3600


def _open_link(token: str) -> InviteLink:
    # PostgreSQL refuses a NUL character in text, even in a lookup: no token holds one.
    if "\x00" in token:
        raise Http404("No such invite link.")
    return get_object_or_404(InviteLink.objects.select_related("experiment"), token=token)


def _signed_in_participant(request, link: InviteLink, participant_id: str) -> bool:
    """Whether the visitor is already signed in as this participant of this study."""
    return (
        request.user.is_authenticated
        and bool(participant_id)
        and Membership.objects.filter(
            experiment_id=link.experiment_id, user=request.user, participant_id=participant_id
        ).exists()
    )


@require_http_methods(["GET", "POST"])
def join(request, token):
    """GET says who the visitor will join as (and who they are now); only the POST, with
    its CSRF token, signs anyone in, and it replaces a signed-in user only when the form
    said so (switch_account)."""
    link = _open_link(token)
    # Ids and platform data come from the crowd platform's URL: drop NULs, which no
    # platform sends and the database cannot store.
    params = {key: value.replace("\x00", "") for key, value in request.GET.items()}
    url_participant = participant_from_params(params)
    typed = request.POST.get("name", "").replace("\x00", "").strip()[:MAX_PARTICIPANT_CHARS]
    participant_id = url_participant or typed
    signed_in = request.user.is_authenticated
    context = {
        "review_title": link.experiment.title_for_reviewers,
        "url_participant": url_participant,
        "typed": typed,
        "resume_code": request.POST.get("resume_code", params.get("resume", ""))[:40],
        "signed_in_as": (request.user.get_short_name() or request.user.get_username())
        if signed_in
        else "",
        "already": _signed_in_participant(request, link, participant_id),
        "review_url": reverse("review-pair", args=[link.experiment.review_key]),
    }
    if link.revoked_at is not None:
        context["refused"] = "This invite link has been withdrawn by the study owner."
        return render(request, "invites/join.html", context, status=410)
    if request.method == "GET":
        return render(request, "invites/join.html", context)
    if context["already"]:
        return redirect(context["review_url"])
    if signed_in and not request.POST.get("switch_account"):
        context["confirm_switch"] = True
        return render(request, "invites/join.html", context, status=409)
    cookie_name = f"reviewapp_resume_{link.pk}"
    code = context["resume_code"] or request.get_signed_cookie(
        cookie_name, default="", salt=RESUME_COOKIE_SALT
    )
    try:
        membership, new_code = join_via_invite(
            link, participant_id, platform_data_from_params(params), resume_code=code
        )
    except InviteRefused as refused:
        context.update(problem=str(refused), problem_code=refused.code)
        status = {"no_participant": 400, "resume_code": 403}.get(refused.code, 410)
        return render(request, "invites/join.html", context, status=status)
    login(request, membership.user, backend="django.contrib.auth.backends.ModelBackend")
    if new_code:
        request.session[f"invite_resume_code_{link.pk}"] = new_code
        response = redirect("invite-welcome", link.token)
    else:
        response = redirect(context["review_url"])
    response.set_signed_cookie(
        cookie_name, new_code or code, salt=RESUME_COOKIE_SALT, max_age=RESUME_COOKIE_SECONDS,
        path=reverse("invite-join", args=[link.token]), secure=settings.SESSION_COOKIE_SECURE,
        httponly=True, samesite="Lax",
    )  # fmt: skip
    return response


@login_required
@require_GET
def welcome(request, token):
    """A new participant's first page: the resume code and link, then the study."""
    link = _open_link(token)
    membership = Membership.objects.filter(
        experiment_id=link.experiment_id, user=request.user, invite=link
    ).first()
    if membership is None:
        return redirect("invite-join", link.token)
    code = request.session.get(f"invite_resume_code_{link.pk}", "")
    query = urlencode({"participant": membership.participant_id, "resume": code})
    context = {
        "review_title": link.experiment.title_for_reviewers,
        "participant": membership.participant_id,
        "code": code,
        "resume_url": request.build_absolute_uri(
            reverse("invite-join", args=[link.token]) + f"?{query}"
        ),
        "review_url": reverse("review-pair", args=[link.experiment.review_key]),
    }
    return render(request, "invites/welcome.html", context)
