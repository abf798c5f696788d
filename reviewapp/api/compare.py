"""Comparing experiments that share a baseline (compare.py)."""

import re

from ninja import Query, Router

from ..access import get_experiment_for_owner
from ..compare import CompareError, compare_experiments
from .errors import ApiError, errors
from .schemas import SLUG_PATTERN

router = Router(tags=["experiments"])

MAX_COMPARED = 20

Slugs = Query(..., description="Experiment slugs, in the order to show.")
Baseline = Query(..., max_length=200, description="The model they all share.")


@router.get(
    "/compare",
    summary="Compare experiments that share a baseline model",
    response={200: dict, **errors(400, 401, 404, 422)},
)
def compare(
    request,
    experiments: list[str] = Slugs,
    baseline: str = Baseline,
    include_automatic: bool = False,
):
    """Per dimension, each challenger's win rate against the baseline with its 95 % interval,
    from each experiment's own results; and the number of prompts the experiments share."""
    if len(experiments) > MAX_COMPARED:
        raise ApiError(400, "invalid_comparison", f"Compare at most {MAX_COMPARED} experiments.")
    if any(not re.fullmatch(SLUG_PATTERN, slug) for slug in experiments):
        raise ApiError(404, "not_found", "Not found.")  # no experiment has such a slug
    chosen = [get_experiment_for_owner(request.auth, slug) for slug in experiments]
    try:
        return compare_experiments(chosen, baseline, include_automatic=include_automatic).as_dict()
    except CompareError as refused:
        raise ApiError(400, "invalid_comparison", str(refused)) from None
