"""One helper per access rule; every view goes through one of these.

Anything a user may not see answers 404, so guessing slugs or ids reveals nothing.
"""

from dataclasses import dataclass
from functools import partial

from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied
from django.db.models import F, Func, IntegerField, OuterRef, Q, Subquery
from django.http import Http404

from .models import Assignment, Dimension, Experiment, InviteLink, Membership

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
    before it picks or stores a pair."""

    experiment: Experiment
    user: object
    invite: InviteLink | None
    quota: int | None  # pairs this reviewer may judge (invite links), None for no limit
    done: int  # pairs this reviewer has submitted
    n_reviewers: int  # members of the experiment
    rubric: tuple[Dimension, ...]  # in screen order

    @property
    def experiment_id(self) -> int:
        return self.experiment.pk

    @property
    def user_id(self) -> int:
        return self.user.pk


def get_membership_for_reviewer(user, slug: str) -> ReviewerMembership:
    """The reviewer's membership, found by the experiment's slug (the API's paths)."""
    return _membership(user, Q(experiment__slug=slug))


def get_membership_by_review_key(user, review_key: str) -> ReviewerMembership:
    """The reviewer's membership, found by the experiment's opaque review key (the web
    review pages' URLs, which must not show the slug: owners often put model names in it)."""
    return _membership(user, Q(experiment__review_key=review_key))


def _count(queryset):
    """The number of rows of a queryset, as a subquery expression. COUNT as a plain
    function, not an aggregate: no GROUP BY, so one row even when nothing matches."""
    counted = queryset.order_by().annotate(
        n=Func("pk", function="COUNT", output_field=IntegerField())
    )
    return Subquery(counted.values("n"))


def _membership(user, experiment_lookup: Q) -> ReviewerMembership:
    """One query (it runs on every review request): the membership with its experiment
    and invite, the two progress counts, and one row per rubric dimension (the rubric is
    joined in, so the membership's columns repeat on each of those few rows)."""
    if not user.is_authenticated:
        raise Http404("No such experiment.")
    rows = list(
        Membership.objects.filter(experiment_lookup, user=user, removed_at__isnull=True)
        .select_related("experiment", "invite")
        .annotate(
            done=_count(
                Assignment.objects.filter(
                    experiment=OuterRef("experiment_id"),
                    reviewer=OuterRef("user_id"),
                    status=Assignment.Status.SUBMITTED,
                )
            ),
            n_reviewers=_count(Membership.objects.filter(experiment=OuterRef("experiment_id"))),
            dimension_id=F("experiment__dimensions__id"),
            dimension_name=F("experiment__dimensions__name"),
            dimension_position=F("experiment__dimensions__position"),
        )
        .order_by("dimension_position")
    )
    if not rows:
        raise Http404("No such experiment.")
    first = rows[0]
    rubric = tuple(
        Dimension(
            id=row.dimension_id,
            experiment_id=first.experiment_id,
            name=row.dimension_name,
            position=row.dimension_position,
        )
        for row in rows
        if row.dimension_id is not None
    )
    return ReviewerMembership(
        experiment=first.experiment,
        user=user,
        invite=first.invite,
        quota=first.quota,
        done=first.done,
        n_reviewers=first.n_reviewers,
        rubric=rubric,
    )
