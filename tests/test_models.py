"""Database constraints hold even when forms are bypassed."""

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from reviewapp.models import Assignment, Judgment, Pair
from tests.conftest import make_experiment


def assert_refused(**create):
    model = create.pop("model")
    with pytest.raises(IntegrityError), transaction.atomic():
        model.objects.create(**create)


@pytest.mark.django_db
def test_pair_models_must_differ(owner):
    experiment = make_experiment(owner)
    assert_refused(model=Pair, experiment=experiment, external_id="x", prompt="p",
                   model_a="same", model_b="same")  # fmt: skip


@pytest.mark.django_db
def test_pair_ids_unique_within_experiment_only(owner):
    first = make_experiment(owner, slug="first", n_pairs=1)
    second = make_experiment(owner, slug="second", n_pairs=1)
    assert first.pairs.get().external_id == second.pairs.get().external_id
    assert_refused(model=Pair, experiment=first, external_id="p00000", prompt="p",
                   model_a="a", model_b="b")  # fmt: skip


@pytest.mark.django_db
def test_reviewer_never_gets_same_pair_twice_at_database_level(owner, reviewers):
    experiment = make_experiment(owner, n_pairs=1)
    pair = experiment.pairs.get()
    row = dict(experiment=experiment, pair=pair, reviewer=reviewers[0], left_is_a=True,
               shown_at=timezone.now())  # fmt: skip
    Assignment.objects.create(**row)
    assert_refused(model=Assignment, **row)


@pytest.mark.django_db
def test_judgment_choice_and_uniqueness(owner, reviewers):
    experiment = make_experiment(owner, n_pairs=1)
    assignment = Assignment.objects.create(
        experiment=experiment, pair=experiment.pairs.get(), reviewer=reviewers[0],
        left_is_a=False, shown_at=timezone.now(),
    )  # fmt: skip
    dimension = experiment.dimensions.first()
    assert_refused(model=Judgment, assignment=assignment, dimension=dimension, choice="C")
    assert_refused(model=Judgment, assignment=assignment, dimension=dimension, choice="tie",
                   strength="clear")  # fmt: skip
    Judgment.objects.create(assignment=assignment, dimension=dimension, choice="A")
    assert_refused(model=Judgment, assignment=assignment, dimension=dimension, choice="B")


@pytest.mark.django_db
def test_submitted_assignment_needs_a_time(owner, reviewers):
    experiment = make_experiment(owner, n_pairs=1)
    assert_refused(model=Assignment, experiment=experiment, pair=experiment.pairs.get(),
                   reviewer=reviewers[0], left_is_a=True, shown_at=timezone.now(),
                   status="submitted")  # fmt: skip


@pytest.mark.django_db
def test_experiment_reviews_per_pair_range(owner):
    from reviewapp.models import Experiment

    assert_refused(model=Experiment, owner=owner, name="x", slug="x", reviews_per_pair=0)
    assert_refused(model=Experiment, owner=owner, name="y", slug="y", status="running")
