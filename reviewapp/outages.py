"""The database being unreachable is an outage, not a bug: 503 with Retry-After, in the
API's error shape or as a page, and one log line per request instead of a traceback."""

import logging

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse
from django.template import loader

logger = logging.getLogger("reviewapp.outages")

RETRY_AFTER_SECONDS = 5
# Connection refused or lost, server shutting down, too many clients: what psycopg raises
# as OperationalError/InterfaceError. Django wraps them in its own classes of those names.
OUTAGE_ERRORS = (OperationalError, InterfaceError)


def unavailable_response(request, error: Exception):
    logger.warning(
        "database unavailable: %s %s -> 503 (%s: %s)",
        request.method,
        request.path,
        type(error).__name__,
        str(error).strip().splitlines()[0] if str(error).strip() else "",
    )
    if request.path.startswith("/api/"):
        from .api.errors import error_response  # the API's one error shape (it imports us)

        response = error_response(
            503, "unavailable", "The database is unavailable; try again shortly."
        )
    else:
        # Rendered without the request: its context processors would ask the database
        # who is signed in.
        response = HttpResponse(loader.get_template("503.html").render(), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


class DatabaseOutageMiddleware:
    """Turns an outage raised by a view (or by reading the signed-in user) into a 503."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, OUTAGE_ERRORS):
            return unavailable_response(request, exception)
        return None
