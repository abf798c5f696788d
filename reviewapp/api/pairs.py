"""Owner endpoints for pairs: upload (CSV or JSONL, all or nothing), the pairs list with
their leak flags, and deciding on flagged pairs. Same access rules as api/owner.py."""

import tempfile
from collections.abc import Iterable, Iterator
from typing import Literal

from django.conf import settings
from django.db.models import Count, Q
from ninja import Query, Router

from ..experiments import exclude_flagged_pairs, flag_pair_leaks, keep_flagged_pairs, model_names
from ..leaks import LeakTally
from ..models import Assignment, Pair
from ..uploads import import_upload, preview_upload
from .errors import ApiError, errors
from .owner import Slug, owned
from .schemas import MAX_ID, FlaggedPairsOut, ImportOut, PairPageOut

router = Router(tags=["experiments"])

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
        "values_as_text": result.values_as_text,
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


def _limited(chunks: Iterable[bytes], limit: int) -> Iterator[bytes]:
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise _too_large()
        yield chunk


def uploaded_file(request) -> tuple[Iterator[bytes], str]:
    """The pairs file a request carries (a multipart `file` field, or a raw CSV/JSONL/gzip
    body) as chunks that stop at the upload limit, and the name that tells its format.
    Refusals are the API's errors: 400 no file, 413 too large, 415 another content type."""
    limit = settings.REVIEWAPP_MAX_UPLOAD_BYTES
    content_type = (request.content_type or "").lower()
    if content_type == "multipart/form-data":
        upload = request.FILES.get("file")
        if upload is None:
            raise ApiError(400, "invalid_upload", "Send the file in a form field named file.")
        if upload.size > limit:
            raise _too_large()
        return upload.chunks(), upload.name or ""
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
    return _limited(iter(lambda: request.read(CHUNK_BYTES), b""), limit), name


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
    chunks, name = uploaded_file(request)
    # Streamed to disk, never held whole in memory; the import reads it twice.
    with tempfile.TemporaryFile() as body:
        for chunk in chunks:
            body.write(chunk)
        body.seek(0)
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
