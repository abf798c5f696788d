"""Reviewing through the API, for automatic judges (any member's token works).

The same stage functions as the web review, so the same assignment rules, leases and
idempotency: claim_as_member picks the pair and the side, submit_as_member stores the
answer once. Blindness: a reviewer gets the prompt, the left text, the right text and the
rubric, exactly what the review page shows, never model names, pair ids or metadata.
"""

from django.http import HttpResponse
from ninja import Path, Router

from ..access import ReviewerMembership, get_membership_for_reviewer
from ..assignment import claim_as_member, skip_assignment
from ..judgments import Acceptability, Answer, submit_as_member
from ..models import Assignment, Experiment
from ..progress import progress_for
from .errors import ApiError, errors
from .schemas import MAX_ID, SLUG_MAX, SLUG_PATTERN, AnswerIn, AnswerOut, NextPairOut, SkipOut

router = Router(tags=["review"])

Slug = Path(..., pattern=SLUG_PATTERN, max_length=SLUG_MAX)
AssignmentId = Path(..., ge=1, le=MAX_ID)


CLOSED = "This experiment is not open for review."


def open_membership(request, slug: str) -> ReviewerMembership:
    """The token user's place in the experiment (404 for non-members); 409 unless open."""
    membership = get_membership_for_reviewer(request.auth, slug)
    if not membership.experiment.is_open:
        raise ApiError(409, "closed", CLOSED)
    return membership


def choices_for(experiment: Experiment) -> list[str]:
    return ["left", "right", "tie"] if experiment.allow_ties else ["left", "right"]


@router.get(
    "/review/{slug}/next",
    summary="The next pair to judge",
    response={200: NextPairOut, 204: None, **errors(401, 404, 409, 422)},
)
def review_next(request, slug: str = Slug):
    """The pair to judge now: the one already shown to you if its lease is live, else a new
    one. 204 when nothing is left for you (or your quota is met)."""
    membership, claimed = claim_as_member(request.auth, slug=slug)
    if claimed is None:
        raise ApiError(409, "closed", CLOSED)
    experiment, reviewer = membership.experiment, request.auth
    assignment = claimed.assignment
    if assignment is None:
        return HttpResponse(status=204)
    pair = assignment.pair
    left, right = assignment.shown_outputs()
    progress = progress_for(
        experiment, reviewer.pk, claimed.done, claimed.members, membership.quota
    )
    return {
        "assignment": assignment.pk,
        "prompt": pair.prompt,
        "left": left,
        "right": right,
        "dimensions": [d.name for d in membership.rubric],
        "choices": choices_for(experiment),
        "ask_strength": experiment.ask_strength,
        "ask_acceptable": experiment.ask_acceptable,
        "require_rationale": experiment.require_rationale,
        "instructions": experiment.instructions,
        "progress": {"done": progress.done, "share": progress.share},
    }


def own_assignment(request, experiment, assignment_id: int) -> Assignment:
    assignment = Assignment.objects.filter(
        pk=assignment_id, reviewer=request.auth, experiment=experiment
    ).first()
    if assignment is None:
        raise ApiError(404, "not_found", "This pair is not assigned to you.")
    return assignment


@router.post(
    "/review/{slug}/assignments/{assignment_id}",
    summary="Answer a pair",
    response={200: AnswerOut, **errors(400, 401, 404, 409, 422)},
)
def review_answer(request, data: AnswerIn, slug: str = Slug, assignment_id: int = AssignmentId):
    """Record your answer: one choice (left / right / tie) per dimension, by name. Sending
    it again is harmless: the first answer stands (status already_recorded)."""

    def read_answers(dimensions) -> dict[int, Answer]:
        names = {d.name for d in dimensions}
        unknown = sorted((set(data.choices) | set(data.strength)) - names)
        if unknown:
            raise ApiError(
                400,
                "invalid_answer",
                f"Unknown dimension(s): {', '.join(map(repr, unknown))}; "
                f"this experiment has {', '.join(map(repr, sorted(names)))}.",
            )
        return {
            d.pk: Answer(choice=data.choices[d.name], strength=data.strength.get(d.name, ""))
            for d in dimensions
            if d.name in data.choices
        }

    _, outcome = submit_as_member(
        request.auth,
        assignment_id,
        read_answers,
        data.rationale,
        Acceptability(data.acceptable.get("left"), data.acceptable.get("right")),
        slug=slug,
    )
    status = "already_recorded" if outcome.already_recorded else "recorded"
    return {"assignment": assignment_id, "status": status}


@router.post(
    "/review/{slug}/assignments/{assignment_id}/skip",
    summary="Skip a pair",
    response={200: SkipOut, **errors(401, 404, 409, 422)},
)
def review_skip(request, slug: str = Slug, assignment_id: int = AssignmentId):
    """Pass on this pair: it goes to somebody else and is never offered to you again."""
    experiment = open_membership(request, slug).experiment
    assignment = own_assignment(request, experiment, assignment_id)
    if assignment.status == Assignment.Status.SUBMITTED:
        return {"assignment": assignment_id, "status": "already_submitted"}
    skip_assignment(assignment)
    return {"assignment": assignment_id, "status": "skipped"}
