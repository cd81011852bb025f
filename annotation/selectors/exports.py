"""Reads of export runs."""

from __future__ import annotations

from django.db.models import QuerySet

from annotation.models import ExportRun, Project


def export_run_list(*, project: Project) -> QuerySet[ExportRun]:
    """A project's export runs, newest first."""
    return ExportRun.objects.filter(project=project).select_related("project", "created_by")


def export_run_get(*, project: Project, run_id: int) -> ExportRun | None:
    return export_run_list(project=project).filter(id=run_id).first()
