"""The JSON API under /api/, for evaluation pipelines and automatic judges.

Every data endpoint needs `Authorization: Bearer <token>` (tokens.py) and grants what the
token's user may do on the web pages; session cookies are not accepted, so no CSRF token is
needed either. The OpenAPI schema is served at /api/openapi.json, its browsable docs at
/api/docs. Errors: see errors.py (and the README, "JSON API").
"""

from django.urls import path
from ninja import NinjaAPI
from ninja.security import HttpBearer

from ..tokens import verify_token
from . import compare, jobs, judgments, owner, pairs, preferences, review
from .errors import api_not_found, install_handlers, json_method_not_allowed


class TokenAuth(HttpBearer):
    def authenticate(self, request, token: str):
        row = verify_token(token)
        return row.user if row is not None else None


DESCRIPTION = """\
Blind A/B review of model outputs, for pipelines: create experiments, upload pairs, add
automatic judges and let them review, follow progress, download results and judgments.

Authenticate every request with `Authorization: Bearer <token>`. Owners create tokens on
their *API tokens* settings page or with `python manage.py create_token USER`; an
automatic reviewer gets its own token when it is added to an experiment.

Errors always have the shape `{"error": code, "detail": text, "rows": [...]}`:
400 content refused (e.g. `invalid_upload` with one entry in `rows` per problem,
`invalid_answer`), 401 `unauthorized`, 403 `forbidden`, 404 `not_found` (also for
experiments that exist but are not yours), 405 `method_not_allowed`, 409 `conflict` /
`closed` / `skipped` / `lease_lost`, 413 `too_large`, 415 `unsupported_media_type`,
422 `invalid_request` (the request does not match this schema; `rows` name the fields),
503 `unavailable` (the database cannot be reached; retry after `Retry-After` seconds).
"""

api = NinjaAPI(
    title="reviewapp API",
    version="1",
    description=DESCRIPTION,
    auth=TokenAuth(),
    urls_namespace="api",
)
install_handlers(api)
api.add_router("", owner.router)
api.add_router("", pairs.router)
api.add_router("", review.router)
api.add_router("", preferences.router)
api.add_router("", compare.router)
api.add_router("", jobs.router)
api.add_router("", judgments.router)


def urls():
    """api.urls with JSON 405 answers, and a JSON 404 for unknown paths under /api/."""
    patterns, app_name, namespace = api.urls
    for pattern in patterns:
        pattern.callback = json_method_not_allowed(pattern.callback)
    patterns.append(path("<path:rest>", api_not_found))
    return patterns, app_name, namespace
