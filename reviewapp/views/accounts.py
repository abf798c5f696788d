"""Login, throttled by django-axes (settings: AXES_*), which calls back here for the
client's address and for the page a locked-out attempt gets."""

from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.shortcuts import render


def client_address(request) -> str | None:
    """REMOTE_ADDR, or with REVIEWAPP_TRUSTED_PROXIES = N > 0, the address the outermost
    trusted proxy saw: the N-th entry from the right of X-Forwarded-For (each trusted proxy
    appends the address it received the request from; whatever the client wrote itself
    stands to the left of those and is ignored)."""
    trusted = settings.REVIEWAPP_TRUSTED_PROXIES
    if trusted > 0:
        hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        hops = [h for h in hops if h]
        if len(hops) >= trusted:
            return hops[-trusted]
    return request.META.get("REMOTE_ADDR") or None


def locked_out(request, credentials, *args, **kwargs):
    form = AuthenticationForm(request, data=request.POST or None)
    context = {"form": form, "throttled": True, "next": request.POST.get("next", "")}
    return render(request, "registration/login.html", context, status=429)


def login_username(request, credentials) -> str:
    """The username as axes records it: NUL cannot be stored in PostgreSQL text and axes'
    column holds 255 characters; no username is longer than 150."""
    typed = (credentials or {}).get("username") or request.POST.get("username", "")
    return str(typed).replace("\x00", "")[:150]
