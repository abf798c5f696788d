"""Owner endpoints: experiments, pairs, reviewers, results and exports.

Same rules as the owner pages: creating and listing experiments needs the owner role
(403 without it); everything under /experiments/{slug} needs the experiment to be yours or
shared with you, and answers 404 otherwise (access.get_experiment_for_owner).
"""

import json

from django.db import IntegrityError, transaction
from django.db.models import Count
from django.http import HttpResponse
from ninja import Path, Query, Router, Status

from ..access import (
    experiments_for_owner,
    get_experiment_for_owner,
    require_owner_role,
)
from ..experiments import (
    DimensionError,
    create_experiment,
    leak_report,
)
from ..exports import JUDGMENT_COLUMNS, judgment_csv_chunks, judgment_rows, streamed_download
from ..models import Assignment, Experiment, Membership
from ..progress import experiment_progress
from ..results import compute_results
from ..results.by_tag import check_tag_field
from ..reviewers import ReviewerConflict, add_automatic_reviewer, add_human_reviewer
from .errors import ApiError, errors
from .schemas import (
    SLUG_MAX,
    SLUG_PATTERN,
    ExperimentIn,
    ExperimentOut,
    NewReviewerOut,
    ResultsOut,
    ReviewerIn,
    ReviewerOut,
)

router = Router(tags=["experiments"])

Slug = Path(..., pattern=SLUG_PATTERN, max_length=SLUG_MAX)


def owned(request, slug: str) -> Experiment:
    return get_experiment_for_owner(request.auth, slug)


def progress_of(experiments: list[Experiment]) -> dict[int, dict]:
    """Progress per experiment id: progress.experiment_progress, as the API spells it."""
    return {
        pk: {
            "pairs": p.pairs,
            "reviews_done": p.reviews_done,
            "reviews_needed": p.reviews_needed,
            "percent_done": p.percent_done,
            "reviewers": p.reviewers,
        }
        for pk, p in experiment_progress(experiments).items()
    }


def experiment_out(experiment: Experiment, progress: dict) -> dict:
    return {
        "slug": experiment.slug,
        "name": experiment.name,
        "reviewer_title": experiment.reviewer_title,
        "title_for_reviewers": experiment.title_for_reviewers,
        "status": experiment.status,
        "owner": experiment.owner.get_username(),
        "dimensions": [d.name for d in experiment.dimensions.all()],
        "reviews_per_pair": experiment.reviews_per_pair,
        "baseline_model": experiment.baseline_model,
        "allow_tie": experiment.allow_ties,
        "require_rationale": experiment.require_rationale,
        "ask_strength": experiment.ask_strength,
        "ask_acceptable": experiment.ask_acceptable,
        "render_mode": experiment.render_mode,
        "margin": experiment.margin,
        "tag_field": experiment.tag_field,
        "assignment_strategy": experiment.assignment_strategy,
        "calibration_pairs": experiment.calibration_pairs,
        "repeat_rate": experiment.repeat_rate,
        "instructions": experiment.instructions,
        "created_at": experiment.created_at,
        "progress": progress[experiment.pk],
    }


def single(experiment: Experiment) -> dict:
    return experiment_out(experiment, progress_of([experiment]))


# -- experiments ------------------------------------------------------------------------


@router.post(
    "/experiments",
    summary="Create an experiment",
    response={201: ExperimentOut, **errors(400, 401, 403, 409, 422)},
)
def experiment_create(request, data: ExperimentIn):
    """Create an experiment (status draft: open it when its pairs are uploaded)."""
    require_owner_role(request.auth)
    if not data.name.strip():
        raise ApiError(400, "bad_request", "The name must not be blank.")
    try:
        tag_field = check_tag_field(data.tag_field)
    except ValueError as error:
        raise ApiError(400, "bad_request", str(error)) from None
    if data.slug and Experiment.objects.filter(slug=data.slug).exists():
        raise ApiError(409, "conflict", f"The slug {data.slug!r} is taken.")
    try:
        experiment = create_experiment(
            owner=request.auth,
            name=data.name.strip(),
            slug=data.slug,
            dimensions=data.dimensions,
            reviews_per_pair=data.reviews_per_pair,
            baseline_model=data.baseline_model.strip(),
            reviewer_title=data.reviewer_title.strip(),
            allow_ties=data.allow_tie,
            instructions=data.instructions,
            require_rationale=data.require_rationale,
            ask_strength=data.ask_strength,
            ask_acceptable=data.ask_acceptable,
            render_mode=data.render_mode,
            margin=data.margin,
            tag_field=tag_field,
            assignment_strategy=data.assignment_strategy,
            calibration_pairs=data.calibration_pairs,
            repeat_rate=data.repeat_rate,
        )
    except DimensionError as error:
        raise ApiError(400, "invalid_dimensions", str(error)) from None
    except IntegrityError:
        # Somebody took the slug between the check and the insert.
        raise ApiError(409, "conflict", "That slug was just taken; choose another.") from None
    return Status(201, single(experiment))


@router.get(
    "/experiments",
    summary="List your experiments",
    response={200: list[ExperimentOut], **errors(401, 403)},
)
def experiment_list(request):
    """Your experiments and those shared with you, newest first."""
    require_owner_role(request.auth)
    experiments = list(
        experiments_for_owner(request.auth)
        .select_related("owner")
        .prefetch_related("dimensions")
        .order_by("-created_at", "-pk")
    )
    progress = progress_of(experiments)
    return [experiment_out(e, progress) for e in experiments]


@router.get(
    "/experiments/{slug}",
    summary="An experiment and its progress",
    response={200: ExperimentOut, **errors(401, 404, 422)},
)
def experiment_detail(request, slug: str = Slug):
    """One experiment with its progress."""
    return single(owned(request, slug))


def _set_status(request, slug: str, status: str) -> dict:
    experiment = owned(request, slug)
    if experiment.status != status:
        experiment.status = status
        experiment.save(update_fields=["status"])
    return single(experiment)


@router.post(
    "/experiments/{slug}/open",
    summary="Open an experiment",
    response={200: ExperimentOut, **errors(401, 404, 409, 422)},
)
def experiment_open(
    request,
    slug: str = Slug,
    confirm_leaks: bool = Query(
        False,
        description="Open even though reviewers could tell the models apart (409 "
        "identity_leaks lists why).",
    ),
):
    """Open the experiment for review (idempotent). 409 identity_leaks when text reviewers
    would see names a model, or pairs flagged as possible identity leaks are neither
    excluded nor kept: each listed in rows; send confirm_leaks=true to open anyway."""
    experiment = owned(request, slug)
    if not experiment.is_open and not confirm_leaks:
        report = leak_report(experiment)
        if report.unresolved:
            rows = [
                {"row": None, "column": leak.field, "message": f"names a model: {leak.match!r}"}
                for leak in report.visible
            ]
            if report.flagged:
                message = f"{report.flagged} pair(s) may reveal their model (see leak_flags)"
                rows.append({"row": None, "column": "pairs", "message": message})
            raise ApiError(
                409,
                "identity_leaks",
                "Reviewers could tell the models apart; fix or exclude, or confirm_leaks=true.",
                rows,
            )
    return _set_status(request, slug, Experiment.Status.OPEN)


@router.post(
    "/experiments/{slug}/close",
    summary="Close an experiment",
    response={200: ExperimentOut, **errors(401, 404, 422)},
)
def experiment_close(request, slug: str = Slug):
    """Close the experiment: no more answers are recorded (idempotent)."""
    return _set_status(request, slug, Experiment.Status.CLOSED)


# -- reviewers --------------------------------------------------------------------------


def reviewer_rows(experiment, memberships) -> list[dict]:
    done = dict(
        Assignment.objects.filter(experiment=experiment, status=Assignment.Status.SUBMITTED)
        .values("reviewer_id")
        .annotate(n=Count("id"))
        .values_list("reviewer_id", "n")
    )
    return [
        {
            "reviewer": m.user.get_username(),
            "kind": m.kind,
            "excluded": m.excluded,
            "reviews_done": done.get(m.user_id, 0),
        }
        for m in memberships
    ]


@router.get(
    "/experiments/{slug}/reviewers",
    summary="List reviewers",
    response={200: list[ReviewerOut], **errors(401, 404, 422)},
)
def reviewers_list(request, slug: str = Slug):
    """The experiment's reviewers, human and automatic, with how many pairs each did."""
    experiment = owned(request, slug)
    memberships = experiment.memberships.select_related("user").order_by("user__username")
    return reviewer_rows(experiment, memberships)


@router.post(
    "/experiments/{slug}/reviewers",
    summary="Add a reviewer (automatic judges get a token)",
    response={201: NewReviewerOut, **errors(400, 401, 404, 409, 422)},
)
def reviewers_add(request, data: ReviewerIn, slug: str = Slug):
    """Add a reviewer. `automatic`: creates a reviewer account for an automatic judge and
    returns its own API token (shown once; each call issues a new one). `human`: invites an
    existing user, like the experiment page does."""
    experiment = owned(request, slug)
    try:
        with transaction.atomic():
            if data.kind == Membership.Kind.AUTOMATIC:
                membership, token = add_automatic_reviewer(experiment, data.name, request.auth)
            else:
                membership, token = add_human_reviewer(experiment, data.name), None
    except ReviewerConflict as conflict:
        raise ApiError(conflict.status, conflict.code, str(conflict)) from None
    row = reviewer_rows(experiment, [membership])[0]
    return Status(201, {**row, "token": token})


# -- results and exports ----------------------------------------------------------------


@router.get(
    "/experiments/{slug}/results",
    summary="Results",
    response={200: ResultsOut, **errors(400, 401, 404, 422)},
)
def results(
    request,
    slug: str = Slug,
    include_automatic: bool = Query(
        False, description="Count automatic reviewers in the preference statistics too."
    ),
    resamples: int = Query(1000, ge=0, le=5000, description="Bootstrap resamples; 0: none."),
    by: str | None = Query(
        None,
        max_length=200,
        description="Pair metadata field for by_tag (default: the experiment's tag_field; "
        "empty: none).",
    ),
):
    """The results JSON: the same figures as the results page and results.json."""
    experiment = owned(request, slug)
    if by is not None:
        try:
            by = check_tag_field(by)
        except ValueError as error:
            raise ApiError(400, "bad_request", str(error)) from None
    return compute_results(
        experiment, n_resamples=resamples, include_automatic=include_automatic, by=by
    )


def _text_response(media_type: str, description: str) -> dict:
    return {
        "responses": {
            200: {
                "description": description,
                "content": {media_type: {"schema": {"type": "string"}}},
            }
        }
    }


@router.get(
    "/experiments/{slug}/judgments.csv",
    summary="Judgments as CSV",
    response={200: None, **errors(401, 404, 422)},
    openapi_extra=_text_response(
        "text/csv", "One row per (pair, reviewer, dimension); the columns of the README."
    ),
)
def judgments_csv(request, slug: str = Slug) -> HttpResponse:
    """The judgments export, streamed (the same CSV as the export on the experiment page)."""
    experiment = owned(request, slug)
    return streamed_download(judgment_csv_chunks(experiment), f"{experiment.slug}-judgments.csv")


def judgment_lines(experiment):
    for row in judgment_rows(experiment, neutralise=False):
        record = dict(zip(JUDGMENT_COLUMNS, row, strict=True))
        record["excluded"] = record["excluded"] == "true"
        record["repeat"] = record["repeat"] == "true"
        for column in ("a_acceptable", "b_acceptable"):
            record[column] = {"yes": True, "no": False}.get(record[column])
        yield json.dumps(record, ensure_ascii=False) + "\n"


@router.get(
    "/experiments/{slug}/judgments.jsonl",
    summary="Judgments as JSON lines",
    response={200: None, **errors(401, 404, 422)},
    openapi_extra=_text_response(
        "application/x-ndjson",
        "One JSON object a line, with the CSV's columns as keys (excluded is a boolean; "
        "a_acceptable and b_acceptable are booleans, null when not asked).",
    ),
)
def judgments_jsonl(request, slug: str = Slug) -> HttpResponse:
    """The judgments export as JSON lines, streamed: values as stored, never altered for
    spreadsheets (the CSV prefixes formula-like cells with ')."""
    experiment = owned(request, slug)
    return streamed_download(
        judgment_lines(experiment),
        f"{experiment.slug}-judgments.jsonl",
        "application/x-ndjson; charset=utf-8",
    )
