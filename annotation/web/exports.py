"""The project page's export runs: a row that polls while the run is active, and Retry for a
failed one. Managers and researchers (who start exports over REST or the CLI) see them;
non-members get 404, other roles 403."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from annotation.errors import ApplicationError
from annotation.models import ExportRun, Project, Role
from annotation.selectors.exports import export_run_get, export_run_list
from annotation.services.exports import export_run_files, export_run_retry
from annotation.web.access import AuthedHttpRequest, project_for_role

EXPORT_ROLES = frozenset({Role.MANAGER, Role.RESEARCHER})
EXPORTS_SHOWN = 10


def export_run_present(run: ExportRun) -> Any:
    """Attach the download links of a finished run's files."""
    base = f"/api/v1/projects/{run.project.slug}/exports/{run.id}/download/"
    row: Any = run
    row.file_links = [{"name": n, "url": base + n} for n in export_run_files(run=run)]
    return row


def export_runs_recent(project: Project) -> list[Any]:
    return [export_run_present(r) for r in export_run_list(project=project)[:EXPORTS_SHOWN]]


def _run_or_404(request: AuthedHttpRequest, slug: str, run_id: int) -> tuple[Project, ExportRun]:
    project, _ = project_for_role(request, slug, EXPORT_ROLES, "Your role cannot see exports.")
    run = export_run_get(project=project, run_id=run_id)
    if run is None:
        raise Http404("No such export")
    return project, run


def _row(
    request: AuthedHttpRequest, project: Project, run: ExportRun, **extra: object
) -> HttpResponse:
    context = {"project": project, "run": export_run_present(run), "can_export": True, **extra}
    return render(request, "web/project_detail.html#export-row", context)


@login_required
@require_GET
def export_row(request: AuthedHttpRequest, slug: str, run_id: int) -> HttpResponse:
    """One export run as a table row; the row polls this while the run is queued or running."""
    project, run = _run_or_404(request, slug, run_id)
    if not request.htmx:
        return redirect(f"{reverse('project_detail', args=[project.slug])}#export-{run.id}")
    return _row(request, project, run)


@login_required
@require_POST
def export_retry(request: AuthedHttpRequest, slug: str, run_id: int) -> HttpResponse:
    """Queue a failed export again; htmx gets the run's row back."""
    project, run = _run_or_404(request, slug, run_id)
    problem = None
    try:
        run = export_run_retry(run=run)
    except ApplicationError as exc:
        problem = exc.message
        run.refresh_from_db()
    if request.htmx:
        return _row(request, project, run, retry_problem=problem)
    if problem:
        messages.error(request, problem)
    else:
        messages.info(request, f"Export {run.id} queued again.")
    return redirect(f"{reverse('project_detail', args=[project.slug])}#export-{run.id}")
