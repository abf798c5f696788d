from django.contrib.auth.decorators import login_required
from django.http import StreamingHttpResponse
from django.views.decorators.http import require_GET

from ..access import get_experiment_for_owner
from ..exports import (
    ASSIGNMENT_COLUMNS,
    JUDGMENT_COLUMNS,
    assignment_rows,
    judgment_rows,
    stream_csv,
)


@login_required
@require_GET
def judgments_csv(request, slug):
    experiment = get_experiment_for_owner(request.user, slug)
    response = StreamingHttpResponse(
        stream_csv(JUDGMENT_COLUMNS, judgment_rows(experiment), neutralised=True),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="{experiment.slug}-judgments.csv"'
    return response


@login_required
@require_GET
def assignments_csv(request, slug):
    experiment = get_experiment_for_owner(request.user, slug)
    response = StreamingHttpResponse(
        stream_csv(ASSIGNMENT_COLUMNS, assignment_rows(experiment)),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="{experiment.slug}-assignments.csv"'
    return response
