"""Experiment owners: list, create, configure, invite, open/close, watch progress."""

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.http import HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.views.decorators.http import require_http_methods, require_POST

from ..access import (
    can_own_experiments,
    experiments_for_owner,
    get_experiment_for_owner,
    require_owner_role,
)
from ..calibration import mark_calibration_pairs
from ..experiments import (
    DimensionError,
    clone_experiment,
    create_experiment,
    delete_experiment,
    exclude_flagged_pairs,
    experiment_leaks_for,
    keep_flagged_pairs,
    leak_report,
    model_names,
    save_rubric,
)
from ..forms import (
    AddReviewersForm,
    ExperimentForm,
    NewExperimentForm,
    RubricFormSet,
    StatusForm,
)
from ..models import Experiment, Judgment
from ..progress import experiment_progress as progress_by_experiment
from ..results import outcome_counts
from ..reviewers import ReviewerConflict, create_reviewer_account

# Session key: {slug: the usernames nobody has}, shown again in the invite box.
UNKNOWN_REVIEWERS_KEY = "unknown_reviewers"


def experiment_progress(experiments):
    """Puts progress.experiment_progress's numbers on each experiment for the templates."""
    progress = progress_by_experiment(experiments)
    for experiment in experiments:
        numbers = progress[experiment.pk]
        experiment.n_pairs = numbers.pairs
        experiment.n_done = numbers.reviews_done
        experiment.n_needed = numbers.reviews_needed
        experiment.percent_done = numbers.percent_done
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
        if "calibration_pairs" in form.changed_data:
            mark_calibration_pairs(experiment)
        messages.success(request, "Settings saved.")
        warn_of_visible_leaks(request, experiment)
        return redirect("owner-experiment", experiment.slug)
    return render(
        request,
        "owner/experiment_form.html",
        {"form": form, "experiment": experiment, "creating": False},
    )


def warn_of_visible_leaks(request, experiment) -> None:
    report = experiment_leaks_for(experiment, model_names(experiment))
    for leak in report.visible:
        messages.warning(
            request, f"The {leak.field} names a model ({leak.match!r}): reviewers would see it."
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
            warn_of_visible_leaks(request, experiment)
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
        "reviewers_form": AddReviewersForm(
            initial={"usernames": request.session.pop(UNKNOWN_REVIEWERS_KEY, {}).get(slug, "")}
        ),
        "dimensions": experiment.dimensions.all(),
        "shared_with": experiment.shared_with.order_by("username"),
        "leaks": leak_report(experiment),
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
        status = form.cleaned_data["status"]
        opening = status == Experiment.Status.OPEN and not experiment.is_open
        if opening and not form.cleaned_data["confirm_leaks"]:
            report = leak_report(experiment)
            if report.unresolved:
                # Opening shows these to reviewers: the owner says so explicitly.
                context = {"experiment": experiment, "leaks": report}
                return render(request, "owner/open_confirm.html", context)
        experiment.status = status
        experiment.save(update_fields=["status"])
        messages.success(request, f"Experiment is now {experiment.get_status_display().lower()}.")
    return redirect("owner-experiment", experiment.slug)


@login_required
@require_POST
def experiment_leaks(request, slug):
    """The owner's decision on the flagged pairs: take them out of review, or keep them."""
    experiment = get_experiment_for_owner(request.user, slug)
    action = request.POST.get("action")
    if action == "exclude":
        n = exclude_flagged_pairs(experiment)
        messages.success(request, f"{n:,} flagged pair{pluralize(n)} taken out of review.")
    elif action == "keep":
        n = keep_flagged_pairs(experiment)
        messages.success(request, f"{n:,} flagged pair{pluralize(n)} kept in review.")
    else:
        return HttpResponseBadRequest("Choose exclude or keep.")
    return redirect("owner-experiment", experiment.slug)


@login_required
@require_POST
def experiment_reviewers(request, slug):
    experiment = get_experiment_for_owner(request.user, slug)
    form = AddReviewersForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(form.errors["usernames"]))
        return redirect("owner-experiment", experiment.slug)
    if users := form.cleaned_data["usernames"]:
        experiment.reviewers.add(*users)
        names = ", ".join(sorted(u.username for u in users))
        messages.success(request, f"Invited {len(users):,} reviewer(s): {names}.")
    if form.unknown:
        # Kept in the box on the next page, so a typo is corrected rather than retyped.
        request.session[UNKNOWN_REVIEWERS_KEY] = {experiment.slug: "\n".join(form.unknown)}
        shown = ", ".join(form.unknown[:20]) + (" ..." if len(form.unknown) > 20 else "")
        messages.error(request, f"No user named {shown}: not invited (left in the box to correct).")
    return redirect("owner-experiment", experiment.slug)


@login_required
@require_POST
def experiment_reviewer_account(request, slug):
    """A new reviewer account for this experiment; its password is shown on this response
    only (not redirected through the session, which would keep it)."""
    experiment = get_experiment_for_owner(request.user, slug)
    username = request.POST.get("username", "").replace("\x00", "")
    try:
        membership, password = create_reviewer_account(experiment, username)
    except ReviewerConflict as conflict:
        messages.error(request, str(conflict))
        return redirect("owner-experiment", experiment.slug)
    context = {"experiment": experiment, "account": membership.user, "password": password}
    return render(request, "owner/reviewer_account.html", context)


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


@login_required
@require_POST
def experiment_clone(request, slug):
    """A new draft with this experiment's settings and rubric (not its pairs or reviewers)."""
    experiment = get_experiment_for_owner(request.user, slug)
    require_owner_role(request.user)
    name = request.POST.get("name", "").replace("\x00", "").strip()[:200]
    clone = clone_experiment(
        experiment, owner=request.user, name=name or f"{experiment.name} (copy)"
    )
    messages.success(request, f"Created “{clone.name}” with the same settings. Next: upload pairs.")
    return redirect("owner-experiment", clone.slug)


@login_required
@require_POST
def experiment_delete(request, slug):
    """Only the experiment's owner, after typing its slug: everything in it goes."""
    experiment = get_experiment_for_owner(request.user, slug)
    if experiment.owner_id != request.user.pk:
        messages.error(request, "Only the experiment's owner can delete it.")
        return redirect("owner-settings", experiment.slug)
    if request.POST.get("confirm", "").strip() != experiment.slug:
        messages.error(request, f"Type the experiment's slug ({experiment.slug}) to delete it.")
        return redirect("owner-settings", experiment.slug)
    name = experiment.name
    delete_experiment(experiment)
    messages.success(request, f"Deleted “{name}” and all its pairs and judgments.")
    return redirect("owner-experiments")
