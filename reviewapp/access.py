"""One helper per access rule; every view goes through one of these.

Anything a user may not see answers 404, so guessing slugs or ids reveals nothing.
"""

from dataclasses import dataclass
from functools import partial

from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied
from django.db.models import F, Q
from django.http import Http404

from .models import Dimension, Experiment

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
    return Experiment.objects.filter(
        memberships__user=user,
        memberships__removed_at__isnull=True,
        status=Experiment.Status.OPEN,
    )


def get_experiment_for_reviewer(user, slug: str) -> Experiment:
    try:
        return Experiment.objects.get(slug=slug, reviewers=user)
    except Experiment.DoesNotExist:
        raise Http404("No such experiment.") from None


@dataclass(frozen=True)
class ReviewerMembership:
    """A reviewer's place in one experiment: everything a review request needs to know
    before it picks or stores a pair. Progress is counted only where it is shown
    (progress.membership_progress), not on every request."""

    experiment: Experiment
    user: object
    invite_id: int | None  # the invite link they came through, if any
    quota: int | None  # pairs this reviewer may judge (invite links), None for no limit
    rubric: tuple[Dimension, ...]  # in screen order

    @property
    def experiment_id(self) -> int:
        return self.experiment.pk

    @property
    def user_id(self) -> int:
        return self.user.pk


def get_membership_for_reviewer(user, slug: str) -> ReviewerMembership:
    """The reviewer's membership, found by the experiment's slug (the API's paths)."""
    return _membership(user, slug=slug)


def get_membership_by_review_key(user, review_key: str) -> ReviewerMembership:
    """The reviewer's membership, found by the experiment's opaque review key (the web
    review pages' URLs, which must not show the slug: owners often put model names in it)."""
    return _membership(user, review_key=review_key)


def _membership(user, **experiment_lookup) -> ReviewerMembership:
    """One query (it runs on every review request): the experiment, the member's invite
    and quota, and the rubric, one row per dimension in screen order (a LEFT JOIN, so an
    experiment without dimensions still gives its one row). One statement instead of two,
    and no ORDER BY across the join: bench/README.md, "The review loop, cheaper per
    request"."""
    if not user.is_authenticated:
        raise Http404("No such experiment.")
    rows = list(
        Experiment.objects.filter(
            memberships__user=user, memberships__removed_at__isnull=True, **experiment_lookup
        )
        .annotate(
            member_invite_id=F("memberships__invite_id"),
            member_quota=F("memberships__quota"),
            dimension_id=F("dimensions__id"),
            dimension_name=F("dimensions__name"),
            dimension_position=F("dimensions__position"),
        )
        .order_by()  # the rubric is put in screen order below, cheaper than in SQL
    )
    if not rows:
        raise Http404("No such experiment.")
    experiment = rows[0]
    rows.sort(key=lambda row: row.dimension_position or 0)
    return ReviewerMembership(
        experiment=experiment,
        user=user,
        invite_id=experiment.member_invite_id,
        quota=experiment.member_quota,
        rubric=tuple(
            Dimension(
                id=row.dimension_id,
                experiment_id=experiment.pk,
                name=row.dimension_name,
                position=row.dimension_position,
            )
            for row in rows
            if row.dimension_id is not None
        ),
    )
