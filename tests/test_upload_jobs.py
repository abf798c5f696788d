"""Uploads checked and imported as background jobs: the web flow, the API's job resource,
progress, and a worker killed midway (the real task queue: manage.py db_worker)."""

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from reviewapp import upload_jobs
from reviewapp.models import Pair, UploadJob
from reviewapp.tokens import create_token
from reviewapp.upload_files import save_pending_upload
from reviewapp.upload_jobs import job_state, progress_path, queue_job
from tests.conftest import make_experiment, make_user

ROOT = Path(__file__).resolve().parent.parent
GOOD = (
    "pair_id,prompt,model_a,output_a,model_b,output_b\n"
    "q1,What is 2 + 2?,base,4,tuned,2 + 2 = 4.\n"
    "q2,Capital of France?,base,Paris,tuned,The capital is Paris.\n"
)
BAD = "pair_id,prompt,model_a,output_a,model_b,output_b\nq1,Hi,base,a,base,b\n"


def upload(client, experiment, text, name="pairs.csv"):
    return client.post(
        reverse("owner-upload", args=[experiment.slug]),
        {"file": SimpleUploadedFile(name, text.encode()), "pairing": "all"},
    )


@pytest.fixture
def as_owner(client, owner):
    client.force_login(owner)
    return client


def test_web_upload_is_checked_by_a_job_then_imported_by_another(owner, as_owner):
    experiment = make_experiment(owner, n_pairs=0)
    response = upload(as_owner, experiment, GOOD)
    check = UploadJob.objects.get(experiment=experiment)
    assert response.status_code == 302
    assert response["Location"] == reverse("owner-upload-job", args=[experiment.slug, check.pk])
    assert (check.kind, check.status) == ("check", "done")
    page = as_owner.get(response["Location"]).content.decode()
    assert "nothing was wrong with it" in page and "Capital of France?" in page
    assert Pair.objects.filter(experiment=experiment).count() == 0  # nothing imported yet
    imported = as_owner.post(reverse("owner-upload-import", args=[experiment.slug, check.pk]))
    job = UploadJob.objects.get(experiment=experiment, kind="import")
    assert imported["Location"].endswith(f"/upload/jobs/{job.pk}/")
    assert job.status == "done" and job.result["pairs_created"] == 2
    assert Pair.objects.filter(experiment=experiment).count() == 2
    assert "Imported 2 new pairs" in as_owner.get(imported["Location"]).content.decode()
    # The same checked file cannot be imported twice.
    as_owner.post(reverse("owner-upload-import", args=[experiment.slug, check.pk]))
    assert UploadJob.objects.filter(experiment=experiment, kind="import").count() == 1


def test_a_refused_file_lists_its_problems_with_line_and_column(owner, as_owner):
    experiment = make_experiment(owner, n_pairs=0)
    response = upload(as_owner, experiment, BAD)
    job = UploadJob.objects.get(experiment=experiment)
    assert job.status == "failed" and job.total_errors >= 1
    page = as_owner.get(response["Location"]).content.decode()
    assert "The file was not imported" in page and "line 2" in page
    assert as_owner.post(reverse("owner-upload-import", args=[experiment.slug, job.pk]))
    assert not UploadJob.objects.filter(kind="import").exists()


def test_jobs_are_their_owners_only(owner, as_owner, client):
    experiment = make_experiment(owner, n_pairs=0)
    upload(as_owner, experiment, GOOD)
    job = UploadJob.objects.get()
    client.force_login(make_user("mallory", owner=True))
    assert (
        client.get(reverse("owner-upload-job", args=[experiment.slug, job.pk])).status_code == 404
    )
    url = reverse("owner-upload-import", args=[experiment.slug, job.pk])
    assert client.post(url).status_code == 404


def test_a_running_job_whose_progress_went_stale_is_marked_failed(owner):
    experiment = make_experiment(owner, n_pairs=0)
    job = UploadJob.objects.create(
        experiment=experiment, kind="import", token="x", status="running",
        started_at=timezone.now() - timedelta(seconds=settings.REVIEWAPP_JOB_STALE_SECONDS + 5),
    )  # fmt: skip
    state = job_state(job)
    assert state["status"] == "failed"
    assert "nothing was imported" in state["message"]


def test_progress_while_running_shows_share_rows_rate_and_time_left(owner):
    experiment = make_experiment(owner, n_pairs=0)
    job = UploadJob.objects.create(
        experiment=experiment, kind="import", token="x", status="running",
        started_at=timezone.now(), file_bytes=1000,
    )  # fmt: skip
    progress_path(job).parent.mkdir(parents=True, exist_ok=True)
    progress_path(job).write_text('{"bytes": 250, "rows": 500, "seconds": 2.0}')
    try:
        state = job_state(job)
    finally:
        progress_path(job).unlink()
    assert state["fraction"] == 0.25
    assert state["rows_per_second"] == 250.0
    assert state["seconds_left"] == 6.0


def test_a_running_job_counts_the_pairs_it_has_read(owner, monkeypatch):
    """The progress file's rows are the pairs the job has read so far (check and import)."""
    experiment = make_experiment(owner, n_pairs=0)
    seen = []
    real_writer = upload_jobs._ProgressWriter

    class Spy(real_writer):
        def __exit__(self, *exc):
            seen.append(self.rows)
            return super().__exit__(*exc)

    monkeypatch.setattr(upload_jobs, "_ProgressWriter", Spy)
    text = "pair_id,prompt,model_a,output_a,model_b,output_b\n" + "".join(
        f"{i},Hi {i},m1,x,m2,y\n" for i in range(7)
    )
    for kind in ("check", "import"):
        token = save_pending_upload([text.encode()])
        job = UploadJob.objects.create(experiment=experiment, kind=kind, token=token)
        assert upload_jobs.run_upload_job.call(job.pk) == "done"
    assert seen == [7, 7]


def test_api_job_resource_answers_202_then_the_result(owner):
    experiment = make_experiment(owner, n_pairs=0)
    _, token = create_token(owner, "t")
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    url = f"/api/experiments/{experiment.slug}/pairs/jobs"
    created = api.post(url, GOOD, content_type="text/csv")
    assert created.status_code == 202
    body = created.json()
    assert body["status_url"] == f"{url}/{body['id']}"
    status = api.get(body["status_url"]).json()
    assert status["status"] == "done" and status["result"]["pairs_created"] == 2
    refused = api.post(url + "?kind=check", BAD, content_type="text/csv").json()
    assert api.get(refused["status_url"]).json()["errors"][0]["row"] == 2
    other = create_token(make_user("mallory", owner=True), "t")[1]
    foreign = Client(HTTP_AUTHORIZATION=f"Bearer {other}").get(body["status_url"])
    assert foreign.status_code == 404


def write_big_csv(path: Path, n_pairs: int) -> None:
    with open(path, "w") as out:
        out.write("pair_id,prompt,model_a,output_a,model_b,output_b\n")
        filler = "x" * 300
        for i in range(n_pairs):
            out.write(f"p{i},Prompt {i} {filler},base,Answer {i} {filler},tuned,Other {i}\n")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_worker_killed_midway_leaves_nothing_imported_and_the_job_failed(owner, tmp_path):
    """The real queue: the job is queued in the database and `manage.py db_worker` runs it;
    SIGKILL while it imports. The transaction rolls back; the job is then marked failed
    once its progress goes stale."""
    experiment = make_experiment(owner, n_pairs=0)
    big = tmp_path / "big.csv"
    write_big_csv(big, 400_000)
    token = save_pending_upload(iter([big.read_bytes()]))
    database = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
    with override_settings(TASKS=database):
        job = queue_job(experiment, kind="import", token=token, file_name="big.csv", pairing="all")
    db = connection.settings_dict
    env = os.environ | {
        "DATABASE_URL": f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}",
        "TESTING": "0", "DEBUG": "0", "SECRET_KEY": "worker-test",
    }  # fmt: skip
    env.pop("DJANGO_SETTINGS_MODULE", None)
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "db_worker", "--no-startup-delay", "--interval", "0.2"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            job.refresh_from_db()
            progress = progress_path(job)
            if (
                job.status == "running"
                and progress.exists()
                and '"bytes": 0' not in progress.read_text()
            ):
                break
            assert job.status in ("queued", "running"), job.message
            assert time.monotonic() < deadline, "the worker never got going"
            time.sleep(0.05)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(10)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert Pair.objects.filter(experiment=experiment).count() == 0
    with override_settings(REVIEWAPP_JOB_STALE_SECONDS=1):
        time.sleep(2.5)
        state = job_state(job)
    assert state["status"] == "failed"
    assert "nothing was imported" in state["message"]
    progress_path(job).unlink(missing_ok=True)
