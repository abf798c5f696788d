"""Experiment owners: list, create, configure, invite, open/close, watch progress."""

import math

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.views.decorators.http import require_http_methods, require_POST

from ..access import can_own_experiments, experiments_for_owner, get_experiment_for_owner
from ..assignment import experiment_progress as progress_by_experiment
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
    save_dimensions,
)
from ..forms import (
    MAX_DIMENSIONS,
    AddReviewersForm,
    ExperimentForm,
    NewExperimentForm,
    StatusForm,
)
from ..models import Experiment, Judgment
from ..results import outcome_counts


def require_owner_role(user) -> None:
    if not can_own_experiments(user):
        raise PermissionDenied("Only experiment owners can do this.")


def experiment_progress(experiments):
    """Puts assignment.experiment_progress's numbers on each experiment for the templates."""
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


class MalformedRubric(Exception):
    """A rubric POST the page cannot have sent (lists of different lengths, odd ids)."""


def parse_dimension_rows(post) -> list[tuple[int | None, str]]:
    """Rows of the rubric form -> (id or None, name), sorted by the order the owner typed."""
    names, ids, orders = (post.getlist(f) for f in ("dim_name", "dim_id", "dim_order"))
    if not len(names) == len(ids) == len(orders):
        raise MalformedRubric("The rubric form was incomplete.")
    removed = set(post.getlist("dim_remove"))
    rows = []
    for i, (name, raw_id, raw_order) in enumerate(zip(names, ids, orders, strict=True)):
        name = name.strip()
        if str(i) in removed or (not name and not raw_id):
            continue
        if "\x00" in name:
            raise DimensionError("A dimension name cannot contain a NUL character.")
        try:
            order = float(raw_order) if raw_order else 1_000 + i
        except ValueError:
            raise DimensionError(f"Order {raw_order[:20]!r} is not a number.") from None
        if not math.isfinite(order):
            raise DimensionError(f"Order {raw_order[:20]!r} is not a number.")
        if raw_id and not (raw_id.isascii() and raw_id.isdigit() and len(raw_id) < 19):
            raise MalformedRubric("The rubric form named a dimension that does not exist.")
        rows.append((order, i, int(raw_id) if raw_id else None, name))
        if len(rows) > MAX_DIMENSIONS:
            raise DimensionError(f"At most {MAX_DIMENSIONS} dimensions, please.")
    return [(pk, name) for _, _, pk, name in sorted(rows)]


@login_required
@require_http_methods(["GET", "POST"])
def experiment_dimensions(request, slug):
    experiment = get_experiment_for_owner(request.user, slug)
    error = None
    if request.method == "POST":
        try:
            save_dimensions(experiment, parse_dimension_rows(request.POST))
        except MalformedRubric as exc:
            return HttpResponseBadRequest(str(exc))
        except DimensionError as exc:
            error = str(exc)
        else:
            messages.success(request, "Rubric saved.")
            warn_of_visible_leaks(request, experiment)
            return redirect("owner-experiment", experiment.slug)
    dimensions = list(experiment.dimensions.annotate(n_judgments=Count("judgments")))
    return render(
        request,
        "owner/dimensions.html",
        {
            "experiment": experiment,
            "dimensions": dimensions,
            "error": error,
            "blank_rows": range(2),
        },
    )


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
        messages.success(request, f"{n} flagged pair{pluralize(n)} taken out of review.")
    elif action == "keep":
        n = keep_flagged_pairs(experiment)
        messages.success(request, f"{n} flagged pair{pluralize(n)} kept in review.")
    else:
        return HttpResponseBadRequest("Choose exclude or keep.")
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
