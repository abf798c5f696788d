"""Owner endpoint for judgments made elsewhere: the import of judgment_import.py (the
export's format or the minimal one, all or nothing), with a dry run as its preview."""

import tempfile
from typing import Literal

from ninja import Field, Query, Router, Schema

from ..judgment_import import import_judgments, preview_judgments
from ..models import Membership
from .errors import errors
from .owner import Slug, owned
from .pairs import uploaded_file

router = Router(tags=["experiments"])

JUDGMENTS_BODY = {
    "requestBody": {
        "required": True,
        "description": (
            "A CSV of judgments (optionally gzip-compressed), as the raw body or as the "
            "`file` field of a multipart form: the judgments export's columns, or the minimal "
            "format `pair_id, reviewer` (or `rater`)`, winner` (model_a's or model_b's name, "
            "`tie`, `a` or `b`) with optional `dimension, strength, rationale, submitted_at`."
        ),
        "content": {
            "text/csv": {
                "schema": {"type": "string"},
                "example": "pair_id,rater,winner\nq1,annotator1,tuned-7b\nq1,annotator2,tie\n",
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


class JudgmentImportOut(Schema):
    committed: bool = Field(description="False for a dry run: nothing was written.")
    rows: int
    judgments: int = Field(description="Judgments imported (dry run: that would be).")
    pair_reviews: int = Field(description="(pair, reviewer) reviews, one per pair shown.")
    reviewers: dict[str, int] = Field(description="Reviewer -> judgments.")
    new_users: list[str] = Field(description="Reviewers who are not users yet (created).")
    unknown_side: int = Field(description="Judgments whose screen side is unknown.")
    summary: str


@router.post(
    "/experiments/{slug}/judgments",
    summary="Import judgments (CSV)",
    response={200: JudgmentImportOut, **errors(400, 401, 404, 413, 415, 422)},
    openapi_extra=JUDGMENTS_BODY,
)
def judgments_import(
    request,
    slug: str = Slug,
    kind: Literal["human", "automatic"] = Query(
        Membership.Kind.HUMAN, description="Kind given to reviewers not yet in the experiment."
    ),
    dry_run: bool = Query(False, description="Check the file and report; write nothing."),
):
    """Import judgments made elsewhere into the experiment's pairs: every row is checked
    first and any problem refuses the whole file (400, `rows` name the line and column)."""
    experiment = owned(request, slug)
    chunks, _ = uploaded_file(request)
    with tempfile.TemporaryFile() as body:
        for chunk in chunks:
            body.write(chunk)
        body.seek(0)
        if dry_run:
            result = preview_judgments(experiment, body)
        else:
            result = import_judgments(experiment, body, kind=kind)
    return {
        "committed": result.committed,
        "rows": result.rows,
        "judgments": result.judgments_created,
        "pair_reviews": result.assignments_created,
        "reviewers": dict(result.reviewers.most_common()),
        "new_users": result.reviewers_created,
        "unknown_side": result.unknown_side,
        "summary": result.summary(),
    }
