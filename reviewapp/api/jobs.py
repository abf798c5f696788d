"""Large uploads as background jobs (upload_jobs.py): 202 with a status URL, then poll."""

from typing import Literal

from django.shortcuts import get_object_or_404
from ninja import Query, Router, Status

from ..models import UploadJob
from ..upload_files import save_pending_upload
from ..upload_jobs import job_state, queue_job
from .errors import errors
from .owner import Slug, owned
from .pairs import PAIRS_BODY, uploaded_file

router = Router(tags=["experiments"])

Kind = Query("import", description="check: validate and preview only; import: check and import.")
Pairing = Query("all", description="Long format only: all pairs of a prompt, or vs the baseline.")


def job_out(job: UploadJob) -> dict:
    state = job_state(job)
    job.refresh_from_db()
    return {
        **state,
        "status": job.status,
        "status_url": f"/api/experiments/{job.experiment.slug}/pairs/jobs/{job.pk}",
        "result": job.result or None,
        "errors": job.errors,
        "total_errors": job.total_errors,
    }


@router.post(
    "/experiments/{slug}/pairs/jobs",
    summary="Upload pairs as a background job",
    response={202: dict, **errors(400, 401, 404, 413, 415, 422)},
    openapi_extra=PAIRS_BODY,
)
def pairs_job_create(
    request,
    slug: str = Slug,
    kind: Literal["check", "import"] = Kind,
    pairing: Literal["all", "baseline"] = Pairing,
):
    """Saves the file and queues its check or import; answers 202 at once with the job and
    its `status_url`. For files too large to import within one request."""
    experiment = owned(request, slug)
    chunks, name = uploaded_file(request)
    token = save_pending_upload(chunks)
    job = queue_job(
        experiment, kind=kind, token=token, file_name=name, pairing=pairing, user=request.auth
    )
    job.experiment = experiment
    return Status(202, job_out(job))


@router.get(
    "/experiments/{slug}/pairs/jobs/{job_id}",
    summary="A background upload job",
    response={200: dict, **errors(401, 404, 422)},
)
def pairs_job_detail(request, job_id: int, slug: str = Slug):
    """Status (queued, running, done, failed), progress while it runs (share of the file
    read, rows, rate, seconds left), then the result or the problems found."""
    experiment = owned(request, slug)
    job = get_object_or_404(UploadJob, pk=job_id, experiment=experiment)
    job.experiment = experiment
    return job_out(job)
