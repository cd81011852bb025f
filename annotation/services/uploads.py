"""Uploaded import files: the size limit and per-project quota, and their deletion.

An upload lives under MEDIA_ROOT/imports/ while its import may still need it: it is deleted
as soon as the import succeeds; a failed import keeps it for
STEPWISE_IMPORT_FAILED_RETENTION_DAYS (a retry reads it again), then `import_upload_sweep`
deletes it. The sweep also removes files no run refers to (an upload whose transaction
rolled back) once they are a day old.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from annotation.errors import ApplicationError
from annotation.models import ImportRun, Project, RunStatus
from annotation.selectors.uploads import import_upload_path, import_upload_stored_bytes
from annotation.upload_handlers import upload_limit_message

log = logging.getLogger(__name__)

UPLOAD_DIR = "imports"
ORPHAN_AGE = timedelta(days=1)
ACTIVE = (RunStatus.QUEUED, RunStatus.RUNNING)


def import_upload_check(*, project: Project, size: int) -> None:
    """Refuse an upload over the size limit or over the project's quota of stored uploads,
    with ApplicationError(field="file") saying which limit and by how much."""
    limit = settings.STEPWISE_IMPORT_MAX_FILE_BYTES
    if size > limit:
        raise ApplicationError(upload_limit_message(limit), code="file_too_large", field="file")
    quota = settings.STEPWISE_PROJECT_UPLOAD_QUOTA_BYTES
    if quota <= 0:
        return
    stored = import_upload_stored_bytes(project=project)
    if stored + size > quota:
        raise ApplicationError(
            f"would bring this project's stored uploads to {stored + size:,} bytes, over its "
            f"quota of {quota:,} bytes ({stored:,} bytes are kept now: imports that are "
            "queued or running, and failed ones kept "
            f"{settings.STEPWISE_IMPORT_FAILED_RETENTION_DAYS} days for a retry). Wait for "
            "running imports to finish, or ask an administrator to raise "
            "STEPWISE_PROJECT_UPLOAD_QUOTA_BYTES.",
            code="upload_quota_exceeded",
            field="file",
        )


def import_upload_discard(*, run: ImportRun) -> bool:
    """Delete the run's upload and forget its path; True if a file was removed. Idempotent."""
    path = import_upload_path(run=run)
    if path is None:
        return False
    removed = False
    try:
        path.unlink()
        removed = True
    except FileNotFoundError:
        pass
    ImportRun.objects.filter(id=run.id).update(file="")
    run.file = ""
    return removed


def import_upload_discard_if_done(*, run: ImportRun) -> bool:
    """Called when a run ends: a succeeded import needs its upload no more."""
    if run.status == RunStatus.SUCCEEDED:
        return import_upload_discard(run=run)
    return False


def import_upload_sweep(*, now: datetime | None = None) -> int:
    """Delete uploads no run needs: those of succeeded runs, of other ended runs (failed)
    finished over STEPWISE_IMPORT_FAILED_RETENTION_DAYS ago, and unreferenced files a day
    old. Returns how many files were removed. Safe to run at any time, and concurrently."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.STEPWISE_IMPORT_FAILED_RETENTION_DAYS)
    expired = (
        ImportRun.objects.exclude(file="")
        .exclude(status__in=ACTIVE)
        .filter(
            Q(status=RunStatus.SUCCEEDED)
            | Q(finished_at__lt=cutoff)
            | Q(finished_at__isnull=True, created_at__lt=cutoff)
        )
    )
    removed = sum(import_upload_discard(run=run) for run in expired.iterator())
    removed += _orphans_remove(now=now)
    if removed:
        log.info("import upload sweep: %d file(s) deleted", removed)
    return removed


def _orphans_remove(*, now: datetime) -> int:
    folder = Path(settings.MEDIA_ROOT) / UPLOAD_DIR
    if not folder.is_dir():
        return 0
    referenced = set(ImportRun.objects.exclude(file="").values_list("file", flat=True))
    oldest = now.timestamp() - ORPHAN_AGE.total_seconds()
    removed = 0
    for path in folder.iterdir():
        rel = f"{UPLOAD_DIR}/{path.name}"
        if rel in referenced or not path.is_file():
            continue
        try:
            if path.stat().st_mtime < oldest:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            continue
    return removed
