"""One helper per access rule; every view goes through one of these.

Anything a user may not see answers 404, so guessing slugs or ids reveals nothing.
"""

from dataclasses import dataclass
from functools import partial

from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied
from django.db.models import F, Q
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
    member_id: int | None = None  # their Membership row
    # The queue's counters on that row (assignment._Place), read only by lock_membership:
    # they are exact only under the member's row lock.
    claims: int | None = None
    originals: int | None = None

    @property
    def experiment_id(self) -> int:
        return self.experiment.pk

    @property
    def user_id(self) -> int:
        return self.user.pk


def get_membership(user, **experiment_lookup) -> ReviewerMembership:
    """The reviewer's membership in the experiment found by `experiment_lookup`
    (slug=... or review_key=...); 404 for anyone else."""
    return _membership(user, **experiment_lookup)


def get_membership_for_reviewer(user, slug: str) -> ReviewerMembership:
    """The reviewer's membership, found by the experiment's slug (the API's paths)."""
    return _membership(user, slug=slug)


def get_membership_by_review_key(user, review_key: str) -> ReviewerMembership:
    """The reviewer's membership, found by the experiment's opaque review key (the web
    review pages' URLs, which must not show the slug: owners often put model names in it)."""
    return _membership(user, review_key=review_key)


def lock_membership(user, **experiment_lookup) -> ReviewerMembership:
    """The reviewer's membership with their Membership row locked until the transaction
    ends, and the queue's counters on it (the claim: assignment.claim_as_member). The lock
    rides on the read, one statement instead of two (bench/README.md)."""
    return _membership(user, lock=True, **experiment_lookup)


def member_filter(user, to_membership: str, to_experiment: str, **experiment_lookup) -> dict:
    """Filter arguments: `user` is a current (not removed) member of the experiment that
    matches `experiment_lookup` (slug=... or review_key=...), the membership and the
    experiment reached through `to_membership` and `to_experiment`."""
    return {
        f"{to_membership}user": user,
        f"{to_membership}removed_at__isnull": True,
    } | {f"{to_experiment}{field}": value for field, value in experiment_lookup.items()}


def rubric_columns(to_experiment: str = "") -> dict:
    """Annotations: one of the experiment's dimensions per row (a LEFT JOIN, so an
    experiment without dimensions still gives its one row). Read with the rest of a
    review request's first query rather than in a query of its own."""
    return {
        "dimension_id": F(f"{to_experiment}dimensions__id"),
        "dimension_name": F(f"{to_experiment}dimensions__name"),
        "dimension_position": F(f"{to_experiment}dimensions__position"),
    }


def rubric_of(rows, experiment_id: int) -> tuple[Dimension, ...]:
    """The rubric in screen order, from rows annotated with rubric_columns (sorted here:
    cheaper than an ORDER BY across the join)."""
    dimensions = sorted(
        (row for row in rows if row.dimension_id is not None),
        key=lambda row: row.dimension_position,
    )
    return tuple(
        Dimension(
            id=row.dimension_id,
            experiment_id=experiment_id,
            name=row.dimension_name,
            position=row.dimension_position,
        )
        for row in dimensions
    )


def member_columns(to_membership: str) -> dict:
    """Annotations: the membership's invite and quota (for a query that reaches the
    member's row through a join, as the submit's does)."""
    return {
        "member_id": F(f"{to_membership}id"),
        "member_invite_id": F(f"{to_membership}invite_id"),
        "member_quota": F(f"{to_membership}quota"),
    }


def _membership(user, *, lock: bool = False, **experiment_lookup) -> ReviewerMembership:
    """One query (it runs on every review request): the experiment, the member's invite,
    quota and counters, and the rubric, one row per dimension. No ORDER BY across the
    join: bench/README.md, "The review loop, cheaper per request"."""
    if not user.is_authenticated:
        raise Http404("No such experiment.")
    members = (
        Membership.objects.filter(**member_filter(user, "", "experiment__", **experiment_lookup))
        .select_related("experiment")
        .annotate(**rubric_columns("experiment__"))
        .order_by()
    )
    if lock:
        # Only the member's row (`of`): a lock on the experiment's row would queue every
        # claim of the experiment behind each other.
        members = members.select_for_update(no_key=True, of=("self",))
    rows = list(members)
    if not rows:
        raise Http404("No such experiment.")
    member = rows[0]
    return ReviewerMembership(
        experiment=member.experiment,
        user=user,
        invite_id=member.invite_id,
        quota=member.quota,
        rubric=rubric_of(rows, member.experiment_id),
        member_id=member.pk,
        claims=member.claims if lock else None,
        originals=member.originals if lock else None,
    )
