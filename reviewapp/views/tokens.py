"""Owners' API tokens: list, create (the token is shown once), revoke."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from ..access import require_owner_role
from ..tokens import create_token, revoke_token, tokens_for_owner


class TokenForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        required=False,
        help_text="A label to recognise it by, e.g. “nightly eval pipeline”.",
    )


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def token_list(request):
    require_owner_role(request.user)
    form = TokenForm(request.POST or None)
    new_token = None
    if request.method == "POST" and form.is_valid():
        # Rendered, not redirected: the token exists only in this response.
        _, new_token = create_token(request.user, form.cleaned_data["name"])
        form = TokenForm()
    tokens = list(tokens_for_owner(request.user))
    context = {
        "form": form,
        "new_token": new_token,
        "own_tokens": [t for t in tokens if t.user_id == request.user.pk],
        "judge_tokens": [t for t in tokens if t.user_id != request.user.pk],
    }
    return render(request, "tokens/list.html", context)


@login_required
@require_POST
def token_revoke(request, token_id):
    require_owner_role(request.user)
    token = tokens_for_owner(request.user).filter(pk=token_id).first()
    if token is None:
        raise Http404("No such token.")
    revoke_token(token)
    messages.success(request, f"Token {token.prefix}… is revoked; requests using it now fail.")
    return redirect("owner-tokens")
