"""Review and adjudication: reviewers and managers compare annotators' labels and record a
final label. Annotators get 403 here; they never see each other's labels."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from annotation.models import Annotation, Item, Project, ProjectKind, Role, Suggestion
from annotation.selectors.annotations import flag_get, item_for_labeling, item_review, review_items
from annotation.selectors.projects import membership_list
from annotation.services.annotations import adjudication_submit, annotation_labels
from annotation.services.flags import flag_resolve
from annotation.web.annotate import (
    SUGGESTION_SHORT,
    labels_from_post,
    project_for_role,
    task_context,
)
from annotation.web.rendering import rich_text

REVIEW_ROLES = frozenset({Role.REVIEWER, Role.MANAGER})
FILTERS = (("disagreement", "Disagreements"), ("flagged", "Flagged"), ("all", "All labeled"))
RATING_TEXT = {-1: "−1", 0: "0", 1: "+1"}
RATING_CLASS = {-1: "r-wrong", 0: "r-neutral", 1: "r-right"}
GROUPS = (
    (Annotation.Source.HUMAN, "Annotators"),
    (Annotation.Source.IMPORTED, "Imported labels"),
    (Annotation.Source.GOLD, "Gold answer"),
    (Annotation.Source.CONSENSUS, "Model consensus"),
    (Annotation.Source.ADJUDICATION, "Adjudication"),
)


@login_required
@require_GET
def review_list(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_for_role(request, slug, REVIEW_ROLES)
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
class Cell:
    text: str = ""
    css: str = ""
    title: str = ""
    disagree: bool = False


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


@dataclass
class Column:
    key: Any
    label: str
    title: str = ""
    disagree: bool = False


def _step_cells(labels: dict[str, Any], n: int) -> tuple[list[Cell], list[Cell], tuple]:
    by_index = {s["index"]: s for s in labels.get("steps", [])}
    cells = []
    sig = []
    for i in range(n):
        s = by_index.get(i, {})
        r = s.get("rating")
        text = RATING_TEXT.get(r, "?" if s.get("cant_judge") else "")
        cells.append(Cell(text, RATING_CLASS.get(r, "r-none"), s.get("comment", "")))
        sig.append(r)
    fe = labels.get("first_error_index")
    fe_text = "—" if fe is None else ("none" if fe == -1 else f"step {fe + 1}")
    extra = [Cell(fe_text), Cell((labels.get("finish_reason") or "—").replace("_", " "))]
    return cells, extra, (tuple(sig), fe)


def _turn_cells(labels: dict[str, Any], keys: list[tuple[int, str]]) -> tuple[list[Cell], tuple]:
    given = {(t["index"], t["field"]): t["value"] for t in labels.get("turns", [])}
    cells = [
        Cell(given.get(k, "").replace("_", " "), "code" if k in given else "r-none") for k in keys
    ]
    return cells, tuple(given.get(k) for k in keys)


def _pref_cells(
    labels: dict[str, Any], principles: list[str], numbers: dict[int, int]
) -> tuple[list[Cell], list[Cell], Any]:
    a, b, strength = labels.get("candidate_a"), labels.get("candidate_b"), labels.get("strength")
    if strength is None or a is None or b is None:
        return [Cell("—")] + [Cell("") for _ in principles], [], None
    better, worse = (a, b) if strength < 0 else (b, a)
    if strength == 0:
        text, direction = f"#{numbers.get(a, a + 1)} = #{numbers.get(b, b + 1)}", 0
    else:
        text = f"#{numbers.get(better, better + 1)} {'≫' if abs(strength) == 3 else '>'} #{numbers.get(worse, worse + 1)}"
        direction = better
    cells = [Cell(f"{text} ({abs(strength)})", "pref")]
    by_name: dict[str, list[str]] = {}
    for p in labels.get("principles", []):
        cand = p.get("candidate")
        prefix = f"#{numbers.get(cand, cand + 1)}: " if cand is not None else ""
        by_name.setdefault(p["principle"], []).append(f"{prefix}{p['value']}")
    cells += [Cell(" · ".join(by_name.get(name, [])) or "") for name in principles]
    extra = [Cell(labels.get("justification", ""))]
    return cells, extra, direction


def _comparison(project: Project, item: Item, review: dict[str, Any]) -> dict[str, Any]:
    """Columns and rows for the side-by-side table, disagreements marked per column."""
    kind = project.kind
    columns: list[Column] = []
    extra_cols: list[str] = []
    principles: list[str] = []
    numbers = {c.index: c.index + 1 for c in item.candidates.all()}
    turn_keys: list[tuple[int, str]] = []
    if kind == ProjectKind.STEP_LABELS:
        n = len(item.steps.all())
        columns = [Column(i, str(i + 1), f"Step {i + 1}") for i in range(n)]
        extra_cols = ["First error", "Finish"]
    elif kind == ProjectKind.DIALOGUE_CODING:
        fields = project.label_schema.get("fields", [])
        for t in item.turns.all():
            for f in fields:
                if f["role"] == t.speaker:
                    turn_keys.append((t.index, f["name"]))
        columns = [Column(k, str(k[0] + 1), f"Turn {k[0] + 1}: {k[1]}") for k in turn_keys]
    else:
        principles = list(project.label_schema.get("principles", []))
        columns = [Column("pref", "Preference")] + [
            Column(p, p.replace("_", " ")) for p in principles
        ]
        extra_cols = ["Justification"]
    rows: list[Row] = []
    human_sigs: list[Any] = []
    for source, group in GROUPS:
        for ann in review["annotations"].get(source, []):
            labels = annotation_labels(ann)
            row = Row(
                group=group,
                who=ann.annotator.get_username(),
                when=ann.updated_at,
                time_ms=ann.time_spent_ms,
                revision=ann.revision,
                note=ann.note,
            )
            if kind == ProjectKind.STEP_LABELS:
                row.cells, row.extra, sig = _step_cells(labels, len(columns))
            elif kind == ProjectKind.DIALOGUE_CODING:
                row.cells, sig = _turn_cells(labels, turn_keys)
            else:
                row.cells, row.extra, sig = _pref_cells(labels, principles, numbers)
            if source == Annotation.Source.HUMAN:
                human_sigs.append((row.cells, sig))
            rows.append(row)
    # A column disagrees when the annotators' cells in it differ.
    for i, col in enumerate(columns):
        values = {cells[i].text for cells, _ in human_sigs if i < len(cells)}
        col.disagree = len(human_sigs) >= 2 and len(values) > 1
    for row in rows:
        for cell, col in zip(row.cells, columns, strict=False):
            cell.disagree = col.disagree
    first_error_disagree = (
        kind == ProjectKind.STEP_LABELS
        and len(human_sigs) >= 2
        and len({sig[1] for _, sig in human_sigs}) > 1
    )
    rows += _suggestion_rows(kind, review["suggestions"], columns, turn_keys)
    return {
        "columns": columns,
        "extra_cols": extra_cols,
        "rows": rows,
        "first_error_disagree": first_error_disagree,
        "colspan": len(columns) + len(extra_cols) + 3,
        "disagreements": sum(1 for c in columns if c.disagree) + int(first_error_disagree),
    }


def _suggestion_rows(
    kind: str,
    suggestions: dict[str, list[Suggestion]],
    columns: list[Column],
    turn_keys: list[tuple[int, str]],
) -> list[Row]:
    """One row per model and method: the newest suggestion for each column's target."""
    if kind == ProjectKind.PREFERENCE:
        targets = ["item"] + [""] * (len(columns) - 1)
    elif kind == ProjectKind.DIALOGUE_CODING:
        targets = [f"turn:{k[0]}" for k in turn_keys]
    else:
        targets = [f"step:{c.key}" for c in columns]
    by_model: dict[tuple[str, str], dict[str, Suggestion]] = {}
    for target, items in suggestions.items():
        for s in items:
            by_model.setdefault((s.model_name, s.method), {}).setdefault(target, s)
    rows = []
    for (model, method), found in sorted(by_model.items()):
        cells = []
        for t in targets:
            s = found.get(t)
            if s is None:
                cells.append(Cell(""))
            elif s.label:
                cells.append(Cell(s.label.replace("_", " "), "model", f"score {s.score}"))
            else:
                cells.append(Cell(f"{s.score:.2f}" if s.score is not None else "", "model"))
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
def review_item(request: HttpRequest, slug: str, item_id: int) -> HttpResponse:
    """Every label of one item side by side, and the reviewer's adjudication form."""
    project = project_for_role(request, slug, REVIEW_ROLES)
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
    cands = sorted(c.index for c in item.candidates.all())
    left, right = (cands + [None, None])[:2]
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
        except ValueError as exc:
            error = str(exc)
        else:
            messages.success(request, f"Final label for {item.external_id} saved.")
            return redirect("review_item", slug=project.slug, item_id=item.id)
    task = {
        "uid": f"r{item.id}",
        "assignment": None,
        "item": item,
        "client_token": uuid.uuid4().hex,
        **task_context(
            project=project,
            item=item,
            labels=annotation_labels(mine) if mine else None,
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
        "alternatives": _alternatives(item),
        **_comparison(project, item, review),
    }
    return render(request, "web/review_item.html", context, status=422 if error else 200)


def _alternatives(item: Item) -> list[dict[str, Any]]:
    """Imported alternative steps with their ratings (PRM800K), grouped by step position."""
    alts = (item.metadata or {}).get("alternatives")
    if not isinstance(alts, list):
        return []
    by_step: dict[int, list[dict[str, Any]]] = {}
    for alt in alts:
        if isinstance(alt, dict) and isinstance(alt.get("step"), int):
            by_step.setdefault(alt["step"], []).append(alt)
    return [
        {
            "step": step + 1,
            "options": [
                {
                    "html": rich_text(str(a.get("text", ""))),
                    "rating": RATING_TEXT.get(a.get("rating"), "unrated"),
                    "css": RATING_CLASS.get(a.get("rating"), ""),
                }
                for a in options
            ],
        }  # fmt: skip
        for step, options in sorted(by_step.items())
    ]


@login_required
@require_POST
def review_flag_resolve(request: HttpRequest, slug: str, flag_id: int) -> HttpResponse:
    project = project_for_role(request, slug, REVIEW_ROLES)
    flag = flag_get(project=project, flag_id=flag_id)
    if flag is None:
        raise Http404("No such flag")
    flag_resolve(flag=flag, user=request.user)
    messages.success(request, "Flag resolved.")
    return redirect("review_item", slug=project.slug, item_id=flag.item_id)
