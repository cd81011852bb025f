"""The item browser: a keyset-paginated, filterable table of a project's items, one page per
item with everything recorded about it, and managers' bulk actions.

Managers, reviewers and researchers only; annotators and non-members get 404 (annotators
receive items through assignments, and the page's existence tells them nothing).
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, QueryDict
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from annotation.errors import ApplicationError
from annotation.kinds import label_kind_for
from annotation.models import Annotation, Project, Role
from annotation.selectors.annotations import annotation_labels, item_review
from annotation.selectors.items import (
    AGREEMENT_SCAN_MAX,
    ItemQuery,
    ItemStatus,
    dataset_choices,
    item_browse,
    item_browse_detail,
    item_browse_status,
    item_cursor_parse,
    item_suggestions_by_job,
)
from annotation.selectors.projects import MANAGE, READ_ITEMS, membership_list
from annotation.services.item_bulk import (
    BULK_MAX_ITEMS,
    MORE_LABELS_MAX,
    BulkAction,
    item_bulk_action,
)
from annotation.web.access import AuthedHttpRequest, project_and_role
from annotation.web.item_forms import ItemFilterForm
from annotation.web.rendering import rich_text

SOURCE_GROUPS = (
    (Annotation.Source.HUMAN, "Annotators"),
    (Annotation.Source.IMPORTED, "Imported labels"),
    (Annotation.Source.ADJUDICATION, "Adjudicated label"),
    (Annotation.Source.GOLD, "Gold answer"),
    (Annotation.Source.CONSENSUS, "Model consensus"),
)


def _project(request: AuthedHttpRequest, slug: str, roles: frozenset[str]) -> tuple[Project, str]:
    project, role = project_and_role(request, slug)
    if role not in roles:
        raise Http404("No such page")
    return project, role


def _filter_form(project: Project, data: QueryDict) -> ItemFilterForm:
    datasets = dataset_choices(project=project)
    annotators = [(m.user_id, m.user.get_username()) for m in membership_list(project=project)]
    return ItemFilterForm(data, datasets=datasets, annotators=annotators)


def _page_context(
    request: AuthedHttpRequest, project: Project, role: str, data: QueryDict
) -> dict[str, Any]:
    form = _filter_form(project, data)
    query: ItemQuery = form.query()
    after = item_cursor_parse(cursor=data.get("cursor", ""), order=query.order)
    page = item_browse(project=project, query=query, after=after)
    params = data.copy()
    params.pop("cursor", None)
    params.pop("csrfmiddlewaretoken", None)
    for key in ("items", "action", "value"):
        params.pop(key, None)
    base = params.urlencode()
    next_params = params.copy()
    if page.next_cursor:
        next_params["cursor"] = page.next_cursor
    return {
        "project": project,
        "role": role,
        "form": form,
        "page": page,
        "query": query,
        "filters_qs": base,
        "next_qs": next_params.urlencode() if page.next_cursor else "",
        "deep": after is not None,
        "can_manage": role in MANAGE,
        "bulk_actions": BulkAction.choices,
        "bulk_max": BULK_MAX_ITEMS,
        "more_max": MORE_LABELS_MAX,
        "scan_max": AGREEMENT_SCAN_MAX,
    }


@login_required
@require_GET
def item_list(request: AuthedHttpRequest, slug: str) -> HttpResponse:
    project, role = _project(request, slug, READ_ITEMS)
    context = _page_context(request, project, role, request.GET)
    template = "web/items.html#item-rows" if request.htmx else "web/items.html"
    return render(request, template, context)


def _ids(raw: list[str]) -> list[int]:
    ids = []
    for value in raw[: BULK_MAX_ITEMS + 1]:
        if value.isdigit() and len(value) < 19:
            ids.append(int(value))
    return ids


@login_required
@require_POST
def item_bulk(request: AuthedHttpRequest, slug: str) -> HttpResponse:
    """Apply a bulk action to the checked items, then answer the table again (same filters,
    first page) with a line saying what changed."""
    project, role = _project(request, slug, MANAGE)
    raw_value = request.POST.get("value", "").strip()
    value = int(raw_value) if raw_value.lstrip("-").isdigit() and len(raw_value) < 12 else None
    notice, error = "", ""
    try:
        result = item_bulk_action(
            project=project,
            user=request.user,
            action=request.POST.get("action", ""),
            item_ids=_ids(request.POST.getlist("items")),
            value=value,
        )
    except ApplicationError as exc:
        error = exc.message
    else:
        notice = f"{BulkAction(result.action).label}: {result.changed} item{'s' if result.changed != 1 else ''} changed."
        for reason, n in result.skipped.items():
            notice += f" {n} left as they were ({reason})."
    data = request.GET.copy()
    context = {**_page_context(request, project, role, data), "notice": notice, "error": error}
    template = "web/items.html#item-rows" if request.htmx else "web/items.html"
    return render(request, template, context, status=400 if error else 200)


def _annotation_rows(project: Project, item: Any, review: dict[str, Any]) -> dict[str, Any]:
    """Each annotation as cells of the kind's comparison layout, with its revisions."""
    kind = label_kind_for(project)
    layout = kind.review_layout(item=item, schema=project.label_schema)
    groups = []
    for source, title in SOURCE_GROUPS:
        rows = []
        for ann in review["annotations"].get(source, []):
            found = kind.review_cells(labels=annotation_labels(ann), layout=layout, item=item)
            revisions = [
                {"revision": r.revision, "created_at": r.created_at,
                 "labels": json.dumps(r.labels, indent=1, ensure_ascii=False, sort_keys=True)}
                for r in sorted(ann.revisions.all(), key=lambda r: -r.revision)
            ]  # fmt: skip
            rows.append({"annotation": ann, "cells": found.cells, "extra": found.extra,
                         "revisions": revisions})  # fmt: skip
        if rows:
            groups.append({"title": title, "source": source, "rows": rows})
    return {"columns": layout.columns, "extra_cols": layout.extra, "groups": groups,
            "colspan": len(layout.columns) + len(layout.extra) + 2}  # fmt: skip


@login_required
@require_GET
def item_detail(request: AuthedHttpRequest, slug: str, item_id: int) -> HttpResponse:
    project, role = _project(request, slug, READ_ITEMS)
    item = item_browse_detail(project=project, item_id=item_id)
    if item is None:
        raise Http404("No such item")
    review = item_review(item=item)
    jobs = [
        (job_id, [{"s": s, "raw": json.dumps(s.raw, indent=1, ensure_ascii=False, sort_keys=True)}
                  for s in found])
        for job_id, found in item_suggestions_by_job(item=item)
    ]  # fmt: skip
    context = {
        "project": project,
        "role": role,
        "item": item,
        "status": (status := item_browse_status(item=item)),
        "status_label": ItemStatus(status).label,
        "prompt_html": rich_text(item.prompt),
        "steps": [(s.index, rich_text(s.text)) for s in item.steps.all()],
        "turns": [(t.index, t.speaker, rich_text(t.text)) for t in item.turns.all()],
        "candidates": [(c.index, c.source_model, rich_text(c.text)) for c in item.candidates.all()],
        "final_answer_html": rich_text(item.final_answer) if item.final_answer else "",
        "metadata": json.dumps(item.metadata, indent=1, ensure_ascii=False, sort_keys=True)
        if item.metadata
        else "",
        "flags": review["flags"],
        "jobs": jobs,
        "needed": project.overlap + item.extra_labels,
        "can_review": role in (Role.MANAGER, Role.REVIEWER),
        **_annotation_rows(project, item, review),
    }
    return render(request, "web/item_detail.html", context)
