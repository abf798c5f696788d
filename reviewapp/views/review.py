"""Reviewers: the blind side-by-side comparison.

Blindness is decided here: the templates receive the prompt, the left text, the right
text, the dimensions and progress. Model names, pair ids and metadata never reach them.
"""

from functools import partial

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import capfirst
from django.views.decorators.http import require_POST
from django.views.decorators.vary import vary_on_headers

from ..access import experiments_for_reviewer, get_membership_by_review_key
from ..assignment import Claim, claim_as_member, claim_for, skip_assignment
from ..judgments import Acceptability, Answer, SubmissionRefused, submit_as_member
from ..models import Assignment, Experiment, InviteLink
from ..progress import membership_progress, progress_for, reviewer_progress
from ..rendering import isolate_text, render_markdown, render_text
from ..templatetags.review_screen import option_label


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


def choices_html(dimensions, options, posted, errors) -> SafeString:
    """The answer fields: a radio button per dimension and choice.

    Built here rather than in a template: each option's markup is escaped once
    (format_html) and repeated for every dimension, about a sixth of the cost of the
    nested {% for %} it replaced (bench/README.md). What goes in unescaped is markup made
    by format_html, literals, and the field's name, made of a dimension's position."""
    radios = [
        (
            value,
            format_html('value="{}" data-key="{}"', value, key),
            format_html(
                "<span>{}</span> <kbd>{}</kbd></label>",
                option_label({"value": value, "label": label}),
                key,
            ),
        )
        for value, label, key in options
    ]
    fieldsets = []
    for index, dimension in enumerate(dimensions):
        field = f"dim-{int(dimension.position)}"
        selected = str(posted.get(field, ""))
        inputs = "\n".join(
            f'<label><input type="radio" name="{field}" {attributes}'
            f"{' checked' if value == selected else ''}>{rest}"
            for value, attributes, rest in radios
        )
        error = errors.get(dimension.name)
        fieldsets.append(
            format_html(
                '<fieldset class="dimension{}" data-dimension="{}">'
                '<legend>{}</legend><div class="options">{}</div>{}</fieldset>',
                " active" if index == 0 else "",
                index,
                isolate_text(capfirst(dimension.name)),
                mark_safe(inputs),  # noqa: S308 - escaped pieces and literals, see above
                format_html('<p class="errorlist" role="alert">{}</p>', error) if error else "",
            )
        )
    return mark_safe("\n".join(fieldsets))  # noqa: S308 - each made by format_html


def parse_answers(post, dimensions) -> dict[int, Answer]:
    answers = {}
    for dimension in dimensions:
        raw = post.get(f"dim-{dimension.position}", "")
        if not raw:
            continue
        choice, _, strength = raw.partition(":")
        answers[dimension.pk] = Answer(choice=choice, strength=strength)
    return answers


# Keys for "acceptable?": (yes, no) per side, one hand per output on a QWERTY keyboard;
# none of the review screen's other keys (digits, arrows, Enter, S).
ACCEPTABLE_KEYS = {"left": ("A", "Z"), "right": ("K", "M")}
YES_NO = {"yes": True, "no": False}


def parse_acceptable(post) -> Acceptability:
    return Acceptability(
        YES_NO.get(post.get("acceptable-left")), YES_NO.get(post.get("acceptable-right"))
    )


def acceptability_fields(posted, errors) -> dict:
    """The "is each output acceptable?" fields (templates/review/_acceptability.html)."""
    sides = [
        {
            "name": side,
            "label": side.capitalize(),
            "selected": str(posted.get(f"acceptable-{side}", "")),
            "yes_key": yes_key,
            "no_key": no_key,
        }
        for side, (yes_key, no_key) in ACCEPTABLE_KEYS.items()
    ]
    return {"sides": sides, "error": str(errors.get("acceptable", ""))}


def completion_of(membership) -> dict | None:
    """What a reviewer who came through an invite link sees when done."""
    if membership.invite_id is None:
        return None
    invite = InviteLink.objects.filter(pk=membership.invite_id).first()
    if invite is None:
        return None
    return {"code": invite.completion_code, "url": invite.completion_url}


def pair_context(
    membership, dimensions, assignment, *, progress=None, errors=None, posted=None, notice=""
) -> dict:
    """Everything the review screen shows, and nothing else. `progress` is counted here
    unless the caller has it (a claim reads it with the pair)."""
    experiment = membership.experiment
    progress = progress or membership_progress(membership)
    context = {
        "review_title": experiment.title_for_reviewers,
        "instructions": render_markdown(experiment.instructions),
        "progress": progress,
        "notice": notice,
    }
    if assignment is None:
        return context | {"finished": True, "completion": completion_of(membership)}
    pair = assignment.pair
    left, right = assignment.shown_outputs()
    posted = posted or {}
    errors = errors or {}
    options = option_list(experiment)
    url_args = (experiment.review_key, assignment.pk)
    context |= {
        "finished": False,
        "assignment_id": assignment.pk,
        "prompt": render_text(pair.prompt, experiment.render_mode),
        "left": render_text(left, experiment.render_mode),
        "left_empty": not left.strip(),
        "right": render_text(right, experiment.render_mode),
        "right_empty": not right.strip(),
        "submit_url": reverse("review-submit", args=url_args),
        "skip_url": reverse("review-skip", args=url_args),
        "choices": choices_html(dimensions, options, posted, errors),
        "require_rationale": experiment.require_rationale,
        "rationale": posted.get("rationale", ""),
        "rationale_error": errors.get("rationale", ""),
        "acceptability": acceptability_fields(posted, errors)
        if experiment.ask_acceptable
        else None,
    }
    return context


def claimed_pair_context(membership, notice: str = "") -> dict:
    """The review screen for the pair the reviewer is given now (assignment.claim_for)."""
    return claim_context(membership, claim_for(membership), notice)


def claim_context(membership, claimed: Claim, notice: str = "") -> dict:
    progress = progress_for(
        membership.experiment, membership.user_id, claimed.done, claimed.members, membership.quota
    )
    return pair_context(
        membership, membership.rubric, claimed.assignment, progress=progress, notice=notice
    )


def render_pair(request, experiment, context):
    completion = context.get("completion")
    if request.htmx and completion and completion["url"]:
        # The platform's completion URL needs a full page (it redirects after showing the code).
        response = HttpResponse(status=200)
        response["HX-Redirect"] = reverse("review-pair", args=[experiment.review_key])
        return response
    template = "review/_pair.html" if request.htmx else "review/pair.html"
    return render(request, template, context)


def closed_context(experiment) -> dict:
    return {"closed": True, "review_title": experiment.title_for_reviewers}


@login_required
@vary_on_headers("HX-Request")
def review_pair(request, review_key):
    membership, claimed = claim_as_member(request.user, review_key=review_key)
    experiment = membership.experiment
    if claimed is None:
        return render_pair(request, experiment, closed_context(experiment))
    return render_pair(request, experiment, claim_context(membership, claimed))


@login_required
@require_POST
@vary_on_headers("HX-Request")
def submit_pair(request, review_key, assignment_id):
    # PostgreSQL cannot store a NUL character in text; nobody types one on purpose.
    rationale = request.POST.get("rationale", "").replace("\x00", "")
    notice = ""
    try:
        membership, _ = submit_as_member(
            request.user,
            assignment_id,
            partial(parse_answers, request.POST),
            rationale,
            parse_acceptable(request.POST),
            review_key=review_key,
        )
    except SubmissionRefused as refused:
        # The refusals are rare: the membership is read again to answer them.
        membership = get_membership_by_review_key(request.user, review_key)
        experiment = membership.experiment
        if refused.code == "not_found":
            return HttpResponse(str(refused), status=404)
        if refused.code == "closed":
            return render_pair(request, experiment, closed_context(experiment))
        if refused.code == "invalid":
            assignment = (
                Assignment.objects.filter(
                    pk=assignment_id, reviewer=request.user, status=Assignment.Status.SHOWN
                )
                .select_related("pair")
                .first()
            )
            if assignment is not None:  # still on screen: show it again with the errors
                context = pair_context(
                    membership,
                    membership.rubric,
                    assignment,
                    errors=refused.errors,
                    posted=request.POST,
                )
                # 200 even so: htmx does not swap error responses by default.
                return render_pair(request, experiment, context)
        notice = str(refused)
    if not request.htmx:
        return redirect("review-pair", review_key)
    return render_pair(
        request, membership.experiment, claimed_pair_context(membership, notice=notice)
    )


@login_required
@require_POST
@vary_on_headers("HX-Request")
def skip_pair(request, review_key, assignment_id):
    membership = get_membership_by_review_key(request.user, review_key)
    experiment = membership.experiment
    assignment = Assignment.objects.filter(
        pk=assignment_id, reviewer=request.user, experiment=experiment
    ).first()
    if assignment is None:
        return HttpResponse("This pair is not assigned to you.", status=404)
    skip_assignment(assignment)
    if not request.htmx:
        return redirect("review-pair", experiment.review_key)
    if not experiment.is_open:
        return render_pair(request, experiment, closed_context(experiment))
    return render_pair(request, experiment, claimed_pair_context(membership))
