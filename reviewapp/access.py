"""One helper per access rule; every view goes through one of these.

Anything a user may not see answers 404, so guessing slugs or ids reveals nothing.
"""

from django.db.models import IntegerField, OuterRef, Q, Subquery
from django.http import Http404

from .models import Assignment, Experiment, Membership


class CountOf(Subquery):
    """COUNT(*) of a correlated queryset as an annotation (0, not NULL, when empty)."""

    template = "(SELECT COUNT(*) FROM (%(subquery)s) AS counted)"
    output_field = IntegerField()


def count_of(queryset) -> CountOf:
    return CountOf(queryset.order_by().values("pk"))


def can_own_experiments(user) -> bool:
    return user.is_authenticated and user.has_perm("reviewapp.add_experiment")


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
    """The reviewer's place in the experiment, in one query: with the experiment, the
    invite, and the counts the progress bar needs (`done`: pairs this reviewer
    submitted; `n_reviewers`: members of the experiment)."""
    submitted = Assignment.objects.filter(
        experiment=OuterRef("experiment_id"),
        reviewer=OuterRef("user_id"),
        status=Assignment.Status.SUBMITTED,
    )
    members = Membership.objects.filter(experiment=OuterRef("experiment_id"))
    memberships = Membership.objects.select_related("experiment", "invite").annotate(
        done=count_of(submitted), n_reviewers=count_of(members)
    )
    try:
        membership = memberships.get(experiment__slug=slug, user=user)
    except Membership.DoesNotExist:
        raise Http404("No such experiment.") from None
    membership.user = user  # already loaded: spare the query
    return membership
