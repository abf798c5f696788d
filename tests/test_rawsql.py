"""Hand-written SQL on the review loop gives the same instances the ORM gives."""

import datetime

import pytest
from django.db import connection

from reviewapp.access import get_membership_for_reviewer
from reviewapp.models import Experiment, InviteLink, Membership, Pair
from reviewapp.rawsql import columns, instance
from tests.conftest import make_experiment, make_user


def field_values(obj):
    return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}


def raw_instance(model, pk):
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {columns(model, 't')} FROM {model._meta.db_table} t WHERE id = %s", [pk]
        )
        return instance(model, cursor.fetchone())


@pytest.mark.django_db
def test_every_field_converts_as_the_orm_converts_it(owner):
    experiment = make_experiment(owner, n_pairs=1, allow_ties=False, gold_rate=0.25)
    pair = Pair.objects.get(experiment=experiment)
    Pair.objects.filter(pk=pair.pk).update(
        metadata={"source": "x", "n": [1, 2.5, None]}, is_gold=True, gold={"overall": "A"}
    )
    invite = InviteLink.objects.create(
        experiment=experiment,
        quota=3,
        expires_at=datetime.datetime(2030, 1, 2, 3, 4, 5, 6, datetime.UTC),
    )
    member = Membership.objects.create(
        experiment=experiment,
        user=make_user("rita"),
        invite=invite,
        excluded=True,
        platform_data={"STUDY_ID": "s1"},
        participant_id="p-1",
    )
    for model, pk in [
        (Pair, pair.pk),
        (Experiment, experiment.pk),
        (InviteLink, invite.pk),
        (Membership, member.pk),
    ]:
        from_orm = model.objects.get(pk=pk)
        from_sql = raw_instance(model, pk)
        assert field_values(from_sql) == field_values(from_orm), model
        for name, value in field_values(from_orm).items():
            assert type(getattr(from_sql, name)) is type(value), (model, name)
        assert not from_sql._state.adding


@pytest.mark.django_db
def test_membership_lookup_counts_and_refuses_outsiders(owner):
    experiment = make_experiment(owner, n_pairs=2)
    rita, raj, stranger = make_user("rita"), make_user("raj"), make_user("stranger")
    experiment.reviewers.add(rita, raj)
    membership = get_membership_for_reviewer(rita, experiment.slug)
    assert (membership.done, membership.n_reviewers, membership.invite) == (0, 2, None)
    assert membership.experiment == experiment and membership.user == rita
    from django.http import Http404

    with pytest.raises(Http404):
        get_membership_for_reviewer(stranger, experiment.slug)
    with pytest.raises(Http404):
        get_membership_for_reviewer(rita, "no-such-slug")


@pytest.mark.django_db
def test_membership_rubric_is_the_dimensions_in_screen_order(owner):
    from reviewapp.experiments import save_rubric

    experiment = make_experiment(owner, dimensions=["overall", "style", "accuracy", "zeta"])
    rita = make_user("rita")
    experiment.reviewers.add(rita)
    dims = {d.name: d for d in experiment.dimensions.all()}
    # Reordered (positions no longer follow ids) and one removed.
    save_rubric(
        experiment,
        [dims["zeta"], dims["accuracy"], dims["overall"]],
        removed=[dims["style"]],
    )
    got = get_membership_for_reviewer(rita, experiment.slug).rubric
    assert [field_values(d) for d in got] == [
        field_values(d) for d in experiment.dimensions.order_by("position")
    ]
    assert [d.name for d in got] == ["zeta", "accuracy", "overall"]
    for name, value in field_values(experiment.dimensions.get(name="zeta")).items():
        assert type(getattr(got[0], name)) is type(value), name


@pytest.mark.django_db
def test_membership_rubric_of_an_experiment_without_dimensions_is_empty(owner):
    experiment = make_experiment(owner, dimensions=["overall"])
    experiment.dimensions.all().delete()
    rita = make_user("rita")
    experiment.reviewers.add(rita)
    assert get_membership_for_reviewer(rita, experiment.slug).rubric == []
