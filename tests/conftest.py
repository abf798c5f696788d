import os

import pytest
from django.contrib.auth import get_user_model

from reviewapp.access import grant_owner_role
from reviewapp.experiments import create_experiment, recount_pairs
from reviewapp.models import Pair, pair_shuffle_key

REQUIRE_ALL = os.environ.get("REVIEWAPP_REQUIRE_ALL") == "1"


def pytest_collection_modifyitems(config, items):
    """Outside CI, PostgreSQL and browser tests skip when their service is missing;
    in CI (REVIEWAPP_REQUIRE_ALL=1) nothing may skip: a missing service fails the run."""
    from django.db import connection

    on_postgres = connection.vendor == "postgresql"
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            if REQUIRE_ALL:
                item.add_marker(pytest.mark.usefixtures("_fail_without_postgres"))
            else:
                item.add_marker(pytest.mark.skip(reason="needs DATABASE_URL=postgres://..."))


@pytest.fixture
def _fail_without_postgres():
    pytest.fail("This test needs PostgreSQL: run with DATABASE_URL=postgres://...")


def make_user(username: str, *, owner: bool = False, password: str = "pw-for-tests-123"):
    user = get_user_model().objects.create_user(username=username, password=password)
    if owner:
        grant_owner_role(user)
    return user


def make_experiment(
    owner, *, slug="exp", n_pairs=0, models=("zebra-base-7b", "yak-tuned-7b"), **fields
):
    fields.setdefault("status", "open")
    experiment = create_experiment(
        owner=owner, name=fields.pop("name", "Test experiment"), slug=slug, **fields
    )
    Pair.objects.bulk_create(
        Pair(
            experiment=experiment,
            external_id=f"p{i:05d}",
            prompt=f"Prompt number {i}",
            model_a=models[0],
            output_a=f"Output from the first model for prompt {i}",
            model_b=models[1],
            output_b=f"Output from the second model for prompt {i}",
            shuffle_key=pair_shuffle_key(experiment.seed, f"p{i:05d}"),
        )
        for i in range(n_pairs)
    )
    recount_pairs(experiment)
    return experiment


@pytest.fixture
def owner(db):
    return make_user("olivia", owner=True)


@pytest.fixture
def reviewers(db):
    return [make_user(name) for name in ("rita", "raj", "rosa")]
