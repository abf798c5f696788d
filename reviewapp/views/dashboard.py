"""Owners follow their reviewers and remove one."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from ..access import get_experiment_for_owner
from ..dashboard import remove_reviewer, restore_reviewer, reviewer_rows
from ..models import Membership


@login_required
@require_GET
def reviewer_dashboard(request, slug):
    experiment = get_experiment_for_owner(request.user, slug)
    rows = [(row, row.progress) for row in reviewer_rows(experiment)]
    no_majority = any(row.majority_agreement is None and row.done for row, _ in rows)
    context = {"experiment": experiment, "rows": rows, "no_majority": no_majority}
    return render(request, "owner/reviewer_dashboard.html", context)


@login_required
@require_POST
def reviewer_remove(request, slug, membership_id):
    experiment = get_experiment_for_owner(request.user, slug)
    membership = get_object_or_404(Membership, pk=membership_id, experiment=experiment)
    if request.POST.get("action") == "restore":
        restore_reviewer(membership)
        messages.success(request, f"{membership.user.get_username()} may review again.")
    else:
        exclude = request.POST.get("exclude") == "1"
        freed = remove_reviewer(membership, exclude=exclude)
        messages.success(
            request,
            f"Removed {membership.user.get_username()}: {freed} pair(s) on their screen went "
            f"back to the pool; their judgments {'leave' if exclude else 'stay in'} the results.",
        )
    return redirect("owner-reviewer-dashboard", experiment.slug)
