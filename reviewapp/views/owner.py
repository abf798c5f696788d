"""Experiment owners: list, create, configure, invite, open/close, watch progress."""

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from ..access import (
    can_own_experiments,
    experiments_for_owner,
    get_experiment_for_owner,
    require_owner_role,
)
from ..experiments import DimensionError, create_experiment, save_rubric
from ..forms import (
    AddReviewersForm,
    ExperimentForm,
    NewExperimentForm,
    RubricFormSet,
    StatusForm,
)
from ..models import Assignment, Experiment, Judgment
from ..results import outcome_counts


def experiment_progress(experiments):
    """Adds pairs, submitted assignments and needed assignments to each experiment (2 queries)."""
    ids = [e.pk for e in experiments]
    pair_counts = dict(
        Experiment.objects.filter(pk__in=ids).annotate(n=Count("pairs")).values_list("pk", "n")
    )
    done_counts = dict(
        Assignment.objects.filter(experiment_id__in=ids, status=Assignment.Status.SUBMITTED)
        .values("experiment_id")
        .annotate(n=Count("id"))
        .values_list("experiment_id", "n")
    )
    for experiment in experiments:
        experiment.n_pairs = pair_counts.get(experiment.pk, 0)
        experiment.n_done = done_counts.get(experiment.pk, 0)
        experiment.n_needed = experiment.n_pairs * experiment.reviews_per_pair
        experiment.percent_done = (
            round(100 * experiment.n_done / experiment.n_needed) if experiment.n_needed else 0
        )
    return experiments


@login_required
def experiment_list(request):
    require_owner_role(request.user)
    experiments = experiment_progress(list(experiments_for_owner(request.user)))
    return render(request, "owner/experiment_list.html", {"experiments": experiments})


@login_required
@require_http_methods(["GET", "POST"])
def experiment_new(request):
    require_owner_role(request.user)
    form = NewExperimentForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        experiment = create_experiment(owner=request.user, **data)
        messages.success(request, f"Created “{experiment.name}”. Next: upload pairs.")
        return redirect("owner-upload", experiment.slug)
    return render(request, "owner/experiment_form.html", {"form": form, "creating": True})


@login_required
@require_http_methods(["GET", "POST"])
def experiment_settings(request, slug):
    experiment = get_experiment_for_owner(request.user, slug)
    form = ExperimentForm(request.POST or None, instance=experiment)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Settings saved.")
        return redirect("owner-experiment", experiment.slug)
    return render(
        request,
        "owner/experiment_form.html",
        {"form": form, "experiment": experiment, "creating": False},
    )


@login_required
@require_http_methods(["GET", "POST"])
def experiment_dimensions(request, slug):
    experiment = get_experiment_for_owner(request.user, slug)
    data = request.POST if request.method == "POST" else None
    formset = RubricFormSet(data, experiment=experiment)
    error = None
    if formset.is_bound and formset.is_valid():
        try:
            save_rubric(experiment, formset.rubric(), formset.removed())
        except DimensionError as exc:
            error = str(exc)
        else:
            messages.success(request, "Rubric saved.")
            return redirect("owner-experiment", experiment.slug)
    context = {"experiment": experiment, "formset": formset, "error": error}
    return render(request, "owner/dimensions.html", context)


@login_required
def experiment_detail(request, slug):
    experiment = get_experiment_for_owner(request.user, slug)
    experiment_progress([experiment])
    reviewers = experiment.reviewers.annotate(
        n_done=Count(
            "assignments",
            filter=Q(assignments__experiment=experiment, assignments__status="submitted"),
        )
    ).order_by("username")
    context = {
        "experiment": experiment,
        "counts": outcome_counts(experiment),
        "reviewers": reviewers,
        "n_judgments": Judgment.objects.filter(assignment__experiment=experiment).count(),
        "reviewers_form": AddReviewersForm(),
        "dimensions": experiment.dimensions.all(),
        "shared_with": experiment.shared_with.order_by("username"),
    }
    return render(request, "owner/experiment_detail.html", context)


@login_required
@require_POST
def experiment_status(request, slug):
    experiment = get_experiment_for_owner(request.user, slug)
    form = StatusForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Unknown status.")
    else:
        experiment.status = form.cleaned_data["status"]
        experiment.save(update_fields=["status"])
        messages.success(request, f"Experiment is now {experiment.get_status_display().lower()}.")
    return redirect("owner-experiment", experiment.slug)


@login_required
@require_POST
def experiment_reviewers(request, slug):
    experiment = get_experiment_for_owner(request.user, slug)
    form = AddReviewersForm(request.POST)
    if form.is_valid():
        experiment.reviewers.add(*form.cleaned_data["usernames"])
        messages.success(request, f"Invited {len(form.cleaned_data['usernames'])} reviewer(s).")
    else:
        messages.error(request, " ".join(form.errors["usernames"]))
    return redirect("owner-experiment", experiment.slug)


@login_required
@require_POST
def experiment_sharing(request, slug):
    """Share the experiment with another owner (or stop sharing): they see and manage it."""
    experiment = get_experiment_for_owner(request.user, slug)
    # NUL cannot be stored or looked up in PostgreSQL text; no username contains one.
    username = request.POST.get("username", "").replace("\x00", "").strip()[:150]
    other = get_user_model().objects.filter(username=username).first()
    if other is None or not can_own_experiments(other):
        messages.error(request, f"No experiment owner named {username[:150]!r}.")
    elif request.POST.get("action") == "remove":
        experiment.shared_with.remove(other)
        messages.success(request, f"{other.username} no longer shares this experiment.")
    elif other.pk != experiment.owner_id:
        experiment.shared_with.add(other)
        messages.success(request, f"Shared with {other.username}.")
    return redirect("owner-experiment", experiment.slug)
