"""Exports in the browser: the Exports page (start an export with a format and its options,
see past runs with what they hold, what was left out and why, their dataset card and files),
and the project page's rows. Rows poll while the run is active; Retry queues a failed one.
The same service as REST (`export_run_start`). Managers and researchers only; non-members get
404, other roles 403."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import reswap, retarget

from annotation.errors import ApplicationError
from annotation.exporters.base import DEFAULT_OPTIONS
from annotation.exporters.explain import OPTION_HELP, dropped_explained
from annotation.models import ExportRun, Project, Role
from annotation.selectors.exports import export_run_get, export_run_list
from annotation.services.exports import (
    export_file_path,
    export_run_files,
    export_run_retry,
    export_run_start,
)
from annotation.web.access import AuthedHttpRequest, project_for_role
from annotation.web.errors import form_add_error
from annotation.web.export_form import ExportStartForm
from annotation.web.rendering import rich_text

EXPORT_ROLES = frozenset({Role.MANAGER, Role.RESEARCHER})
EXPORTS_SHOWN = 10
# Past runs on the Exports page.
EXPORTS_PAGE_SHOWN = 50
# A dataset card bigger than this is shown cut (the file has it all).
CARD_MAX_CHARS = 200_000


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
    if request.GET.get("on") == "exports":
        context = {"project": project, "run": export_run_page_present(run), "can_export": True}
        return render(request, "web/exports.html#export-run", {**context, **extra})
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


# --- the Exports page -----------------------------------------------------------------------


def _options_text(run: ExportRun) -> list[str]:
    """The options that differ from the defaults, in words ("Labels: Per annotator")."""
    out = []
    for name, value in (run.options or {}).items():
        info = OPTION_HELP.get(name)
        if info is None or value == DEFAULT_OPTIONS.get(name) or name == "file_format":
            continue
        shown = dict(info.choices).get(str(value), value)
        if isinstance(value, bool):
            shown = "yes" if value else "no"
        out.append(f"{info.label}: {shown}")
    return out


def export_run_page_present(run: ExportRun) -> Any:
    """A run as the Exports page shows it: links, options and left-out rows in words."""
    row = export_run_present(run)
    counts = run.counts or {}
    row.options_text = _options_text(run)
    row.file_format = (run.options or {}).get("file_format", "")
    row.splits = sorted((counts.get("splits") or {}).items())
    row.left_out = dropped_explained(counts.get("dropped") or {}, run.options or {})
    row.data_links = [f for f in row.file_links if f["name"] not in ("README.md", "manifest.json")]
    row.meta_links = [f for f in row.file_links if f["name"] in ("README.md", "manifest.json")]
    row.has_card = "README.md" in {f["name"] for f in row.file_links}
    return row


def _page_context(project: Project, form: ExportStartForm) -> dict[str, Any]:
    runs = [
        export_run_page_present(r) for r in export_run_list(project=project)[:EXPORTS_PAGE_SHOWN]
    ]
    return {"project": project, "form": form, "runs": runs, "can_export": True}


@login_required
@require_http_methods(["GET", "POST"])
def exports_page(request: AuthedHttpRequest, slug: str) -> HttpResponse:
    """GET: the page (htmx with `format`: the form for that format). POST: start an export;
    htmx gets the list of runs back, a bad option re-renders the form with the reason."""
    project, _ = project_for_role(request, slug, EXPORT_ROLES, "Your role cannot export.")
    if request.method == "GET":
        form = ExportStartForm(project=project, fmt=request.GET.get("format"))
        if request.htmx and request.htmx.target == "export-form":
            return render(
                request, "web/exports.html#export-form", {"project": project, "form": form}
            )
        return render(request, "web/exports.html", _page_context(project, form))
    form = ExportStartForm(request.POST, project=project)
    run = None
    if form.is_valid():
        try:
            run = export_run_start(
                project=project,
                fmt=form.cleaned_data["format"],
                options=form.export_options(),
                user=request.user,
            )
        except ApplicationError as exc:
            if exc.field and exc.field.startswith("options."):
                exc.field = exc.field.removeprefix("options.")
            form_add_error(form, exc)
    if run is None:
        if request.htmx:
            response = render(
                request,
                "web/exports.html#export-form",
                {"project": project, "form": form},
                status=400,
            )
            return reswap(retarget(response, "#export-form"), "outerHTML")
        return render(request, "web/exports.html", _page_context(project, form), status=400)
    if request.htmx:
        return render(request, "web/exports.html#export-runs", _page_context(project, form))
    messages.success(request, f"Export {run.id} queued.")
    return redirect("exports_page", slug=project.slug)


@login_required
@require_GET
def export_card(request: AuthedHttpRequest, slug: str, run_id: int) -> HttpResponse:
    """A finished run's dataset card (README.md) rendered: its YAML header as text, its
    Markdown escaped first and sanitised after (`rich_text`), so a project name or license
    text holding HTML shows as text and nothing in the card can run in the page."""
    project, run = _run_or_404(request, slug, run_id)
    path = export_file_path(run=run, filename="README.md")
    if path is None:
        raise Http404("This export has no dataset card")
    text = path.read_text(encoding="utf-8", errors="replace")[:CARD_MAX_CHARS]
    header, body = "", text
    if text.startswith("---\n"):
        end = text.find("\n---\n", 4)
        if end != -1:
            header, body = text[4:end], text[end + 5 :]
    context = {"project": project, "run": run, "header": header, "card_html": rich_text(body)}
    return render(request, "web/exports.html#export-card", context)
