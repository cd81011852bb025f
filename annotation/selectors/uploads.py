"""Reads about stored uploads."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from annotation.models import ImportRun, Project


def import_upload_path(*, run: ImportRun) -> Path | None:
    """Where the run's upload is stored, or None once it was deleted."""
    return Path(settings.MEDIA_ROOT) / run.file if run.file else None


def import_upload_stored_bytes(*, project: Project) -> int:
    """Bytes of the project's uploads still on disk (queued, running, failed and kept).
    Succeeded imports delete theirs, so this stays small: a stat per kept file."""
    total = 0
    for rel in (
        ImportRun.objects.filter(project=project).exclude(file="").values_list("file", flat=True)
    ):
        try:
            total += (Path(settings.MEDIA_ROOT) / rel).stat().st_size
        except OSError:
            continue
    return total
