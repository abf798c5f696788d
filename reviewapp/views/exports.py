from django.contrib.auth.decorators import login_required
from django.views.decorators.http import require_GET

from ..access import get_experiment_for_owner
from ..exports import (
    ASSIGNMENT_COLUMNS,
    assignment_rows,
    judgment_csv_chunks,
    stream_csv,
    streamed_download,
)


@login_required
@require_GET
def judgments_csv(request, slug):
    experiment = get_experiment_for_owner(request.user, slug)
    return streamed_download(judgment_csv_chunks(experiment), f"{experiment.slug}-judgments.csv")


@login_required
@require_GET
def assignments_csv(request, slug):
    experiment = get_experiment_for_owner(request.user, slug)
    chunks = stream_csv(ASSIGNMENT_COLUMNS, assignment_rows(experiment))
    return streamed_download(chunks, f"{experiment.slug}-assignments.csv")
