"""Owner endpoints: experiments, pairs, reviewers, results and exports.

Same rules as the owner pages: creating and listing experiments needs the owner role
(403 without it); everything under /experiments/{slug} needs the experiment to be yours or
shared with you, and answers 404 otherwise (access.get_experiment_for_owner).
"""

import json
import tempfile
from typing import Literal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.http import HttpResponse
from ninja import Path, Query, Router, Status

from ..access import (
    experiments_for_owner,
    get_experiment_for_owner,
    require_owner_role,
)
from ..assignment import experiment_progress
from ..experiments import (
    DimensionError,
    create_experiment,
    exclude_flagged_pairs,
    flag_pair_leaks,
    keep_flagged_pairs,
    leak_report,
    model_names,
)
from ..exports import JUDGMENT_COLUMNS, judgment_csv_chunks, judgment_rows, streamed_download
from ..leaks import LeakTally
from ..models import Assignment, Experiment, Membership, Pair
from ..results import compute_results
from ..reviewers import ReviewerConflict, add_automatic_reviewer, add_human_reviewer
from ..uploads import import_upload, preview_upload
from .errors import ApiError, errors
from .schemas import (
    MAX_ID,
    SLUG_MAX,
    SLUG_PATTERN,
    ExperimentIn,
    ExperimentOut,
    FlaggedPairsOut,
    ImportOut,
    NewReviewerOut,
    PairPageOut,
    ResultsOut,
    ReviewerIn,
    ReviewerOut,
)

router = Router(tags=["experiments"])

Slug = Path(..., pattern=SLUG_PATTERN, max_length=SLUG_MAX)
CHUNK_BYTES = 1024 * 1024

# Raw upload bodies by content type -> a file name that tells the parser the format when
# the content itself does not (see upload_files.sniff_file_format).
RAW_UPLOAD_TYPES = {
    "application/x-ndjson": "upload.jsonl",
    "application/jsonl": "upload.jsonl",
    "application/jsonlines": "upload.jsonl",
    "text/csv": "upload.csv",
    "application/gzip": "upload",
    "application/octet-stream": "upload",
}


def owned(request, slug: str) -> Experiment:
    return get_experiment_for_owner(request.auth, slug)


def progress_of(experiments: list[Experiment]) -> dict[int, dict]:
    """Progress per experiment id: assignment.experiment_progress, as the API spells it."""
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
        "render_mode": experiment.render_mode,
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
            render_mode=data.render_mode,
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


# -- pairs ------------------------------------------------------------------------------

PAIRS_BODY = {
    "requestBody": {
        "required": True,
        "description": (
            "The pairs file, CSV or JSONL (optionally gzip-compressed), as the raw body or as "
            "the `file` field of a multipart form. The same formats and checks as the web "
            "upload (see the README)."
        ),
        "content": {
            "application/x-ndjson": {
                "schema": {"type": "string"},
                "example": (
                    '{"pair_id": "q1", "prompt": "What is 2 + 2?", "model_a": "base-7b", '
                    '"output_a": "4", "model_b": "tuned-7b", "output_b": "2 + 2 = 4."}\n'
                ),
            },
            "text/csv": {
                "schema": {"type": "string"},
                "example": (
                    "pair_id,prompt,model_a,output_a,model_b,output_b\n"
                    "q2,Capital of France?,base-7b,Paris,tuned-7b,The capital is Paris.\n"
                ),
            },
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                }
            },
        },
    }
}


def _import(experiment, source, name: str, pairing: str, dry_run: bool):
    if dry_run:
        tally = LeakTally(model_names(experiment), listed=0)
        result = preview_upload(experiment, source, pairing, name=name, on_pair=tally)
        n_flagged = tally.count
    else:
        result = import_upload(experiment, source, pairing, name=name)
        n_flagged = flag_pair_leaks(experiment)
    return {
        "committed": result.committed,
        "file_format": result.file_format,
        "compressed": result.compressed,
        "format": result.format,
        "pairing": result.pairing,
        "rows_read": result.rows_read,
        "pairs_created": result.pairs_created,
        "pairs_unchanged": result.pairs_unchanged,
        "pairs_total": result.pairs_total,
        "empty_outputs_a": result.empty_outputs_a,
        "empty_outputs_b": result.empty_outputs_b,
        "prompts_without_pair": result.prompts_without_pair,
        "models": dict(result.models.most_common()),
        "pairings": [
            {"model_a": a, "model_b": b, "pairs": n} for (a, b), n in result.pairings.most_common()
        ],
        "pairs_flagged": n_flagged,
        "summary": result.summary(),
    }


def content_length(request) -> int:
    try:
        return max(0, int(request.META.get("CONTENT_LENGTH") or 0))
    except ValueError:
        return 0


def _too_large() -> ApiError:
    limit = settings.REVIEWAPP_MAX_UPLOAD_BYTES
    return ApiError(413, "too_large", f"The file is over the upload limit of {limit:,} bytes.")


@router.post(
    "/experiments/{slug}/pairs",
    summary="Upload pairs (CSV or JSONL)",
    response={200: ImportOut, **errors(400, 401, 404, 413, 415, 422)},
    openapi_extra=PAIRS_BODY,
)
def pairs_upload(
    request,
    slug: str = Slug,
    pairing: Literal["all", "baseline"] = Query(
        "all",
        description="Long format only: pair all models of a prompt, or each with the baseline.",
    ),
    dry_run: bool = Query(False, description="Check the file and report; write nothing."),
):
    """Import pairs: all or nothing, and idempotent (pairs already present with the same
    content are skipped; a pair id present with different content refuses the file)."""
    experiment = owned(request, slug)
    limit = settings.REVIEWAPP_MAX_UPLOAD_BYTES
    content_type = (request.content_type or "").lower()
    if content_type == "multipart/form-data":
        upload = request.FILES.get("file")
        if upload is None:
            raise ApiError(400, "invalid_upload", "Send the file in a form field named file.")
        if upload.size > limit:
            raise _too_large()
        return _import(experiment, upload.file, upload.name or "", pairing, dry_run)
    name = RAW_UPLOAD_TYPES.get(content_type)
    length = content_length(request)
    if name is None and length == 0:
        raise ApiError(400, "invalid_upload", "The request has no file in it.")
    if name is None:
        raise ApiError(
            415,
            "unsupported_media_type",
            "Send CSV (text/csv), JSONL (application/x-ndjson) or a multipart form.",
        )
    if length > limit:
        raise _too_large()
    # Streamed to disk, never held whole in memory; the import reads it twice.
    with tempfile.TemporaryFile() as body:
        size = 0
        while chunk := request.read(CHUNK_BYTES):
            size += len(chunk)
            if size > limit:
                raise _too_large()
            body.write(chunk)
        return _import(experiment, body, name, pairing, dry_run)


@router.get(
    "/experiments/{slug}/pairs",
    summary="List pairs",
    response={200: PairPageOut, **errors(401, 404, 422)},
)
def pairs_list(
    request,
    slug: str = Slug,
    offset: int = Query(0, ge=0, le=MAX_ID),
    limit: int = Query(100, ge=1, le=1000),
):
    """The experiment's pairs in upload order, a page at a time."""
    experiment = owned(request, slug)
    pairs = Pair.objects.filter(experiment=experiment).order_by("pk")
    page = pairs.annotate(
        n_done=Count("assignments", filter=Q(assignments__status=Assignment.Status.SUBMITTED))
    )[offset : offset + limit]
    return {
        "count": pairs.count(),
        "offset": offset,
        "limit": limit,
        "items": [
            {
                "pair_id": p.external_id,
                "prompt": p.prompt,
                "model_a": p.model_a,
                "output_a": p.output_a,
                "model_b": p.model_b,
                "output_b": p.output_b,
                "metadata": p.metadata if isinstance(p.metadata, dict) else {},
                "is_gold": p.is_gold,
                "reviews_done": p.n_done,
                "leak_flags": p.leak_flags if isinstance(p.leak_flags, list) else [],
                "excluded": p.excluded,
                "leak_kept": p.leak_kept,
            }
            for p in page
        ],
    }


@router.post(
    "/experiments/{slug}/flagged-pairs/{action}",
    summary="Exclude or keep the flagged pairs",
    response={200: FlaggedPairsOut, **errors(401, 404, 422)},
)
def flagged_pairs(request, action: Literal["exclude", "keep"], slug: str = Slug):
    """Pairs flagged as possible identity leaks (leak_flags) and still in review: take them
    out of review (exclude; never assigned again, their judgments stay), or keep them
    knowingly (keep; opening then no longer asks about them)."""
    experiment = owned(request, slug)
    decide = exclude_flagged_pairs if action == "exclude" else keep_flagged_pairs
    return {"action": action, "pairs": decide(experiment)}


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
    response={200: ResultsOut, **errors(401, 404, 422)},
)
def results(
    request,
    slug: str = Slug,
    include_automatic: bool = Query(
        False, description="Count automatic reviewers in the preference statistics too."
    ),
    resamples: int = Query(1000, ge=0, le=5000, description="Bootstrap resamples; 0: none."),
):
    """The results JSON: the same figures as the results page and results.json."""
    experiment = owned(request, slug)
    return compute_results(experiment, n_resamples=resamples, include_automatic=include_automatic)


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
        yield json.dumps(record, ensure_ascii=False) + "\n"


@router.get(
    "/experiments/{slug}/judgments.jsonl",
    summary="Judgments as JSON lines",
    response={200: None, **errors(401, 404, 422)},
    openapi_extra=_text_response(
        "application/x-ndjson",
        "One JSON object a line, with the CSV's columns as keys (excluded is a boolean).",
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
