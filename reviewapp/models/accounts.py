"""What surrounds the data: API tokens and background upload jobs."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from reviewapp.models.experiments import Experiment


class ApiToken(models.Model):
    """A bearer token for the JSON API. Only its SHA-256 is stored; the token itself is
    shown once, when it is created."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100, blank=True)
    key_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(
        max_length=12, help_text="The token's first characters, to tell tokens apart."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"


class UploadJob(models.Model):
    """A pairs upload checked or imported in the background (upload_jobs.py). Its live
    progress is in a file beside the upload, not here: an import is one transaction, and
    rows written inside it are invisible to anyone else until it commits."""

    class Kind(models.TextChoices):
        CHECK = "check", "Check"
        IMPORT = "import", "Import"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="upload_jobs")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    token = models.CharField(max_length=64)  # the pending upload's file
    file_name = models.CharField(max_length=255, blank=True)
    file_bytes = models.BigIntegerField(default=0)
    pairing = models.CharField(max_length=10, default="all")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The preview (check) or what was imported (import): ImportResult's figures.
    result = models.JSONField(default=dict, blank=True)
    # The refusal: the first problems in full ({"row", "column", "message"}), all counted.
    errors = models.JSONField(default=list, blank=True)
    total_errors = models.PositiveIntegerField(default=0)
    message = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=["check", "import"]), name="upload_job_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["queued", "running", "done", "failed"]),
                name="upload_job_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of {self.file_name} ({self.status})"
