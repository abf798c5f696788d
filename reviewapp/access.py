"""One helper per access rule; every view goes through one of these.

Anything a user may not see answers 404, so guessing slugs or ids reveals nothing.
"""

from dataclasses import dataclass
from functools import partial

from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404

from .models import Dimension, Experiment, Membership

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
    return _membership(user, experiment__slug=slug)


def get_membership_by_review_key(user, review_key: str) -> ReviewerMembership:
    """The reviewer's membership, found by the experiment's opaque review key (the web
    review pages' URLs, which must not show the slug: owners often put model names in it)."""
    return _membership(user, experiment__review_key=review_key)


def _membership(user, **experiment_lookup) -> ReviewerMembership:
    """Two plain queries (they run on every review request): the membership with its
    experiment, then the rubric. Simple statements on purpose: each Django query costs
    mostly the Python that builds it, and a join or subquery more (bench/README.md)."""
    if not user.is_authenticated:
        raise Http404("No such experiment.")
    try:
        member = Membership.objects.select_related("experiment").get(
            user=user, removed_at__isnull=True, **experiment_lookup
        )
    except Membership.DoesNotExist:
        raise Http404("No such experiment.") from None
    return ReviewerMembership(
        experiment=member.experiment,
        user=user,
        invite_id=member.invite_id,
        quota=member.quota,
        rubric=tuple(Dimension.objects.filter(experiment_id=member.experiment_id)),
    )
