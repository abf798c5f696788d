from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpResponsePermanentRedirect, JsonResponse
from django.shortcuts import redirect
from django.templatetags.static import static

from ..access import can_own_experiments


@login_required
def home(request):
    if can_own_experiments(request.user):
        return redirect("owner-experiments")
    return redirect("review-home")


def healthz(request):
    """For load balancers: 200 when the database answers, 503 when it does not."""
    try:
        connection.ensure_connection()
        if not connection.is_usable():
            raise ConnectionError("the database connection is not usable")
    except Exception as error:  # any database failure means "not healthy"
        return JsonResponse({"status": "error", "database": type(error).__name__}, status=503)
    return JsonResponse({"status": "ok"})


def favicon(request):
    # Browsers ask for /favicon.ico whatever the page's <link rel="icon"> says. Looked up
    # per request: the static manifest may not exist when the URLconf is imported.
    return HttpResponsePermanentRedirect(static("reviewapp/favicon.svg"))
