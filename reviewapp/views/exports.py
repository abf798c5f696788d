from django.contrib.auth.decorators import login_required
from django.http import StreamingHttpResponse
from django.views.decorators.http import require_GET

from ..access import get_experiment_for_owner
from ..exports import ASSIGNMENT_COLUMNS, assignment_rows, judgment_csv_chunks, stream_csv


def csv_download(chunks, filename: str) -> StreamingHttpResponse:
    """A streamed CSV attachment (the chunks come from exports.stream_csv, or from
    exports.judgment_csv_chunks). The server closes the chunks' generator when it is done, or
    when the client goes away, and that ends any database work behind them."""
    response = StreamingHttpResponse(chunks, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@login_required
@require_GET
def judgments_csv(request, slug):
    experiment = get_experiment_for_owner(request.user, slug)
    return csv_download(judgment_csv_chunks(experiment), f"{experiment.slug}-judgments.csv")


@login_required
@require_GET
def assignments_csv(request, slug):
    experiment = get_experiment_for_owner(request.user, slug)
    chunks = stream_csv(ASSIGNMENT_COLUMNS, assignment_rows(experiment))
    return csv_download(chunks, f"{experiment.slug}-assignments.csv")
