"""Property-based fuzz of the whole API from its own OpenAPI schema (schemathesis).

Every operation gets schema-valid and schema-invalid requests (the examples, coverage and
fuzzing phases), sent through the Django WSGI app with an owner's token. Every check
runs: no 5xx, every status code, content type, header and body as the schema documents,
invalid data refused, valid data accepted, auth enforced, unknown methods answered 405.

Accepted for valid data: 400 too (the request matches the schema but its content is
refused: a random "CSV" body, duplicate dimension names, an answer missing a dimension),
413, 415. A 422 for schema-valid data would mean the schema promises more than the API
accepts, and fails the run.

Bounded: MAX_EXAMPLES per operation and phase, derandomized so CI runs are reproducible.
"""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections

from reviewapp.assignment import next_assignment
from reviewapp.models import Membership
from reviewapp.tokens import create_token
from reviewapp.wsgi import application
from tests.conftest import make_experiment, make_user

MAX_EXAMPLES = 50

# The raw pair uploads are text; schemathesis sends CSV as text already.
schemathesis.serializer.alias("application/x-ndjson", "text/plain")


@pytest.fixture
def api_schema(db, settings, request):
    # schemathesis 4.32 reads the node id as `_nodeid`, which pytest 9 renamed.
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "localhost"]  # schemathesis' WSGI host
    owner = make_user("fuzz-owner", owner=True)
    token = create_token(owner)[1]
    experiment = make_experiment(
        owner, slug="fuzz", n_pairs=30, reviews_per_pair=2, dimensions=["overall"]
    )
    make_experiment(owner, slug="fuzz-closable", n_pairs=2)
    # The owner reviews too, so the review endpoints are reached with the same token.
    Membership.objects.create(experiment=experiment, user=owner, kind="automatic")
    assignment = next_assignment(experiment, owner)
    make_experiment(make_user("other-owner", owner=True), slug="not-yours", n_pairs=2)
    config = schemathesis.Config.from_dict(
        {
            "headers": {"Authorization": f"Bearer {token}"},
            "generation": {
                "max-examples": MAX_EXAMPLES,
                "deterministic": True,
                "database": "none",
            },
            "checks": {
                "positive_data_acceptance": {
                    "expected-statuses": ["2xx", "400", "401", "403", "404", "409", "413", "415"]
                },
            },
            # Mostly real slugs and ids, so requests reach past the 404 of a random slug.
            "dictionaries": {
                "slugs": {"values": ["fuzz", "not-yours"]},
                # Closing "fuzz" would leave the review endpoints nothing but 409.
                "closable": {"values": ["fuzz-closable", "not-yours"]},
                "assignments": {"values": [assignment.pk]},
            },
            "parameters": {
                "path.slug": {"dictionary": "slugs", "probability": 0.8},
                "path.assignment_id": {"dictionary": "assignments", "probability": 0.6},
            },
            "operations": [
                {
                    "include-path": "/api/experiments/{slug}/close",
                    "parameters": {"path.slug": {"dictionary": "closable", "probability": 0.8}},
                },
                {
                    # A background job accepts the file first (202) and reports its problems
                    # in the job, so a malformed body is not refused by the request itself.
                    "include-path": "/api/experiments/{slug}/pairs/jobs",
                    "include-method": "POST",
                    "checks": {"negative_data_rejection": {"enabled": False}},
                },
            ],
        }
    )
    # As Django's test client does: a request must not close the test's connection.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/openapi.json", application, config=config)
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


schema = schemathesis.pytest.from_fixture("api_schema")


def test_schema_is_valid_openapi(api_schema):
    api_schema.validate()
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 13


@schema.parametrize()
def test_api_fuzz(case):
    case.call_and_validate()
