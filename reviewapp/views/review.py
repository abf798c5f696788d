"""Reviewers: the blind side-by-side comparison.

Blindness is decided here: the templates receive the prompt, the left text, the right
text, the dimensions and progress. Model names, pair ids and metadata never reach them.
"""

from functools import lru_cache

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.safestring import SafeString
from django.views.decorators.http import require_POST
from django.views.decorators.vary import vary_on_headers

from ..access import experiments_for_reviewer, get_membership_for_reviewer
from ..assignment import (
    next_assignment_within_quota,
    progress_for,
    reviewer_progress,
    skip_assignment,
)
from ..judgments import Answer, SubmissionRefused, record_submission, validate_answers
from ..models import Assignment, Experiment
from ..rendering import render_markdown


@login_required
def review_home(request):
    experiments = list(experiments_for_reviewer(request.user))
    for experiment in experiments:
        experiment.progress = reviewer_progress(experiment, request.user)
    return render(request, "review/home.html", {"experiments": experiments})


def option_list(experiment: Experiment) -> tuple[tuple[str, str, str], ...]:
    """The choices per dimension, in screen order: (value, label, keyboard shortcut)."""
    if experiment.ask_strength:
        options = [
            ("left:clear", "Left clearly better"),
            ("left:slight", "Left slightly better"),
            ("tie", "Tie"),
            ("right:slight", "Right slightly better"),
            ("right:clear", "Right clearly better"),
        ]
    else:
        options = [("left", "Left better"), ("tie", "Tie"), ("right", "Right better")]
    if not experiment.allow_ties:
        options = [o for o in options if o[0] != "tie"]
    return tuple((value, label, str(i + 1)) for i, (value, label) in enumerate(options))


# The answer fields are the bulk of the review template (a radio button per dimension and
# choice) and are the same for every pair of an experiment until something is posted back
# with errors: rendered once per process and reused. A pure function of its arguments.
@lru_cache(maxsize=256)
def _choices_html(fields: tuple[tuple[str, str, str, str], ...], options) -> SafeString:
    return render_to_string(
        "review/_choices.html",
        {
            "dimensions": [
                {"name": name, "field": field, "selected": selected, "error": error}
                for name, field, selected, error in fields
            ],
            "options": [{"value": v, "label": label, "key": key} for v, label, key in options],
        },
    )


@lru_cache(maxsize=64)
def _option_keys_html(options) -> SafeString:
    return render_to_string(
        "review/_option_keys.html",
        {"options": [{"value": v, "label": label, "key": key} for v, label, key in options]},
    )


def choices_html(dimensions, options, posted, errors) -> SafeString:
    fields = tuple(
        (
            d.name,
            f"dim-{d.position}",
            str(posted.get(f"dim-{d.position}", "")),
            str(errors.get(d.name, "")),
        )
        for d in dimensions
    )
    return _choices_html(fields, options)


def parse_answers(post, dimensions) -> dict[int, Answer]:
    answers = {}
    for dimension in dimensions:
        raw = post.get(f"dim-{dimension.position}", "")
        if not raw:
            continue
        choice, _, strength = raw.partition(":")
        answers[dimension.pk] = Answer(choice=choice, strength=strength)
    return answers


def completion_of(membership) -> dict | None:
    """What a reviewer who came through an invite link sees when done."""
    if membership is None or membership.invite is None:
        return None
    return {"code": membership.invite.completion_code, "url": membership.invite.completion_url}


def pair_context(
    membership, dimensions, assignment, *, errors=None, posted=None, notice=""
) -> dict:
    """Everything the review screen shows, and nothing else."""
    experiment = membership.experiment
    progress = progress_for(
        experiment, membership.user_id, membership.done, membership.n_reviewers, membership.quota
    )
    context = {
        "experiment_name": experiment.name,
        "experiment_slug": experiment.slug,
        "instructions": render_markdown(experiment.instructions),
        "progress": progress,
        "notice": notice,
    }
    if assignment is None:
        return context | {"finished": True, "completion": completion_of(membership)}
    pair = assignment.pair
    left, right = (
        (pair.output_a, pair.output_b) if assignment.left_is_a else (pair.output_b, pair.output_a)
    )
    posted = posted or {}
    errors = errors or {}
    options = option_list(experiment)
    url_args = (experiment.slug, assignment.pk)
    context |= {
        "finished": False,
        "assignment_id": assignment.pk,
        "prompt": render_markdown(pair.prompt),
        "left": render_markdown(left),
        "left_empty": not left.strip(),
        "right": render_markdown(right),
        "right_empty": not right.strip(),
        "submit_url": reverse("review-submit", args=url_args),
        "skip_url": reverse("review-skip", args=url_args),
        "choices": choices_html(dimensions, options, posted, errors),
        "option_keys": _option_keys_html(options),
        "require_rationale": experiment.require_rationale,
        "rationale": posted.get("rationale", ""),
        "rationale_error": errors.get("rationale", ""),
    }
    return context


def render_pair(request, experiment, context):
    completion = context.get("completion")
    if request.htmx and completion and completion["url"]:
        # The platform's completion URL needs a full page (it redirects after showing the code).
        response = HttpResponse(status=200)
        response["HX-Redirect"] = reverse("review-pair", args=[experiment.slug])
        return response
    template = "review/_pair.html" if request.htmx else "review/pair.html"
    return render(request, template, context)


def closed_context(experiment) -> dict:
    return {"closed": True, "experiment_name": experiment.name, "experiment_slug": experiment.slug}


@login_required
@vary_on_headers("HX-Request")
def review_pair(request, slug):
    membership = get_membership_for_reviewer(request.user, slug)
    experiment = membership.experiment
    if not experiment.is_open:
        return render_pair(request, experiment, closed_context(experiment))
    dimensions = membership.rubric
    assignment = next_assignment_within_quota(membership)
    return render_pair(request, experiment, pair_context(membership, dimensions, assignment))


@login_required
@require_POST
@vary_on_headers("HX-Request")
def submit_pair(request, slug, assignment_id):
    membership = get_membership_for_reviewer(request.user, slug)
    experiment = membership.experiment
    dimensions = membership.rubric
    answers = parse_answers(request.POST, dimensions)
    # PostgreSQL cannot store a NUL character in text; nobody types one on purpose.
    rationale = request.POST.get("rationale", "").replace("\x00", "")
    errors = validate_answers(experiment, dimensions, answers, rationale)
    if errors:
        assignment = (
            Assignment.objects.filter(
                pk=assignment_id, reviewer=request.user, experiment=experiment
            )
            .select_related("pair")
            .first()
        )
        if assignment is not None and assignment.status == Assignment.Status.SHOWN:
            context = pair_context(
                membership, dimensions, assignment, errors=errors, posted=request.POST
            )
            # 200 even so: htmx does not swap error responses by default.
            return render_pair(request, experiment, context)
    try:
        outcome = record_submission(
            assignment_id,
            membership.user,
            answers,
            rationale,
            dimensions=dimensions,
            experiment=experiment,
        )
        membership.done += not outcome.already_recorded  # counted before this submission
        notice = ""
    except SubmissionRefused as refused:
        if refused.code == "not_found":
            return HttpResponse(str(refused), status=404)
        if refused.code == "closed":
            return render_pair(request, experiment, closed_context(experiment))
        notice = str(refused)
    if not request.htmx:
        return redirect("review-pair", experiment.slug)
    assignment = next_assignment_within_quota(membership)
    context = pair_context(membership, dimensions, assignment, notice=notice)
    return render_pair(request, experiment, context)


@login_required
@require_POST
@vary_on_headers("HX-Request")
def skip_pair(request, slug, assignment_id):
    membership = get_membership_for_reviewer(request.user, slug)
    experiment = membership.experiment
    assignment = Assignment.objects.filter(
        pk=assignment_id, reviewer=request.user, experiment=experiment
    ).first()
    if assignment is None:
        return HttpResponse("This pair is not assigned to you.", status=404)
    skip_assignment(assignment)
    if not request.htmx:
        return redirect("review-pair", experiment.slug)
    if not experiment.is_open:
        return render_pair(request, experiment, closed_context(experiment))
    dimensions = membership.rubric
    context = pair_context(membership, dimensions, next_assignment_within_quota(membership))
    return render_pair(request, experiment, context)
