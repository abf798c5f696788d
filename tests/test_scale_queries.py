"""Queries that must not grow with the data: a reviewer's history, a big experiment.

PostgreSQL only: what is checked is PostgreSQL's plan (how many rows a statement reads),
and the protocol's limit on parameters per statement.
"""

import json

import pytest
from django.db import connection, transaction

from reviewapp.assignment import WINDOW, next_assignment
from reviewapp.experiments import recount_pairs
from reviewapp.gold import gold_pair_due
from reviewapp.models import Experiment, Pair
from reviewapp.postgresql.base import MAX_PARAMETERS
from tests.conftest import make_experiment, make_user

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def give_history(experiment, reviewer, n: int) -> None:
    """n submitted assignments for the reviewer (the first n pairs), as a long session
    would leave them."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO reviewapp_assignment (experiment_id, pair_id, reviewer_id, left_is_a,
                                              status, shown_at, submitted_at, rationale)
            SELECT experiment_id, id, %s, true, 'submitted', now(), now(), ''
            FROM reviewapp_pair WHERE experiment_id = %s ORDER BY id LIMIT %s
            """,
            [reviewer.pk, experiment.pk, n],
        )
        cursor.execute(
            "UPDATE reviewapp_pair p SET slots_taken = 1 FROM reviewapp_assignment a"
            " WHERE a.pair_id = p.id AND a.reviewer_id = %s",
            [reviewer.pk],
        )
        cursor.execute("ANALYZE reviewapp_assignment")
        cursor.execute("ANALYZE reviewapp_pair")


def assignment_rows_read(plan: dict) -> int:
    """Rows the plan's scans of reviewapp_assignment produced or filtered out, over all
    their executions."""
    total = 0
    if plan.get("Relation Name") == "reviewapp_assignment":
        per_loop = plan.get("Actual Rows", 0) + plan.get("Rows Removed by Filter", 0)
        total += per_loop * plan.get("Actual Loops", 1)
    for child in plan.get("Plans", ()):
        total += assignment_rows_read(child)
    return total


def claim_statements(experiment, reviewer) -> list[tuple[str, object]]:
    """The SELECTs next_assignment sends to claim a pair, with their parameters (rolled
    back)."""
    sent = []

    def record(execute, sql, params, many, context):
        if sql.lstrip().startswith("SELECT"):
            sent.append((sql, params))
        return execute(sql, params, many, context)

    with transaction.atomic(), connection.execute_wrapper(record):
        assert next_assignment(experiment, reviewer) is not None
        transaction.set_rollback(True)
    return sent


def assignment_rows_read_by(sql: str, params) -> int:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params)
        (document,) = cursor.fetchone()
        transaction.set_rollback(True)
    (plan,) = json.loads(document) if isinstance(document, str) else document
    return assignment_rows_read(plan["Plan"])


@pytest.mark.parametrize("member", [True, False])
@pytest.mark.parametrize("history", [0, 2000])
def test_claiming_a_pair_reads_a_few_of_the_reviewers_assignments_not_all(owner, history, member):
    # A reviewer who has judged 2,000 pairs: the claim asks "had it?" only of the pairs
    # its index walk reaches, and reads its starting point from the member's row.
    # Collecting all 2,000 first (NOT IN) read every one of them on every claim, and took
    # 43 ms per claim at 50,000; counting them took 4 ms.
    experiment = make_experiment(owner, n_pairs=2600, reviews_per_pair=3)
    reviewer = make_user("long-session")
    if member:
        experiment.reviewers.add(reviewer)
    give_history(experiment, reviewer, history)
    statements = claim_statements(experiment, reviewer)
    read = [assignment_rows_read_by(sql, params) for sql, params in statements]
    # The walk probes at most two index runs of WINDOW pairs, plus the lowest level's
    # first pair; each probe finds at most reviews_per_pair rows of other reviewers.
    bound = (2 * WINDOW + 1) * 3
    # Someone who is not a member (only scripts and tests) has their history counted.
    if not member:
        bound += history

    assert sum(read) <= bound, list(zip(read, (sql for sql, _ in statements), strict=True))


def test_gold_check_probes_the_gold_pairs_instead_of_reading_the_history(owner):
    # Whether a gold pair is due asks "had it?" of each gold pair; excluding and joining the
    # reviewer's whole history took 100 ms per claim at 50,000 judgments.
    experiment = make_experiment(owner, n_pairs=2600, reviews_per_pair=3, gold_rate=0.2)
    gold_ids = list(
        Pair.objects.filter(experiment=experiment).order_by("-pk").values_list("pk", flat=True)
    )[:30]
    Pair.objects.filter(pk__in=gold_ids).update(is_gold=True)
    recount_pairs(experiment)
    reviewer = make_user("long-session")
    experiment.reviewers.add(reviewer)
    give_history(experiment, reviewer, 2000)
    sent = []

    def record(execute, sql, params, many, context):
        if "is_gold" in sql:
            sent.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        gold = gold_pair_due(experiment, reviewer, 2000)
    assert gold is not None and gold.is_gold  # 2,000 pairs seen, none of them gold: due
    assert sent
    for sql, params in sent:
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params)
            (document,) = cursor.fetchone()
        (plan,) = json.loads(document) if isinstance(document, str) else document
        assert assignment_rows_read(plan["Plan"]) <= 2 * len(gold_ids), sql


def test_deleting_an_experiment_bigger_than_the_parameter_limit(owner):
    # Django deletes an experiment's pairs by primary key in batches the backend sizes;
    # with server-side binding a batch of more than 65,535 keys was one statement too many
    # parameters ("number of parameters must be between 0 and 65535").
    experiment = make_experiment(owner, slug="big")
    n_pairs = MAX_PARAMETERS + 500
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO reviewapp_pair (experiment_id, external_id, prompt, model_a, output_a,
                                        model_b, output_b, shuffle_key, is_gold, slots_taken,
                                        metadata, gold, leak_flags, excluded, leak_kept,
                                        owner_note)
            SELECT %s, 'p' || i, 'q', 'a', 'x', 'b', 'y', i, false, 0, '{}', '{}', '[]',
                   false, false, ''
            FROM generate_series(1, %s) AS i
            """,
            [experiment.pk, n_pairs],
        )
    assert Pair.objects.filter(experiment=experiment).count() == n_pairs
    experiment.delete()
    assert not Experiment.objects.filter(slug="big").exists()
    assert not Pair.objects.exists()


def test_batches_the_orm_makes_fit_the_protocol():
    ops = connection.ops
    assert ops.bulk_batch_size(["id"], range(100_000)) == MAX_PARAMETERS
    assert ops.bulk_batch_size(["a"] * 9, range(100_000)) == MAX_PARAMETERS // 9
    assert ops.bulk_batch_size(["a"] * 9, range(10)) == 10
