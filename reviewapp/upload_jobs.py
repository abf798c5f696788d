"""Checking and importing pairs uploads in the background, on the task queue.

A web request only saves the file and queues a job; `manage.py db_worker` (django-tasks
with its database backend) runs it: first a check (the whole file validated, nothing
written: the preview), then, once the owner confirms, the import (one transaction, so a
worker killed midway leaves nothing half-imported).

Progress: the running job writes {bytes read, rows, time} to a small file beside the
upload at least every PROGRESS_SECONDS, from a thread of its own, so it goes on even while
one large batch is written. The database cannot carry it: the import's transaction keeps
its rows invisible until it commits. A running job whose progress file is older than
REVIEWAPP_JOB_STALE_SECONDS lost its worker (killed, machine gone): it is marked failed
the next time anyone looks at it.
"""

import json
import os
import threading
import time
from dataclasses import asdict
from pathlib import Path

from django.conf import settings
from django.utils import timezone
from django_tasks import task

from .experiments import flag_pair_leaks, model_names
from .leaks import LeakTally
from .models import Experiment, UploadJob
from .upload_files import discard_pending_upload, pending_upload_dir, pending_upload_path
from .uploads import UploadError, import_upload, preview_upload

PROGRESS_SECONDS = 1.0
# The first pairs shown in the preview.
PREVIEW_ROWS = 10


def _pending_dir() -> Path:
    return pending_upload_dir()


def progress_path(job: UploadJob) -> Path:
    return _pending_dir() / f"job-{job.pk}.progress"


def queue_job(
    experiment: Experiment, *, kind: str, token: str, file_name: str, pairing: str, user=None
) -> UploadJob:
    """A new job for a saved pending upload, queued for the worker."""

    path = pending_upload_path(token)
    job = UploadJob.objects.create(
        experiment=experiment,
        created_by=user,
        kind=kind,
        token=token,
        file_name=file_name[:255],
        file_bytes=path.stat().st_size if path else 0,
        pairing=pairing,
    )
    run_upload_job.enqueue(job.pk)
    return job


class _ProgressWriter:
    """Writes the job's progress file every PROGRESS_SECONDS from its own thread: bytes
    read (the file position of the upload being read) and rows seen so far."""

    def __init__(self, job: UploadJob, handle):
        self.path = progress_path(job)
        self.handle = handle
        self.started = time.monotonic()
        self.rows = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self.write()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.path.unlink(missing_ok=True)

    def count(self, row) -> None:
        """Called for every pair read (a plain int: the writer thread only reads it)."""
        self.rows += 1

    def _run(self):
        while not self._stop.wait(PROGRESS_SECONDS):
            self.write()

    def write(self):
        try:
            position = os.lseek(self.handle.fileno(), 0, os.SEEK_CUR)
        except (OSError, ValueError):
            position = 0
        state = {
            "bytes": position,
            "rows": self.rows,
            "seconds": round(time.monotonic() - self.started, 3),
        }
        partial = self.path.with_suffix(".tmp")
        partial.write_text(json.dumps(state))
        partial.replace(self.path)  # readers never see half a file


def read_progress(job: UploadJob) -> dict | None:
    try:
        state = json.loads(progress_path(job).read_text())
        state["age"] = time.time() - progress_path(job).stat().st_mtime
        return state
    except (OSError, ValueError):
        return None


def result_payload(result) -> dict:
    """An ImportResult as JSON: its figures, counters as lists, the first rows as dicts."""
    data = {
        key: value
        for key, value in vars(result).items()
        if key not in {"models", "pairings", "first_rows"}
    }
    data["summary"] = result.summary()
    data["models"] = [[m, n] for m, n in result.models.most_common()]
    data["pairings"] = [[list(p), n] for p, n in result.pairings.most_common()]
    data["first_rows"] = [
        asdict(row) if hasattr(row, "__dataclass_fields__") else dict(vars(row))
        for row in result.first_rows[:PREVIEW_ROWS]
    ]
    return json.loads(json.dumps(data, default=str))


def _finish(job: UploadJob, **fields) -> None:
    fields.setdefault("finished_at", timezone.now())
    UploadJob.objects.filter(pk=job.pk).update(**fields)


@task()
def run_upload_job(job_id: int) -> str:
    """The task: check or import the job's file. Returns the job's final status."""

    job = UploadJob.objects.select_related("experiment").get(pk=job_id)
    if job.status != UploadJob.Status.QUEUED:
        return job.status  # already run (a task delivered twice)
    path = pending_upload_path(job.token)
    if path is None:
        _finish(job, status=UploadJob.Status.FAILED, message="The uploaded file has expired.")
        return UploadJob.Status.FAILED
    UploadJob.objects.filter(pk=job.pk).update(
        status=UploadJob.Status.RUNNING, started_at=timezone.now()
    )
    # The check also counts the pairs that may reveal their model (the preview lists them).
    tally = LeakTally(model_names(job.experiment))
    try:
        with open(path, "rb") as handle, _ProgressWriter(job, handle) as progress:
            if job.kind == UploadJob.Kind.IMPORT:
                result = import_upload(
                    job.experiment, handle, job.pairing, name=job.file_name,
                    on_pair=progress.count,
                )  # fmt: skip
                # Still reporting progress: a silent job is taken for a dead one.
                pairs_flagged = flag_pair_leaks(job.experiment)
            else:

                def check(row):
                    tally(row)
                    progress.count(row)

                result = preview_upload(
                    job.experiment, handle, job.pairing, name=job.file_name, on_pair=check
                )
    except UploadError as refused:
        _finish(
            job,
            status=UploadJob.Status.FAILED,
            errors=[
                {"row": e.row, "column": e.column, "message": e.message} for e in refused.errors
            ],
            total_errors=refused.total_errors,
            message=str(refused).splitlines()[0],
        )
        _discard(job)
        return UploadJob.Status.FAILED
    except Exception as error:
        _finish(job, status=UploadJob.Status.FAILED, message=f"The job failed: {error}")
        _discard(job)
        raise
    payload = result_payload(result)
    if job.kind == UploadJob.Kind.IMPORT:
        _discard(job)
        payload["pairs_flagged"] = pairs_flagged
    else:
        payload["flagged"] = {"count": tally.count, "rows": tally.rows}
    # message="": a reader may have taken a long silence for a dead worker meanwhile.
    _finish(job, status=UploadJob.Status.DONE, result=payload, message="")
    return UploadJob.Status.DONE


def _discard(job: UploadJob) -> None:

    discard_pending_upload(job.token)


def job_state(job: UploadJob) -> dict:
    """Where the job is, for its page and the API: status, and while it runs the share of
    the file read, rows, rate and an estimate of the time left. A running job whose
    progress went stale is marked failed here (its worker is gone)."""
    progress = read_progress(job) if job.status == UploadJob.Status.RUNNING else None
    stale_after = settings.REVIEWAPP_JOB_STALE_SECONDS
    if job.status == UploadJob.Status.RUNNING:
        started = job.started_at or job.created_at
        silent = progress["age"] if progress else (timezone.now() - started).total_seconds()
        if silent > stale_after:
            message = (
                "The worker stopped while this job was running (killed or restarted): "
                "nothing was imported. Upload the file again."
            )
            _finish(job, status=UploadJob.Status.FAILED, message=message)
            job.refresh_from_db()
            progress = None
    state = {
        "id": job.pk,
        "kind": job.kind,
        "status": job.status,
        "file_name": job.file_name,
        "file_bytes": job.file_bytes,
        "created_at": job.created_at.isoformat(),
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "message": job.message,
        "fraction": None,
        "bytes_read": None,
        "rows": None,
        "rows_per_second": None,
        "seconds_left": None,
    }
    if job.status == UploadJob.Status.DONE:
        state["fraction"] = 1.0
        state["rows"] = job.result.get("rows_read")
    if progress:
        seconds = max(progress["seconds"], 1e-3)
        fraction = min(1.0, progress["bytes"] / job.file_bytes) if job.file_bytes else None
        state.update(
            fraction=fraction,
            bytes_read=progress["bytes"],
            rows=progress["rows"] or None,
            rows_per_second=round(progress["rows"] / seconds, 1) if progress["rows"] else None,
            seconds_left=(
                round(seconds * (1 - fraction) / fraction, 1) if fraction and fraction > 0 else None
            ),
        )
    return state
