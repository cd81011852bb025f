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
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import reswap, retarget

from annotation.models import ImportRun, Membership, Project, Role
from annotation.selectors.annotations import annotator_progress_many
from annotation.selectors.items import dataset_list, import_run_list
from annotation.selectors.projects import (
    LIST_MEMBERS,
    MANAGE,
    READ_ITEMS,
    membership_list,
    project_list_for_user,
)
from annotation.selectors.users import user_api_token_get
from annotation.services.imports import import_run_create
from annotation.services.projects import project_create
from annotation.services.users import user_api_token_regenerate
from annotation.web.access import project_and_role
from annotation.web.annotate import ANNOTATE_ROLES
from annotation.web.backup import ProjectRestoreForm
from annotation.web.forms import ImportCreateForm, ProjectCreateForm
from annotation.web.review import REVIEW_ROLES

# How many of a run's recorded problems the row shows; the run keeps up to
# STEPWISE_IMPORT_ERROR_LIMIT and counts them all.
IMPORT_ERRORS_SHOWN = 20
_ACTIVE = frozenset({ImportRun.Status.QUEUED, ImportRun.Status.RUNNING})


def markdown_render(text: str) -> SafeString:
    """Markdown to HTML that is safe to embed: nh3 drops every tag and attribute outside its
    allow-list (scripts, styles, event handlers, javascript: links), whatever the source."""
    html = md.markdown(text or "", extensions=["extra", "sane_lists"])
    return mark_safe(nh3.clean(html))  # noqa: S308 - sanitised by nh3 just above


def _split_field_error(exc: ValueError) -> tuple[str | None, str]:
    """Services raise ValueError('field: reason'); the field may be absent or dotted."""
    text = str(exc)
    field, sep, reason = text.partition(": ")
    if not sep:
        return None, text
    return field.split(".")[0], reason


def _add_service_error(form: Any, exc: ValueError) -> None:
    field, reason = _split_field_error(exc)
    form.add_error(field if field in form.fields else None, reason)


def _project_or_404(request: HttpRequest, slug: str) -> tuple[Project, str]:
    return project_and_role(request, slug)


def _run_present(run: ImportRun) -> ImportRun:
    """Attach what the row template needs: whether it still polls and its first problems."""
    run.is_active = run.status in _ACTIVE
    shown = []
    for err in (run.errors or [])[:IMPORT_ERRORS_SHOWN]:
        unit = next((u for u in ("line", "row", "record") if u in err), "line")
        where = f"{unit} {err[unit]}" if err.get(unit) is not None else "file"
        shown.append({"where": where, "field": err.get("field", ""), "message": err.get("message")})
    run.errors_shown = shown
    run.errors_hidden = max(run.error_count - len(shown), 0)
    return run


def _runs(project: Project) -> list[ImportRun]:
    return [_run_present(r) for r in import_run_list(project=project)]


# --- pages --------------------------------------------------------------------------------


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return _home_render(request, ProjectCreateForm())


def _home_render(request: HttpRequest, form: ProjectCreateForm, status: int = 200) -> HttpResponse:
    my_role = Membership.objects.filter(project=OuterRef("pk"), user=request.user).values("role")
    projects = list(
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
    return render(
        request,
        "web/home.html",
        {"projects": projects, "form": form},
        status=status,
    )


@login_required
@require_POST
def project_new(request: HttpRequest) -> HttpResponse:
    form = ProjectCreateForm(request.POST)
    if form.is_valid():
        try:
            project = project_create(created_by=request.user, **form.cleaned_data)
        except ValueError as exc:
            _add_service_error(form, exc)
        else:
            messages.success(request, f"Project “{project.name}” created; you are its manager.")
            return redirect("project_detail", slug=project.slug)
    return _home_render(request, form, status=400)


@login_required
@require_GET
def project_detail(request: HttpRequest, slug: str) -> HttpResponse:
    project, role = _project_or_404(request, slug)
    return _project_render(request, project, role)


def _project_render(
    request: HttpRequest,
    project: Project,
    role: str,
    form: ImportCreateForm | None = None,
    status: int = 200,
) -> HttpResponse:
    can_manage = role in MANAGE
    datasets = list(dataset_list(project=project))
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
        "form": (form or ImportCreateForm(project=project)) if can_manage else None,
        "restore_form": ProjectRestoreForm(prefix="restore", initial={"back": project.slug})
        if can_manage
        else None,
    }
    return render(request, "web/project_detail.html", context, status=status)


@login_required
@require_POST
def import_create(request: HttpRequest, slug: str) -> HttpResponse:
    """Store an upload and queue its import. Managers only (403 for other members)."""
    project, role = _project_or_404(request, slug)
    if role not in MANAGE:
        raise PermissionDenied("Only the project's managers can import data.")
    form = ImportCreateForm(request.POST, request.FILES, project=project)
    if not form.is_valid():
        if request.htmx:
            response = render(
                request,
                "web/project_detail.html#upload-form",
                {"project": project, "form": form, "datasets": dataset_list(project=project)},
            )
            return reswap(retarget(response, "#upload-form"), "outerHTML")
        return _project_render(request, project, role, form=form, status=400)
    run = import_run_create(
        project=project,
        user=request.user,
        upload=form.cleaned_data["file"],
        fmt=form.cleaned_data["format"],
        dataset_name=form.cleaned_data["dataset_name"],
    )
    if request.htmx:
        return render(
            request,
            "web/project_detail.html#import-runs",
            {"project": project, "runs": _runs(project)},
        )
    messages.success(request, f"Import of {run.original_filename} queued.")
    return redirect("project_detail", slug=project.slug)


@login_required
@require_GET
def import_row(request: HttpRequest, slug: str, run_id: int) -> HttpResponse:
    """One import run as a table row; the row polls this while the run is queued or running."""
    project, role = _project_or_404(request, slug)
    if role not in READ_ITEMS:
        raise PermissionDenied("Your role cannot see imports.")
    run = import_run_list(project=project).filter(id=run_id).first()
    if run is None:
        raise Http404("No such import")
    if not request.htmx:
        return redirect(f"{reverse('project_detail', args=[project.slug])}#import-{run.id}")
    context = {"project": project, "run": _run_present(run)}
    return render(request, "web/project_detail.html#import-row", context)


@login_required
@require_http_methods(["GET", "POST"])
def profile(request: HttpRequest) -> HttpResponse:
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
