"""One error shape for every API failure: {"error": code, "detail": text, "rows": [...]}.

`error` is a stable, machine-readable code; `detail` is for people; `rows` lists the
problems one by one (the rows of a refused upload, or the fields of an invalid request),
and is empty otherwise. Status codes: 400 content refused (the request matches the schema
but what it says cannot be done: a bad upload, an incomplete answer), 401 no valid token,
403 the user lacks the owner role, 404 unknown or not yours, 405 method, 409 state
conflicts (slug taken, experiment closed, lease lost), 413 too large, 415 content type,
422 the request does not match the schema, 503 the database is unavailable
(`unavailable`, with Retry-After).
"""

import logging

from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.http import Http404, JsonResponse
from django.http.multipartparser import MultiPartParserError
from ninja.errors import AuthenticationError, HttpError, ValidationError

from ..judgments import SubmissionRefused
from ..outages import OUTAGE_ERRORS, unavailable_response
from ..uploads import UploadError
from .schemas import ErrorOut

logger = logging.getLogger(__name__)

# SubmissionRefused codes -> status.
SUBMISSION_STATUS = {"not_found": 404, "invalid": 400, "closed": 409, "skipped": 409}
HTTP_ERROR_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found"}


class ApiError(Exception):
    def __init__(self, status: int, code: str, detail: str, rows: list[dict] | None = None):
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.rows = rows or []


def error_response(status: int, code: str, detail: str, rows=None) -> JsonResponse:
    return JsonResponse({"error": code, "detail": detail, "rows": rows or []}, status=status)


def errors(*statuses: int) -> dict:
    """The `response=` entries documenting these error statuses (and 503, which any
    endpoint answers while the database is unavailable)."""
    return dict.fromkeys((*statuses, 503), ErrorOut)


def _validation_rows(exc: ValidationError) -> list[dict]:
    rows = []
    for item in exc.errors:
        location = ".".join(str(part) for part in item.get("loc", ()))
        rows.append({"row": None, "column": location, "message": str(item.get("msg", ""))})
    return rows


def install_handlers(api) -> None:
    @api.exception_handler(ApiError)
    def api_error(request, exc: ApiError):
        return error_response(exc.status, exc.code, exc.detail, exc.rows)

    @api.exception_handler(ValidationError)
    def validation_error(request, exc: ValidationError):
        return error_response(
            422, "invalid_request", "The request does not match the schema.", _validation_rows(exc)
        )

    @api.exception_handler(AuthenticationError)
    def unauthorized(request, exc):
        response = error_response(
            401, "unauthorized", "Send a valid API token: Authorization: Bearer <token>."
        )
        response["WWW-Authenticate"] = "Bearer"
        return response

    @api.exception_handler(HttpError)
    def http_error(request, exc: HttpError):
        # ninja's own: an unparseable JSON body (400), throttling.
        code = HTTP_ERROR_CODES.get(exc.status_code, "error")
        return error_response(exc.status_code, code, str(exc))

    @api.exception_handler(Http404)
    def not_found(request, exc):
        return error_response(404, "not_found", "Not found.")

    @api.exception_handler(PermissionDenied)
    def forbidden(request, exc):
        return error_response(403, "forbidden", str(exc) or "Not allowed.")

    @api.exception_handler(UploadError)
    def invalid_upload(request, exc: UploadError):
        rows = [{"row": e.row, "column": e.column, "message": e.message} for e in exc.errors]
        n = exc.total_errors
        detail = f"The file was not imported: {n} problem{'s' if n != 1 else ''}"
        if exc.n_more:
            detail += f" (the first {len(rows)} are listed)"
        detail += "; line numbers count the lines of the file, a CSV header is line 1."
        return error_response(400, "invalid_upload", detail, rows)

    @api.exception_handler(SubmissionRefused)
    def refused(request, exc: SubmissionRefused):
        code = "invalid_answer" if exc.code == "invalid" else exc.code
        return error_response(SUBMISSION_STATUS.get(exc.code, 409), code, str(exc))

    @api.exception_handler(RequestDataTooBig)
    def too_large(request, exc):
        return error_response(
            413, "too_large", "The request body is too large; send large files as multipart."
        )

    @api.exception_handler(SuspiciousOperation)
    def suspicious(request, exc):
        return error_response(400, "bad_request", "The request could not be read.")

    @api.exception_handler(MultiPartParserError)
    def bad_multipart(request, exc):
        return error_response(400, "bad_request", f"The multipart body could not be read: {exc}")

    for outage in OUTAGE_ERRORS:

        @api.exception_handler(outage)
        def unavailable(request, exc):
            return unavailable_response(request, exc)

    @api.exception_handler(Exception)
    def server_error(request, exc):
        # Still a 500: tests and the schema fuzz fail on it; clients get the usual shape.
        logger.exception("API error on %s %s", request.method, request.path)
        return error_response(500, "server_error", "Something went wrong on our side.")


def json_method_not_allowed(view):
    """Wraps a ninja URL view so that its 405 answer has the error shape too."""

    def wrapper(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        if response.status_code == 405 and not isinstance(response, JsonResponse):
            allowed = response.get("Allow", "")
            replaced = error_response(
                405, "method_not_allowed", f"Use {allowed or 'another method'}."
            )
            if allowed:
                replaced["Allow"] = allowed
            return replaced
        return response

    wrapper.__dict__.update(getattr(view, "__dict__", {}))  # keeps csrf_exempt
    return wrapper


def api_not_found(request, rest=""):
    return error_response(404, "not_found", "No such API endpoint; see /api/docs.")
