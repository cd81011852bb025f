"""The annotator's labeling pages: the task stream, submit, skip, flag, and own annotations.

The labeling page holds the current item and, hidden, the next one, already claimed and
rendered. Submitting swaps the hidden one in at once and fetches a new hidden one in the
background (the same page as an htmx fragment, excluding the item just shown), so moving on
never waits for a claim or a render. Each rendered form carries a one-time client token, so
a double click or a retried submit changes nothing (annotation_submit is idempotent on it).

What the form shows and what its POST means belong to the project's label kind
(`annotation.web.labeling`, `annotation.kinds`); these views only route.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from annotation.errors import ApplicationError
from annotation.models import Annotation, Assignment, Flag, Project, Role
from annotation.selectors.annotations import (
    annotation_labels,
    annotation_list_for_annotator,
    annotator_progress,
    assignment_for_annotator,
    assignment_of_annotation,
    item_for_labeling,
    item_parts_load,
)
from annotation.services.annotations import annotation_edit, annotation_submit
from annotation.services.assignments import (
    assignment_claim_next,
    assignment_mark_rendered,
    assignment_skip,
)
from annotation.services.flags import flag_create
from annotation.web.access import AuthedHttpRequest, project_for_role
from annotation.web.labeling import (
    assignment_sides,
    labels_from_post,
    page_templates,
    shows_content_note,
    sides,
    task_context,
)
from annotation.web.rendering import rich_text

# Who labels. Reviewers adjudicate instead, so their final label stays independent of
# their own first impression; researchers only read.
ANNOTATE_ROLES = frozenset({Role.ANNOTATOR, Role.MANAGER})
MAX_EXCLUDE = 20


def _labeler_project(request: AuthedHttpRequest, slug: str) -> Project:
    return project_for_role(request, slug, ANNOTATE_ROLES)[0]


def _own_assignment(request: AuthedHttpRequest, project: Project, assignment_id: int) -> Assignment:
    assignment = assignment_for_annotator(assignment_id=assignment_id, annotator=request.user)
    if assignment is None or assignment.project_id != project.id:
        raise Http404("No such assignment")
    return assignment


def _note_key(project: Project) -> str:
    return f"stepwise:content-note:{project.id}"


def _active_ms(post: QueryDict) -> int | None:
    try:
        return max(0, int(post.get("active_ms", "")))
    except ValueError:
        return None


# --- the task stream ---------------------------------------------------------------------


def _task(project: Project, assignment: Assignment) -> dict[str, Any]:
    # The claim read the item's row: only its parts are left to read.
    item = item_parts_load(item=assignment.item, kind=project.kind)
    left, right = sides(project, assignment, item)
    return {
        "uid": assignment.id,
        "assignment": assignment,
        "item": item,
        "client_token": uuid.uuid4().hex,
        "flag_reasons": Flag.Reason.choices,
        **task_context(project=project, item=item, left_index=left, right_index=right),
    }


def _exclude_ids(values: list[str]) -> list[int]:
    out = []
    for v in values[:MAX_EXCLUDE]:
        if v.isdigit():
            out.append(int(v))
    return out


@login_required
@require_GET
def annotate(request: AuthedHttpRequest, slug: str) -> HttpResponse:
    """The labeling page: the current item and, hidden, the next one.

    As an htmx request it is the background prefetch: it claims one more item (never one
    of `exclude`, the ids the page already holds) and answers only its hidden panel.
    """
    project = _labeler_project(request, slug)
    user = request.user
    if request.htmx:
        exclude = _exclude_ids(request.GET.getlist("exclude"))
        nxt = assignment_claim_next(project=project, annotator=user, exclude_ids=exclude)
        panel = {"project": project, "task": _task(project, nxt) if nxt else None}
        return render(request, "web/annotate.html#next-panel", panel)
    current = assignment_claim_next(project=project, annotator=user)
    nxt = None
    if current is not None:
        assignment_mark_rendered(assignment=current)
        nxt = assignment_claim_next(project=project, annotator=user, exclude_ids=[current.id])
    context: dict[str, Any] = {
        "project": project,
        "current": _task(project, current) if current else None,
        "task": _task(project, nxt) if nxt else None,
        "progress": annotator_progress(project=project, annotator=user),
        "content_note": shows_content_note(project) and not request.session.get(_note_key(project)),
        "instructions_html": rich_text(project.instructions),
        **page_templates(project),
    }
    return render(request, "web/annotate.html", context)


def _mark_next_shown(request: AuthedHttpRequest, project: Project) -> None:
    """The page shows its prefetched item the moment this request is sent: start its time."""
    raw = request.POST.get("next_assignment", "")
    if raw.isdigit():
        nxt = assignment_for_annotator(assignment_id=int(raw), annotator=request.user)
        if nxt is not None and nxt.project_id == project.id:
            assignment_mark_rendered(assignment=nxt)


def _after_write(request: AuthedHttpRequest, project: Project, message: str) -> HttpResponse:
    _mark_next_shown(request, project)
    if not request.htmx:
        messages.success(request, message)
        return redirect("annotate", slug=project.slug)
    context = {
        "project": project,
        "progress": annotator_progress(project=project, annotator=request.user),
        "message": message,
    }
    return render(request, "web/annotate.html#saved", context)


def _error(request: AuthedHttpRequest, project: Project, exc: ApplicationError) -> HttpResponse:
    text = str(exc)
    if not request.htmx:
        messages.error(request, text)
        return redirect("annotate", slug=project.slug)
    return render(request, "web/annotate.html#form-error", {"error": text}, status=422)


@login_required
@require_POST
def annotate_submit(request: AuthedHttpRequest, slug: str, assignment_id: int) -> HttpResponse:
    project = _labeler_project(request, slug)
    assignment = _own_assignment(request, project, assignment_id)
    left, right = assignment_sides(project, assignment)
    labels = labels_from_post(
        project=project, post=request.POST, left_index=left, right_index=right
    )
    try:
        annotation_submit(
            assignment=assignment,
            labels=labels,
            client_token=request.POST.get("client_token", "")[:64],
            active_ms=_active_ms(request.POST),
        )
    except ApplicationError as exc:
        return _error(request, project, exc)
    return _after_write(request, project, "Saved.")


@login_required
@require_POST
def annotate_skip(request: AuthedHttpRequest, slug: str, assignment_id: int) -> HttpResponse:
    project = _labeler_project(request, slug)
    assignment = _own_assignment(request, project, assignment_id)
    try:
        assignment_skip(assignment=assignment, reason=request.POST.get("skip_reason", "").strip())
    except ApplicationError as exc:
        return _error(request, project, exc)
    return _after_write(request, project, "Skipped.")


@login_required
@require_POST
def annotate_flag(request: AuthedHttpRequest, slug: str, assignment_id: int) -> HttpResponse:
    """Report the item to the project's managers; the annotator may still label or skip it."""
    project = _labeler_project(request, slug)
    assignment = _own_assignment(request, project, assignment_id)
    try:
        flag = flag_create(
            item=assignment.item,
            user=request.user,
            reason=request.POST.get("flag_reason", ""),
            note=request.POST.get("flag_note", ""),
        )
    except ApplicationError as exc:
        if request.htmx:
            return render(request, "web/annotate.html#form-error", {"error": str(exc)}, status=422)
        messages.error(request, str(exc))
        return redirect("annotate", slug=project.slug)
    if not request.htmx:
        messages.success(request, "Thanks: the item was flagged for the project's managers.")
        return redirect("annotate", slug=project.slug)
    return render(request, "web/annotate.html#flagged", {"flag": flag})


@login_required
@require_POST
def annotate_content_note(request: AuthedHttpRequest, slug: str) -> HttpResponse:
    """The annotator read the content note: do not show it again this session."""
    project = _labeler_project(request, slug)
    request.session[_note_key(project)] = True
    if request.htmx:
        return HttpResponse(status=204)
    return redirect("annotate", slug=project.slug)


# --- my annotations ----------------------------------------------------------------------


@login_required
@require_GET
def annotate_mine(request: AuthedHttpRequest, slug: str) -> HttpResponse:
    project = _labeler_project(request, slug)
    annotations = list(annotation_list_for_annotator(annotator=request.user, project=project)[:500])
    return render(
        request,
        "web/annotate_mine.html",
        {
            "project": project,
            "annotations": annotations,
            "progress": annotator_progress(project=project, annotator=request.user),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def annotate_edit(request: AuthedHttpRequest, slug: str, annotation_id: int) -> HttpResponse:
    """Change one of my annotations: a new revision; the earlier ones are kept."""
    project = _labeler_project(request, slug)
    annotation: Annotation | None = (
        annotation_list_for_annotator(annotator=request.user, project=project)
        .filter(id=annotation_id)
        .first()
    )
    if annotation is None:
        raise Http404("No such annotation")
    item = item_for_labeling(item_id=annotation.item_id, kind=project.kind)
    assignment = assignment_of_annotation(annotation=annotation)
    left, right = sides(project, assignment, item)
    error = ""
    labels = annotation_labels(annotation)
    if request.method == "POST":
        posted = labels_from_post(
            project=project, post=request.POST, left_index=left, right_index=right
        )
        try:
            annotation_edit(
                annotation=annotation,
                labels=posted,
                client_token=request.POST.get("client_token", "")[:64],
            )
        except ApplicationError as exc:
            error = str(exc)
        else:
            messages.success(request, f"Saved your changes to {item.external_id}.")
            return redirect("annotate_mine", slug=project.slug)
    task = {
        "uid": f"e{annotation.id}",
        "assignment": assignment,
        "item": item,
        "client_token": uuid.uuid4().hex,
        **task_context(
            project=project,
            item=item,
            labels=labels,
            left_index=left,
            right_index=right,
            with_suggestions=False,
        ),
    }
    return render(
        request,
        "web/annotate_edit.html",
        {
            "project": project,
            "annotation": annotation,
            "task": task,
            "error": error,
            "action": reverse("annotate_edit", args=[project.slug, annotation.id]),
            **page_templates(project),
        },
        status=422 if error else 200,
    )
