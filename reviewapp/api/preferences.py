"""Preference data for fine-tuning (preferences.py), as a JSONL download and its summary."""

from ninja import Query, Router, Schema

from ..exports import streamed_download
from ..preferences import PreferenceError, filter_from_params, preference_lines, summarise
from .errors import ApiError, errors
from .owner import Slug, _text_response, owned

router = Router(tags=["experiments"])


class PreferenceQuery(Schema):
    dimension: str = Query("", description="Rubric dimension (default: the first).")
    min_judgments: int = Query(1, ge=1, le=1000, description="Counted judgments a pair needs.")
    min_agreement: str = Query(
        "1/2", max_length=20, description="Share that must pick the winner: 2/3, 0.6 or 60%."
    )
    include_gold: bool = False
    include_excluded_reviewers: bool = False
    include_automatic: bool = False
    format: str = Query("trl", description="trl ({prompt, chosen, rejected}) or openai.")


class LeftOutOut(Schema):
    too_few_judgments: int
    tie: int
    split: int
    low_agreement: int


class PreferenceSummaryOut(Schema):
    dimension: str
    pairs_considered: int
    exported: int
    left_out: LeftOutOut


def _filter(experiment, query: PreferenceQuery):
    params = {k: v for k, v in query.dict().items() if v is not False}
    try:
        return filter_from_params(experiment, params)
    except PreferenceError as error:
        raise ApiError(400, "invalid_filter", str(error)) from None


@router.get(
    "/experiments/{slug}/preferences/summary",
    summary="Preference data: what the filter lets through",
    response={200: PreferenceSummaryOut, **errors(400, 401, 404, 422)},
)
def preferences_summary(request, slug: str = Slug, query: Query[PreferenceQuery] = None):
    experiment = owned(request, slug)
    return summarise(experiment, _filter(experiment, query)).as_dict()


@router.get(
    "/experiments/{slug}/preferences.jsonl",
    summary="Preference data as JSON lines",
    response={200: None, **errors(400, 401, 404, 422)},
    openapi_extra=_text_response(
        "application/x-ndjson",
        'One {"prompt", "chosen", "rejected"} a line (format=trl), or OpenAI\'s preference '
        "fine-tuning records (format=openai).",
    ),
)
def preferences_jsonl(request, slug: str = Slug, query: Query[PreferenceQuery] = None):
    experiment = owned(request, slug)
    flt = _filter(experiment, query)
    return streamed_download(
        preference_lines(experiment, flt),
        f"{experiment.slug}-preferences-{flt.format}.jsonl",
        "application/x-ndjson; charset=utf-8",
    )
