"""Review and adjudication: reviewers and managers compare annotators' labels and record a
final label. Annotators get 403 here; they never see each other's labels."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from annotation.errors import ApplicationError
from annotation.kinds import label_kind_for
from annotation.kinds.base import SUGGESTION_SHORT, Cell, ReviewCells
from annotation.models import Annotation, Item, Project, Role, Suggestion
from annotation.selectors.annotations import (
    annotation_labels,
    flag_get,
    item_for_labeling,
    item_review,
    review_items,
    review_next_disagreement,
)
from annotation.selectors.projects import membership_list
from annotation.selectors.review_prefill import review_prefill
from annotation.services.annotations import adjudication_submit
from annotation.services.flags import flag_resolve
from annotation.web.access import AuthedHttpRequest, project_for_role
from annotation.web.labeling import labels_from_post, page_templates, sides, task_context

REVIEW_ROLES = frozenset({Role.REVIEWER, Role.MANAGER})
FILTERS = (("disagreement", "Disagreements"), ("flagged", "Flagged"), ("all", "All labeled"))
GROUPS = (
    (Annotation.Source.HUMAN, "Annotators"),
    (Annotation.Source.IMPORTED, "Imported labels"),
    (Annotation.Source.GOLD, "Gold answer"),
    (Annotation.Source.CONSENSUS, "Model consensus"),
    (Annotation.Source.ADJUDICATION, "Adjudication"),
)


@login_required
@require_GET
def review_list(request: AuthedHttpRequest, slug: str) -> HttpResponse:
    project, _ = project_for_role(request, slug, REVIEW_ROLES)
    only = request.GET.get("only", "disagreement")
    if only not in dict(FILTERS):
        only = "disagreement"
    raw = request.GET.get("annotator", "")
    annotator_id = int(raw) if raw.isdigit() else None
    annotators = [m.user for m in membership_list(project=project) if m.role == Role.ANNOTATOR]
    rows = review_items(project=project, only=only, annotator_id=annotator_id)
    context = {
        "project": project,
        "rows": rows,
        "only": only,
        "filters": FILTERS,
        "annotators": annotators,
        "annotator_id": annotator_id,
    }
    template = "web/review_list.html#review-rows" if request.htmx else "web/review_list.html"
    return render(request, template, context)


# --- the comparison table ----------------------------------------------------------------


@dataclass
class Row:
    group: str
    who: str
    when: Any = None
    time_ms: int | None = None
    revision: int | None = None
    note: str = ""
    cells: list[Cell] = field(default_factory=list)
    extra: list[Cell] = field(default_factory=list)
    screen: str = ""
    # (name, cell) shown on a line under the row (ReviewLayout.extra_below).
    below: list[tuple[str, Cell]] = field(default_factory=list)


def _comparison(project: Project, item: Item, review: dict[str, Any]) -> dict[str, Any]:
    """Columns and rows for the side-by-side table, disagreements marked per column; the
    project's label kind lays out the columns and fills each row's cells."""
    kind = label_kind_for(project)
    layout = kind.review_layout(item=item, schema=project.label_schema)
    columns = layout.columns
    rows: list[Row] = []
    human: list[ReviewCells] = []
    for source, group in GROUPS:
        for ann in review["annotations"].get(source, []):
            found = kind.review_cells(
                labels=annotation_labels(ann), layout=layout, item=item, annotation=ann
            )
            row = Row(
                group=group,
                who=ann.annotator.get_username(),
                when=ann.updated_at,
                time_ms=ann.time_spent_ms,
                revision=ann.revision,
                note=ann.note,
                cells=found.cells,
                extra=found.extra,
                screen=found.screen,
            )
            if layout.extra_below:
                row.below = [(name, c) for name, c in zip(layout.extra, found.extra, strict=False)
                             if c.text or c.tag]  # fmt: skip
            if source == Annotation.Source.HUMAN:
                human.append(found)
            rows.append(row)
    # A column disagrees when the annotators' cells in it differ.
    for i, col in enumerate(columns):
        values = {h.cells[i].text for h in human if i < len(h.cells)}
        col.disagree = len(human) >= 2 and len(values) > 1
    for row in rows:
        for cell, col in zip(row.cells, columns, strict=False):
            cell.disagree = col.disagree
    first_error_disagree = len(human) >= 2 and len({h.extra_key for h in human}) > 1
    rows += _suggestion_rows(review["suggestions"], kind.review_targets(layout))
    return {
        "columns": columns,
        "extra_cols": [] if layout.extra_below else layout.extra,
        "rows": rows,
        "first_error_disagree": first_error_disagree,
        "colspan": len(columns) + (0 if layout.extra_below else len(layout.extra)) + 3,
        "disagreements": sum(1 for c in columns if c.disagree) + int(first_error_disagree),
        # What else the kind shows of the item (the steps kind: imported alternative steps).
        "review_extra_template": kind.templates.review,
        "review_head_template": kind.templates.review_head,
        "review_extra": kind.review_context(item=item),
    }


def _suggestion_rows(suggestions: dict[str, list[Suggestion]], targets: list[str]) -> list[Row]:
    """One row per model and method: the newest suggestion for each column's target."""
    by_model: dict[tuple[str, str], dict[str, Suggestion]] = {}
    for target, items in suggestions.items():
        for s in items:
            by_model.setdefault((s.model_name, s.method), {}).setdefault(target, s)
    rows = []
    for (model, method), found in sorted(by_model.items()):
        cells = []
        for t in targets:
            hit = found.get(t)
            if hit is None:
                cells.append(Cell(""))
            elif hit.label:
                cells.append(Cell(hit.label.replace("_", " "), "model", f"score {hit.score}"))
            else:
                cells.append(Cell(f"{hit.score:.2f}" if hit.score is not None else "", "model"))
        if any(c.text for c in cells) or "item" in found:
            rows.append(
                Row(
                    group="Model suggestions",
                    who=f"{model} · {SUGGESTION_SHORT.get(method, method)}",
                    cells=cells,
                )
            )
    return rows


def _item_or_404(project: Project, item_id: int) -> Item:
    try:
        item = item_for_labeling(item_id=item_id, kind=project.kind)
    except Item.DoesNotExist:
        raise Http404("No such item") from None
    if item.project_id != project.id:
        raise Http404("No such item")
    return item


@login_required
@require_http_methods(["GET", "POST"])
def review_item(request: AuthedHttpRequest, slug: str, item_id: int) -> HttpResponse:
    """Every label of one item side by side, and the reviewer's adjudication form."""
    project, _ = project_for_role(request, slug, REVIEW_ROLES)
    item = _item_or_404(project, item_id)
    review = item_review(item=item)
    mine = next(
        (
            a
            for a in review["annotations"].get(Annotation.Source.ADJUDICATION, [])
            if a.annotator_id == request.user.id
        ),
        None,
    )
    left, right = sides(project, None, item)
    error = ""
    if request.method == "POST":
        labels = labels_from_post(
            project=project, post=request.POST, left_index=left, right_index=right
        )
        try:
            adjudication_submit(
                item=item,
                reviewer=request.user,
                labels=labels,
                note=request.POST.get("note", "").strip(),
                client_token=request.POST.get("client_token", "")[:64],
            )
        except ApplicationError as exc:
            error = str(exc)
        else:
            saved = f"Final label for {item.external_id} saved."
            if request.POST.get("then") != "next":
                messages.success(request, saved)
                return redirect("review_item", slug=project.slug, item_id=item.id)
            nxt = review_next_disagreement(project=project, after=item)
            if nxt is None:
                messages.success(request, f"{saved} No disagreements are left to adjudicate.")
                return redirect("review_list", slug=project.slug)
            messages.success(request, f"{saved} Next disagreement: {nxt.external_id}.")
            return redirect("review_item", slug=project.slug, item_id=nxt.id)
    prefill = review_prefill(
        project=project, item=item, annotations=review["annotations"], reviewer=request.user
    )
    task = {
        "uid": f"r{item.id}",
        "assignment": None,
        "item": item,
        "client_token": uuid.uuid4().hex,
        **task_context(
            project=project,
            item=item,
            labels=prefill.labels,
            left_index=left,
            right_index=right,
            with_suggestions=False,
        ),
    }
    context = {
        "project": project,
        "item": item,
        "task": task,
        "error": error,
        "adjudication_note": mine.note if mine else request.POST.get("note", ""),
        "flags": review["flags"],
        "review_keys": True,
        "prefill": prefill,
        **_comparison(project, item, review),
        **page_templates(project),
    }
    return render(request, "web/review_item.html", context, status=422 if error else 200)


@login_required
@require_POST
def review_flag_resolve(request: AuthedHttpRequest, slug: str, flag_id: int) -> HttpResponse:
    project, _ = project_for_role(request, slug, REVIEW_ROLES)
    flag = flag_get(project=project, flag_id=flag_id)
    if flag is None:
        raise Http404("No such flag")
    flag_resolve(flag=flag, user=request.user)
    messages.success(request, "Flag resolved.")
    return redirect("review_item", slug=project.slug, item_id=flag.item_id)
