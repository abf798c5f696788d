"""experiments.save_rubric: the rubric rules, whatever form or command calls it."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from reviewapp.experiments import DimensionError, save_rubric
from reviewapp.models import Assignment, Dimension, Judgment, Pair
from tests.conftest import make_experiment, make_user

pytestmark = pytest.mark.django_db


def rubric(experiment) -> list[tuple[str, int]]:
    return list(experiment.dimensions.order_by("position").values_list("name", "position"))


def test_reorders_renames_adds_and_removes_in_one_go(owner):
    experiment = make_experiment(owner, dimensions=["a", "b", "c", "d"])
    a, b, c, d = experiment.dimensions.all()
    b.name = "a"  # takes the name a gives up
    a.name = "b"
    save_rubric(experiment, [d, Dimension(name="new"), b, a], removed=[c])
    assert rubric(experiment) == [("d", 0), ("new", 1), ("a", 2), ("b", 3)]
    assert experiment.dimensions.get(name="a").pk == b.pk


def test_positions_stay_contiguous_after_gaps(owner):
    experiment = make_experiment(owner, dimensions=["a", "b"])
    a, b = experiment.dimensions.all()
    Dimension.objects.filter(pk=b.pk).update(position=700)  # as an old gap would leave it
    save_rubric(experiment, [b, a, Dimension(name="c")])
    assert rubric(experiment) == [("b", 0), ("a", 1), ("c", 2)]


def test_saving_is_a_handful_of_queries_whatever_the_rubric_size(owner):
    experiment = make_experiment(owner, dimensions=[f"d{i}" for i in range(40)])
    dimensions = list(experiment.dimensions.all())
    with CaptureQueriesContext(connection) as queries:
        save_rubric(experiment, dimensions[::-1] + [Dimension(name="new")])
    assert len(queries) <= 10, [q["sql"] for q in queries]
    assert [name for name, _ in rubric(experiment)][:2] == ["d39", "d38"]


def test_refuses_removing_a_dimension_with_judgments(owner):
    experiment = make_experiment(owner, dimensions=["a", "b"])
    a, b = experiment.dimensions.all()
    pair = Pair.objects.create(
        experiment=experiment, external_id="p", prompt="p", model_a="x", model_b="y"
    )
    assignment = Assignment.objects.create(
        experiment=experiment, pair=pair, reviewer=make_user("rita"), shown_at=timezone.now()
    )
    Judgment.objects.create(assignment=assignment, dimension=b, choice="A")
    with pytest.raises(DimensionError, match="“b” already has judgments"):
        save_rubric(experiment, [a], removed=[b])
    assert rubric(experiment) == [("a", 0), ("b", 1)]


@pytest.mark.parametrize(
    "names, message",
    [
        (["a", "A"], "listed twice"),
        (["a", " "], "Every dimension needs a name"),
        ([], "at least one dimension"),
        (["a", "x" * 61], "longer than 60 characters"),
    ],
)
def test_refuses_bad_names(owner, names, message):
    experiment = make_experiment(owner, dimensions=["a"])
    (a,) = experiment.dimensions.all()
    kept = [a] if names else []
    removed = [] if names else [a]
    with pytest.raises(DimensionError, match=message):
        save_rubric(experiment, kept + [Dimension(name=n) for n in names[1:]], removed=removed)
    assert rubric(experiment) == [("a", 0)]


def test_refuses_a_list_that_forgets_or_repeats_a_dimension(owner):
    experiment = make_experiment(owner, dimensions=["a", "b"])
    a, b = experiment.dimensions.all()
    for kept, removed in (([a], []), ([a, b], [b])):
        with pytest.raises(DimensionError, match="changed meanwhile"):
            save_rubric(experiment, kept, removed=removed)
    with pytest.raises(DimensionError, match="listed twice"):
        save_rubric(experiment, [a, b, a])
    other = make_experiment(owner, slug="other", dimensions=["z"])
    with pytest.raises(DimensionError, match="changed meanwhile"):
        save_rubric(experiment, [a, b, other.dimensions.get()])
    assert rubric(experiment) == [("a", 0), ("b", 1)] and rubric(other) == [("z", 0)]
