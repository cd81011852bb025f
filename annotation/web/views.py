"""Server-rendered pages: full pages for a normal request, a fragment for htmx.

Views stay thin: selectors read, services write, and the templates present.
"""

from __future__ import annotations

from typing import Any

import markdown as md
import nh3
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, Subquery
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import reswap, retarget

from annotation.errors import ApplicationError
from annotation.importers.split import SPLIT_MODES
from annotation.models import ImportRun, Membership, Project, Role
from annotation.selectors.annotations import annotator_progress_many
from annotation.selectors.items import dataset_list, dataset_preview, import_run_list
from annotation.selectors.projects import (
    LIST_MEMBERS,
    MANAGE,
    READ_ITEMS,
    membership_list,
    project_list_for_user,
)
from annotation.selectors.users import user_api_token_get, user_can_create_projects
from annotation.services.import_runs import import_run_create, import_run_retry
from annotation.services.projects import project_create
from annotation.services.users import user_api_token_regenerate
from annotation.web.access import AuthedHttpRequest, project_and_role
from annotation.web.annotate import ANNOTATE_ROLES
from annotation.web.backup import ProjectRestoreForm
from annotation.web.errors import form_add_error
from annotation.web.exports import EXPORT_ROLES, export_runs_recent
from annotation.web.forms import ImportCreateForm, ProjectCreateForm
from annotation.web.review import REVIEW_ROLES

# How many of a run's recorded problems the row shows; the run keeps up to
# STEPWISE_IMPORT_ERROR_LIMIT and counts them all.
IMPORT_ERRORS_SHOWN = 20
# Steps per item in the preview of a split import.
PREVIEW_STEPS = 5


def markdown_render(text: str) -> SafeString:
    """Markdown to HTML that is safe to embed: nh3 drops every tag and attribute outside its
    allow-list (scripts, styles, event handlers, javascript: links), whatever the source."""
    html = md.markdown(text or "", extensions=["extra", "sane_lists"])
    return mark_safe(nh3.clean(html))  # noqa: S308 - sanitised by nh3 just above


def _project_or_404(request: AuthedHttpRequest, slug: str) -> tuple[Project, str]:
    return project_and_role(request, slug)


def _run_present(run: ImportRun) -> Any:
    """Attach what the row template needs: its first problems."""
    row: Any = run
    shown = []
    for err in (run.errors or [])[:IMPORT_ERRORS_SHOWN]:
        unit = next((u for u in ("line", "row", "record") if u in err), "line")
        where = f"{unit} {err[unit]}" if err.get(unit) is not None else "file"
        shown.append({"where": where, "field": err.get("field", ""), "message": err.get("message")})
    row.errors_shown = shown
    row.errors_hidden = max(run.error_count - len(shown), 0)
    # A split's name, and for a finished one the dataset's first items as cut.
    split = (run.options or {}).get("split")
    row.split_label = ""
    row.preview = []
    if split:
        row.split_label = SPLIT_MODES.get(split, split)
        if split == "regex":
            row.split_label += f" /{run.options.get('split_pattern', '')}/"
        if run.status == ImportRun.Status.SUCCEEDED and run.dataset_id:
            row.preview = [
                {"id": it.external_id, "steps": list(it.steps.all())[:PREVIEW_STEPS],
                 "more": max(len(it.steps.all()) - PREVIEW_STEPS, 0)}
                for it in dataset_preview(dataset_id=run.dataset_id)
            ]  # fmt: skip
    return row


def _runs(project: Project) -> list[Any]:
    return [_run_present(r) for r in import_run_list(project=project)]


# --- pages --------------------------------------------------------------------------------


@login_required
@require_GET
def home(request: AuthedHttpRequest) -> HttpResponse:
    return _home_render(request, ProjectCreateForm())


def _home_render(
    request: AuthedHttpRequest, form: ProjectCreateForm, status: int = 200
) -> HttpResponse:
    my_role = Membership.objects.filter(project=OuterRef("pk"), user=request.user).values("role")
    # Rows the template reads with the viewer's role and progress attached.
    projects: list[Any] = list(
        project_list_for_user(user=request.user).annotate(my_role=Subquery(my_role[:1]))
    )
    for p in projects:
        role = p.my_role or (Role.MANAGER if request.user.is_superuser else None)
        p.can_label = role in ANNOTATE_ROLES
        p.can_review = role in REVIEW_ROLES
    # The annotator's own progress, on the projects where they label.
    progress = annotator_progress_many(
        projects=[p for p in projects if p.can_label], annotator=request.user
    )
    for p in projects:
        p.progress = progress.get(p.id)
    can_create = user_can_create_projects(user=request.user)
    return render(
        request,
        "web/home.html",
        {"projects": projects, "form": form if can_create else None, "can_create": can_create},
        status=status,
    )


@login_required
@require_POST
def project_new(request: AuthedHttpRequest) -> HttpResponse:
    if not user_can_create_projects(user=request.user):
        raise PermissionDenied("You may not create projects; ask an administrator.")
    form = ProjectCreateForm(request.POST)
    if form.is_valid():
        try:
            project = project_create(created_by=request.user, **form.cleaned_data)
        except ApplicationError as exc:
            form_add_error(form, exc)
        else:
            messages.success(request, f"Project “{project.name}” created; you are its manager.")
            return redirect("project_detail", slug=project.slug)
    return _home_render(request, form, status=400)


@login_required
@require_GET
def project_detail(request: AuthedHttpRequest, slug: str) -> HttpResponse:
    project, role = _project_or_404(request, slug)
    return _project_render(request, project, role)


def _project_render(
    request: AuthedHttpRequest,
    project: Project,
    role: str,
    form: ImportCreateForm | None = None,
    status: int = 200,
) -> HttpResponse:
    can_manage = role in MANAGE
    datasets: list[Any] = list(dataset_list(project=project))  # annotated with item_count
    context = {
        "project": project,
        "role": role,
        "can_manage": can_manage,
        "can_list_members": role in LIST_MEMBERS,
        "can_see_imports": role in READ_ITEMS,
        "can_label": role in ANNOTATE_ROLES,
        "can_review": role in REVIEW_ROLES,
        "can_see_dashboard": role in READ_ITEMS,
        "instructions_html": markdown_render(project.instructions),
        "datasets": datasets,
        "item_total": sum(d.item_count for d in datasets),
        "members": list(membership_list(project=project)) if role in LIST_MEMBERS else [],
        "runs": _runs(project) if role in READ_ITEMS else [],
        "can_export": role in EXPORT_ROLES,
        "export_runs": export_runs_recent(project) if role in EXPORT_ROLES else [],
        "form": (form or ImportCreateForm(project=project)) if can_manage else None,
        # A restore creates a project: offered to managers who may create projects.
        "restore_form": ProjectRestoreForm(prefix="restore", initial={"back": project.slug})
        if can_manage and user_can_create_projects(user=request.user)
        else None,
    }
    return render(request, "web/project_detail.html", context, status=status)


@login_required
@require_POST
def import_create(request: AuthedHttpRequest, slug: str) -> HttpResponse:
    """Store an upload and queue its import. Managers only (403 for other members)."""
    project, role = _project_or_404(request, slug)
    if role not in MANAGE:
        raise PermissionDenied("Only the project's managers can import data.")
    form = ImportCreateForm(request.POST, request.FILES, project=project)
    # Reading request.POST parsed the body; UploadLimitHandler may have refused the file.
    refused = getattr(request, "upload_refused", None)
    if refused:
        form.is_valid()
        # The only error worth showing: the fields after the file were never read.
        form.errors.clear()
        form.errors["file"] = form.error_class([f"The file {refused}."])
        return _import_form_invalid(request, project, role, form)
    if not form.is_valid():
        return _import_form_invalid(request, project, role, form)
    try:
        run = import_run_create(
            project=project,
            user=request.user,
            upload=form.cleaned_data["file"],
            fmt=form.cleaned_data["format"],
            dataset_name=form.cleaned_data["dataset_name"],
            options=form.import_options(),
        )
    except ApplicationError as exc:
        if exc.field and exc.field.startswith("options."):
            exc.field = exc.field.removeprefix("options.")
        form_add_error(form, exc)
        return _import_form_invalid(request, project, role, form)
    if request.htmx:
        return render(
            request,
            "web/project_detail.html#import-runs",
            {"project": project, "runs": _runs(project), "can_manage": True},
        )
    messages.success(request, f"Import of {run.original_filename} queued.")
    return redirect("project_detail", slug=project.slug)


def _import_form_invalid(
    request: AuthedHttpRequest, project: Project, role: str, form: ImportCreateForm
) -> HttpResponse:
    if request.htmx:
        response = render(
            request,
            "web/project_detail.html#upload-form",
            {"project": project, "form": form, "datasets": dataset_list(project=project)},
        )
        return reswap(retarget(response, "#upload-form"), "outerHTML")
    return _project_render(request, project, role, form=form, status=400)


@login_required
@require_GET
def import_row(request: AuthedHttpRequest, slug: str, run_id: int) -> HttpResponse:
    """One import run as a table row; the row polls this while the run is queued or running."""
    project, role = _project_or_404(request, slug)
    if role not in READ_ITEMS:
        raise PermissionDenied("Your role cannot see imports.")
    run = import_run_list(project=project).filter(id=run_id).first()
    if run is None:
        raise Http404("No such import")
    if not request.htmx:
        return redirect(f"{reverse('project_detail', args=[project.slug])}#import-{run.id}")
    context = {"project": project, "run": _run_present(run), "can_manage": role in MANAGE}
    return render(request, "web/project_detail.html#import-row", context)


@login_required
@require_POST
def import_retry(request: AuthedHttpRequest, slug: str, run_id: int) -> HttpResponse:
    """Queue a failed import again (managers); htmx gets the run's row back."""
    project, role = _project_or_404(request, slug)
    if role not in MANAGE:
        raise PermissionDenied("Only the project's managers can retry imports.")
    run = import_run_list(project=project).filter(id=run_id).first()
    if run is None:
        raise Http404("No such import")
    problem = None
    try:
        run = import_run_retry(run=run)
    except ApplicationError as exc:
        problem = exc.message
        run.refresh_from_db()
    if request.htmx:
        context = {
            "project": project,
            "run": _run_present(run),
            "can_manage": True,
            "retry_problem": problem,
        }
        return render(request, "web/project_detail.html#import-row", context)
    if problem:
        messages.error(request, problem)
    else:
        messages.info(request, f"Import {run.id} queued again.")
    return redirect(f"{reverse('project_detail', args=[project.slug])}#import-{run.id}")


@login_required
@require_http_methods(["GET", "POST"])
def profile(request: AuthedHttpRequest) -> HttpResponse:
    """The user's API token: a POST creates it, or replaces it (the old one stops working)."""
    if request.method == "POST":
        _, had = user_api_token_regenerate(user=request.user)
        messages.success(
            request,
            "New API token created; the old one no longer works." if had else "API token created.",
        )
        return redirect("profile")
    token = user_api_token_get(user=request.user)
    api_url = request.build_absolute_uri("/api/v1/projects/")
    return render(request, "web/profile.html", {"token": token, "api_url": api_url})
