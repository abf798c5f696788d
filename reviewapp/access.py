"""One helper per access rule; every view goes through one of these.

Anything a user may not see answers 404, so guessing slugs or ids reveals nothing.
"""

import json
from functools import partial

from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.db.models import Q
from django.http import Http404
from django.utils.functional import LazyObject

from .models import Assignment, Dimension, Experiment, InviteLink, Membership
from .rawsql import columns, instance, width

# Owners are the users holding this permission (given in the admin, directly or through a
# group, or by grant_owner_role); every page, API call and template asks can_own_experiments.
OWNER_PERMISSION = "reviewapp.add_experiment"


def can_own_experiments(user) -> bool:
    return user.is_authenticated and user.has_perm(OWNER_PERMISSION)


def require_owner_role(user) -> None:
    """403 for anyone who may not create experiments (the API answers it as `forbidden`)."""
    if not can_own_experiments(user):
        raise PermissionDenied("Only experiment owners can do this.")


def grant_owner_role(user) -> None:
    app_label, codename = OWNER_PERMISSION.split(".")
    permission = Permission.objects.get(content_type__app_label=app_label, codename=codename)
    user.user_permissions.add(permission)


def owner_role(request) -> dict:
    """Template context processor: `can_own_experiments`, worked out only if a template
    asks (the template calls it), as `perms` would be."""
    return {"can_own_experiments": partial(can_own_experiments, request.user)}


def get_experiment_for_owner(user, slug: str) -> Experiment:
    try:
        experiment = Experiment.objects.get(slug=slug)
    except Experiment.DoesNotExist:
        raise Http404("No such experiment.") from None
    if not user.is_authenticated:
        raise Http404("No such experiment.")
    if experiment.owner_id != user.pk and not experiment.shared_with.filter(pk=user.pk).exists():
        raise Http404("No such experiment.")
    return experiment


def experiments_for_owner(user):
    """Experiments the user owns or that were shared with them."""
    return Experiment.objects.filter(Q(owner=user) | Q(shared_with=user)).distinct()


def experiments_for_reviewer(user):
    """Open experiments this user was invited to review."""
    return Experiment.objects.filter(reviewers=user, status=Experiment.Status.OPEN)


def get_experiment_for_reviewer(user, slug: str) -> Experiment:
    try:
        return Experiment.objects.get(slug=slug, reviewers=user)
    except Experiment.DoesNotExist:
        raise Http404("No such experiment.") from None


def get_membership_for_reviewer(user, slug: str) -> Membership:
    """The reviewer's place in the experiment, in one query (it runs on every review
    request): with the experiment, the invite, the rubric (`rubric`: the dimensions in
    screen order) and the counts the progress bar needs (`done`: pairs this reviewer
    submitted; `n_reviewers`: members of the experiment)."""
    if not user.is_authenticated:
        raise Http404("No such experiment.")
    sql = f"""
        SELECT {columns(Membership, "m")}, {columns(Experiment, "e")}, {columns(InviteLink, "i")},
            (SELECT COUNT(*) FROM reviewapp_assignment a
             WHERE a.experiment_id = m.experiment_id AND a.reviewer_id = m.user_id
               AND a.status = %s),
            (SELECT COUNT(*) FROM reviewapp_membership o WHERE o.experiment_id = m.experiment_id),
            (SELECT {_JSON_ROWS[connection.vendor]}(d.id, d.name, d.position))
             FROM reviewapp_dimension d WHERE d.experiment_id = m.experiment_id)
        FROM reviewapp_membership m
        JOIN reviewapp_experiment e ON e.id = m.experiment_id
        LEFT JOIN reviewapp_invitelink i ON i.id = m.invite_id
        WHERE e.slug = %s AND m.user_id = %s
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [Assignment.Status.SUBMITTED, slug, user.pk])
        row = cursor.fetchone()
    if row is None:
        raise Http404("No such experiment.")
    m, e = width(Membership), width(Experiment)
    membership = instance(Membership, row[:m])
    membership.experiment = instance(Experiment, row[m : m + e])
    invite_row = row[m + e : -3]
    membership.invite = None if invite_row[0] is None else instance(InviteLink, invite_row)
    membership.done, membership.n_reviewers, dimension_rows = row[-3:]
    membership.rubric = _rubric_from_json(membership.experiment, dimension_rows)
    membership.user = _unwrapped(user)  # already loaded: spare the query
    return membership


def _unwrapped(user):
    """The user itself rather than request.user's lazy proxy: each attribute read through
    the proxy costs a Python-level lookup and a caught AttributeError, and the review loop
    reads the reviewer's id dozens of times per request."""
    return user._wrapped if isinstance(user, LazyObject) else user


# The rubric as one JSON array of [id, name, position] rows (aggregates cannot take an
# ORDER BY on SQLite before 3.44, so the order is made in Python).
_JSON_ROWS = {
    "postgresql": "json_agg(json_build_array",
    "sqlite": "json_group_array(json_array",
}


def _rubric_from_json(experiment: Experiment, rows) -> list[Dimension]:
    if isinstance(rows, str):  # SQLite hands JSON back as text, psycopg decodes it
        rows = json.loads(rows)
    dimensions = [
        Dimension(id=pk, experiment_id=experiment.pk, name=name, position=position)
        for pk, name, position in rows or ()
    ]
    dimensions.sort(key=lambda dimension: dimension.position)
    return dimensions
