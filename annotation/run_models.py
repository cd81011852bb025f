"""Background runs: rows that a Celery task moves from queued to an end, and the workers'
heartbeats. Re-exported by `annotation.models`, so import them from there.

Every run (imports, exports, dashboard refreshes here; labeling jobs in labeling_jobs) shares
`BackgroundRun`: a task claims the row with a conditional UPDATE (`annotation.services.runs`),
beats while it works, and ends it succeeded or failed, never leaving it running. A row whose
heartbeat goes stale (its worker died) is taken over by a redelivered task or by the sweep.
"""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q


class RunStatus(models.TextChoices):
    """Lifecycle of a background run."""

    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


ACTIVE_STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING)
ENDED_STATUSES = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED)
RETRYABLE_STATUSES = (RunStatus.FAILED, RunStatus.CANCELLED)


class BackgroundRun(models.Model):
    """What every background run has: a status a task moves along, who started it and when,
    progress, the last sign of life of the worker running it, how many times a worker
    started it, and why it failed.

    `dispatch_name` names the sender (see `annotation.dispatch`) that queues the run's task.
    """

    Status = RunStatus
    dispatch_name: ClassVar[str] = ""

    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Written by the worker every STEPWISE_RUN_HEARTBEAT_SECONDS while the run is running.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    # Claims by a worker (a redelivered or requeued run counts again); capped by
    # STEPWISE_RUN_MAX_ATTEMPTS so that a run that kills its worker ends failed.
    attempts = models.PositiveIntegerField(default=0)
    # Why the run failed (or was cancelled), for people.
    error = models.TextField(blank=True)

    class Meta:
        abstract = True
        ordering = ["-id"]

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def can_retry(self) -> bool:
        return self.status in RETRYABLE_STATUSES

    @property
    def percent(self) -> int:
        if not self.progress_total:
            return 100 if self.status == RunStatus.SUCCEEDED else 0
        return min(100, round(100 * self.progress_done / self.progress_total))


class ImportRun(BackgroundRun):
    """An uploaded file imported by a task. `progress_done` counts records read;
    `progress_total` estimates the file's records from the bytes read so far (exact at the
    end)."""

    dispatch_name = "annotation.import_run"

    project = models.ForeignKey(
        "annotation.Project", on_delete=models.CASCADE, related_name="import_runs"
    )
    dataset = models.ForeignKey(
        "annotation.Dataset",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="import_runs",
    )
    dataset_name = models.CharField(max_length=200)
    format = models.CharField(max_length=32)
    file = models.CharField(max_length=500, help_text="Path of the uploaded file under MEDIA_ROOT.")
    original_filename = models.CharField(max_length=255, blank=True)
    options = models.JSONField(default=dict, blank=True)
    items_created = models.PositiveIntegerField(default=0)
    items_unchanged = models.PositiveIntegerField(default=0)
    records_skipped = models.PositiveIntegerField(default=0)
    steps_created = models.PositiveIntegerField(default=0)
    turns_created = models.PositiveIntegerField(default=0)
    candidates_created = models.PositiveIntegerField(default=0)
    annotations_created = models.PositiveIntegerField(default=0)
    # The first STEPWISE_IMPORT_ERROR_LIMIT problems as {line, field, message}; error_count
    # has the total.
    errors = models.JSONField(default=list, blank=True)
    error_count = models.PositiveIntegerField(default=0)
    message = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"import {self.id} ({self.format}, {self.status})"


class ExportRun(BackgroundRun):
    """A training-data export written by a task to a deterministic folder under MEDIA_ROOT."""

    dispatch_name = "annotation.export_run"

    project = models.ForeignKey(
        "annotation.Project", on_delete=models.CASCADE, related_name="export_runs"
    )
    format = models.CharField(max_length=32)
    options = models.JSONField(default=dict, blank=True)
    counts = models.JSONField(default=dict, blank=True)
    path = models.CharField(max_length=500, blank=True)

    def __str__(self) -> str:
        return f"export {self.id} ({self.format}, {self.status})"


class StatsRefresh(BackgroundRun):
    """One recomputation of a project's dashboard figures (the ProjectStat rows). At most one
    is queued or running per project; a change while one runs sets `rerun_requested`, and the
    run queues one follow-up when it ends (so at most one runs and one waits)."""

    dispatch_name = "annotation.stats_refresh"

    project = models.ForeignKey(
        "annotation.Project", on_delete=models.CASCADE, related_name="stats_refreshes"
    )
    # Set while running when the data changed after the run started reading it.
    rerun_requested = models.BooleanField(default=False)

    class Meta(BackgroundRun.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["project"],
                condition=Q(status__in=["queued", "running"]),
                name="statsrefresh_one_active",
            )
        ]

    def __str__(self) -> str:
        return f"stats refresh {self.id} of project {self.project_id} ({self.status})"

    @property
    def seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return round((self.finished_at - self.started_at).total_seconds(), 3)
        return None


class WorkerHeartbeat(models.Model):
    """Last sign of life of each Celery worker (read by /healthz)."""

    hostname = models.CharField(max_length=255, unique=True)
    queues = models.CharField(max_length=255, blank=True)
    last_seen = models.DateTimeField()

    def __str__(self) -> str:
        return self.hostname
