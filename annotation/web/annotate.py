"""The annotator's labeling pages: the task stream, submit, skip, flag, and own annotations.

The labeling page holds the current item and, hidden, the next one, already claimed and
rendered. Submitting swaps the hidden one in at once and fetches a new hidden one in the
background (the same page as an htmx fragment, excluding the item just shown), so moving on
never waits for a claim or a render. Each rendered form carries a one-time client token, so
a double click or a retried submit changes nothing (annotation_submit is idempotent on it).

The presentation helpers (`task_context`, `labels_from_post`) are shared with review's
adjudication form.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from annotation.label_schema import label_schema_validate
from annotation.models import (
    Annotation,
    Assignment,
    FinishReason,
    Flag,
    Item,
    Project,
    ProjectKind,
    Role,
    Suggestion,
)
from annotation.selectors.annotations import (
    annotation_list_for_annotator,
    annotator_progress,
    assignment_for_annotator,
    item_for_labeling,
    suggestions_for_item,
)
from annotation.services.annotations import annotation_edit, annotation_labels, annotation_submit
from annotation.services.assignments import (
    assignment_claim_next,
    assignment_mark_rendered,
    assignment_skip,
)
from annotation.services.flags import flag_create
from annotation.web import access
from annotation.web.rendering import rich_text

# Who labels. Reviewers adjudicate instead, so their final label stays independent of
# their own first impression; researchers only read.
ANNOTATE_ROLES = frozenset({Role.ANNOTATOR, Role.MANAGER})
# Projects whose content may be distressing get a content note before the first item of a
# session.
CONTENT_NOTE_KINDS = frozenset({ProjectKind.DIALOGUE_CODING, ProjectKind.PREFERENCE})
MAX_EXCLUDE = 20

STRENGTH_LABELS = {
    -3: "Left much better",
    -2: "Left better",
    -1: "Left slightly better",
    0: "About the same",
    1: "Right slightly better",
    2: "Right better",
    3: "Right much better",
}
PRINCIPLE_LABELS = {
    "empathy": ("Empathy", "Understands and validates the client's feelings."),
    "relevance": ("Relevance", "Responds to what the client actually said."),
    "clarity": ("Clarity", "Clear, concise, easy to follow."),
    "safety": ("Safety", "Avoids harm; responds appropriately to risk."),
    "self_exploration": (
        "Self-exploration",
        "Encourages the client to explore their own thoughts and feelings.",
    ),
    "autonomy": ("Autonomy", "Respects the client's right to make their own choices."),
    "staging": ("Stage of change", "Fits the client's readiness for change."),
}
SUGGESTION_SHORT = {
    "judge": "judge",
    "verify": "P(correct)",
    "mc": "MC value",
    "first_error_search": "first-error search",
    "consensus": "consensus",
    "pair_judge": "pair judge",
    "turn_coder": "model code",
}


def _humanize(name: str) -> str:
    text = name.replace("_", " ").strip()
    return text[:1].upper() + text[1:]


# --- access ------------------------------------------------------------------------------


def project_for_role(request: HttpRequest, slug: str, roles: frozenset[str]) -> Project:
    """The project if the user may see it (else 404) and their role is in `roles` (else 403)."""
    return access.project_for_role(request, slug, roles)[0]


def _own_assignment(request: HttpRequest, project: Project, assignment_id: int) -> Assignment:
    assignment = assignment_for_annotator(assignment_id=assignment_id, annotator=request.user)
    if assignment is None or assignment.project_id != project.id:
        raise Http404("No such assignment")
    return assignment


def _note_key(project: Project) -> str:
    return f"stepwise:content-note:{project.id}"


# --- presentation ------------------------------------------------------------------------


@dataclass
class Choice:
    value: Any
    label: str
    key: str = ""
    checked: bool = False
    help: str = ""


@dataclass
class FieldRow:
    name: str
    label: str
    input_name: str
    choices: list[Choice]


@dataclass
class Part:
    """A step, turn or candidate as the template shows it."""

    index: int
    number: int
    html: Any
    speaker: str = ""
    hints: list[str] = field(default_factory=list)
    fields: list[FieldRow] = field(default_factory=list)
    rating: int | None = None
    cant_judge: bool = False
    comment: str = ""
    highlight: bool = False
    side: str = ""


# Item-level suggestions of the step methods carry a first-error index as their label.
ITEM_HINT_NAME = {"judge": "judge", "verify": "verifier", "mc": "MC", "consensus": "consensus",
                  "first_error_search": "search"}  # fmt: skip


def _hint(s: Suggestion) -> str:
    name = SUGGESTION_SHORT.get(s.method, s.method)
    if s.target == "item" and s.method in ITEM_HINT_NAME:
        if s.label.lstrip("-").isdigit():
            fe = int(s.label)
            verdict = "no error" if fe == -1 else f"first error at step {fe + 1}"
            return f"{ITEM_HINT_NAME[s.method]}: {verdict}"
        return f"{ITEM_HINT_NAME[s.method]}: no verdict"
    if s.target.startswith("step:") and s.score is not None:
        return f"{name}: {s.score:.2f}"
    if s.label and s.score is not None:
        return f"{name}: {s.label} ({s.score:.2f})"
    if s.label:
        return f"{name}: {s.label}"
    if s.score is not None:
        return f"{name}: {s.score:.2f}"
    return name


def _hints(suggestions: dict[str, list[Suggestion]], target: str) -> list[str]:
    """The newest suggestion per method for one target, as short texts."""
    seen: set[str] = set()
    out = []
    for s in suggestions.get(target, []):
        if s.method in seen:
            continue
        seen.add(s.method)
        out.append(_hint(s))
    return out


def task_context(
    *,
    project: Project,
    item: Item,
    labels: dict[str, Any] | None = None,
    left_index: int | None = None,
    right_index: int | None = None,
    with_suggestions: bool = True,
) -> dict[str, Any]:
    """Everything the labeling form of one item shows, for the item's project kind.

    `labels` (normal form) pre-fills the form: only ever the viewer's own labels (editing)
    or the reviewer's own adjudication, never a model's or another annotator's. Preference
    items show `left_index` on the left; by default the two lowest candidate indexes.
    """
    schema = label_schema_validate(project.kind, project.label_schema)
    labels = labels or {}
    suggestions: dict[str, list[Suggestion]] = {}
    if with_suggestions and project.show_suggestions:
        suggestions = suggestions_for_item(item=item)
    ctx: dict[str, Any] = {
        "kind": project.kind,
        "schema": schema,
        "prompt_html": rich_text(item.prompt),
        "item_hints": _hints(suggestions, "item") if project.kind != ProjectKind.PREFERENCE else [],
    }
    if project.kind == ProjectKind.STEP_LABELS:
        ctx.update(_steps_context(item, schema, labels, suggestions))
    elif project.kind == ProjectKind.DIALOGUE_CODING:
        ctx.update(_turns_context(item, schema, labels, suggestions))
    else:
        ctx.update(_preference_context(item, schema, labels, left_index, right_index))
    return ctx


def _steps_context(
    item: Item,
    schema: dict[str, Any],
    labels: dict[str, Any],
    suggestions: dict[str, list[Suggestion]],
) -> dict[str, Any]:
    given = {s["index"]: s for s in labels.get("steps", [])}
    steps = []
    for step in item.steps.all():
        mine = given.get(step.index, {})
        steps.append(
            Part(
                index=step.index,
                number=step.index + 1,
                html=rich_text(step.text),
                hints=_hints(suggestions, f"step:{step.index}"),
                rating=mine.get("rating"),
                cant_judge=bool(mine.get("cant_judge")),
                comment=mine.get("comment", ""),
            )
        )
    by_value = {r["value"]: r for r in schema["ratings"]}
    keys = {-1: "1", 0: "2", 1: "3"}
    signs = {-1: "−1", 0: "0", 1: "+1"}
    ratings = [
        Choice(
            value=v,
            label=f"{signs[v]} {by_value[v].get('name', '')}".strip(),
            key=keys[v],
            help=by_value[v].get("help", ""),
        )
        for v in (-1, 0, 1)
    ]
    finish = labels.get("finish_reason", "")
    return {
        "steps": steps,
        "mode": schema["mode"],
        "ratings": ratings,
        "first_error_index": labels.get("first_error_index"),
        "finish_reasons": [
            Choice(value=v, label=lab, checked=v == finish) for v, lab in FinishReason.choices
        ],
        "reference_answer": item.reference_answer,
        "final_answer": item.final_answer,
    }


def _turns_context(
    item: Item,
    schema: dict[str, Any],
    labels: dict[str, Any],
    suggestions: dict[str, list[Suggestion]],
) -> dict[str, Any]:
    given = {(t["index"], t["field"]): t["value"] for t in labels.get("turns", [])}
    by_role: dict[str, list[dict[str, Any]]] = {}
    for f in schema["fields"]:
        by_role.setdefault(f["role"], []).append(f)
    turns = []
    for turn in item.turns.all():
        fields = [
            FieldRow(
                name=f["name"],
                label=_humanize(f["name"]),
                input_name=f"code-{turn.index}-{f['name']}",
                choices=[
                    Choice(
                        value=c,
                        label=_humanize(c),
                        key=str(k) if n == 0 else "",
                        checked=given.get((turn.index, f["name"])) == c,
                    )
                    for k, c in enumerate(f["choices"], start=1)
                ],
            )
            for n, f in enumerate(by_role.get(turn.speaker, []))
        ]
        turns.append(
            Part(
                index=turn.index,
                number=turn.index + 1,
                html=rich_text(turn.text),
                speaker=turn.speaker,
                fields=fields,
                hints=_hints(suggestions, f"turn:{turn.index}"),
            )
        )
    return {
        "turns": turns,
        "codable": sum(1 for t in turns if t.fields),
        "legend": [
            {"role": _humanize(role), "fields": [
                {"label": _humanize(f["name"]),
                 "choices": [(k, _humanize(c)) for k, c in enumerate(f["choices"], start=1)]}
                for f in fields
            ]}
            for role, fields in by_role.items()
        ],
    }  # fmt: skip


def _preference_context(
    item: Item,
    schema: dict[str, Any],
    labels: dict[str, Any],
    left_index: int | None,
    right_index: int | None,
) -> dict[str, Any]:
    cands = {c.index: c for c in item.candidates.all()}
    ordered = sorted(cands)
    if left_index is None or right_index is None:
        left_index, right_index = (ordered + [None, None])[:2]
    # Turn the stored candidate-relative label back to screen sides (edits, adjudication).
    strength = labels.get("strength")
    if strength is not None and labels.get("candidate_a") == right_index:
        strength = -strength
    side_of = {left_index: "left", right_index: "right"}
    per_response = schema["principle_mode"] == "per_response"
    given: dict[tuple[str, str], int] = {}
    for p in labels.get("principles", []):
        side = side_of.get(p.get("candidate"), "pair") if per_response else "pair"
        value = p["value"]
        if not per_response and labels.get("candidate_a") == right_index:
            value = -value
        given[(p["principle"], side)] = value
    lo, hi = schema["principle_scale"] if per_response else (-3, 3)
    principles = []
    for name in schema["principles"]:
        label, help_text = PRINCIPLE_LABELS.get(name, (_humanize(name), ""))
        sides = ("left", "right") if per_response else ("pair",)
        principles.append(
            {
                "name": name,
                "label": label,
                "help": help_text,
                "groups": [
                    {
                        "side": side,
                        "input_name": f"pr-{name}-{side}",
                        "choices": [
                            Choice(value=v, label=str(v), checked=given.get((name, side)) == v)
                            for v in range(lo, hi + 1)
                        ],
                    }
                    for side in sides
                ],
            }
        )
    turns = list(item.turns.all())
    last_client = next((t.index for t in reversed(turns) if t.speaker == "client"), None)
    context_turns = [
        Part(
            index=t.index,
            number=t.index + 1,
            html=rich_text(t.text),
            speaker=t.speaker,
            highlight=t.index == last_client,
        )
        for t in turns
    ]

    def cand(index: int | None, side: str) -> Part | None:
        c = cands.get(index) if index is not None else None
        if c is None:
            return None
        return Part(index=c.index, number=c.index + 1, html=rich_text(c.text), side=side)

    return {
        "context_turns": context_turns,
        "left": cand(left_index, "left"),
        "right": cand(right_index, "right"),
        "strengths": [
            Choice(value=v, label=STRENGTH_LABELS[v], key=str(v + 4), checked=v == strength)
            for v in range(-3, 4)
        ],
        "principles": principles,
        "per_response": per_response,
        "principle_scale": (lo, hi),
        "justification": labels.get("justification", ""),
        "justification_required": bool(schema.get("justification_required")),
        "justification_min": int(schema.get("justification_min_length") or 0)
        if schema.get("justification_required")
        else 0,
    }


# --- parsing the form --------------------------------------------------------------------

_STEP_KEY = re.compile(r"^(rating|cant|comment)-(\d+)$")
_TURN_KEY = re.compile(r"^code-(\d+)-(.+)$")
_PRINCIPLE_KEY = re.compile(r"^pr-(.+)-(left|right|pair)$")


def labels_from_post(
    *,
    project: Project,
    post: QueryDict,
    left_index: int | None = None,
    right_index: int | None = None,
) -> dict[str, Any]:
    """The labeling form as the services' payload (see annotation.services.annotations).

    Preference: the screen's strength (-3 = left much better) becomes candidate-relative by
    naming the left candidate `candidate_a` and the right one `candidate_b`, so the sign
    carries over unchanged. Values are passed on as given; the service validates them.
    """
    if project.kind == ProjectKind.STEP_LABELS:
        steps: dict[int, dict[str, Any]] = {}
        for key in post:
            m = _STEP_KEY.match(key)
            if not m:
                continue
            what, idx = m.group(1), int(m.group(2))
            row = steps.setdefault(idx, {"index": idx})
            if what == "rating":
                row["rating"] = post.get(key) or None
            elif what == "cant":
                row["cant_judge"] = post.get(key) in ("1", "on", "true")
            else:
                row["comment"] = post.get(key, "")
        return {
            "steps": [steps[i] for i in sorted(steps)],
            "first_error_index": post.get("first_error_index", ""),
            "finish_reason": post.get("finish_reason", ""),
        }
    if project.kind == ProjectKind.DIALOGUE_CODING:
        turns = []
        for key in post:
            m = _TURN_KEY.match(key)
            if m and post.get(key):
                turns.append({"index": int(m.group(1)), "field": m.group(2), "value": post[key]})
        return {"turns": turns}
    principles = []
    side_index = {"left": left_index, "right": right_index, "pair": None}
    for key in post:
        m = _PRINCIPLE_KEY.match(key)
        if m and post.get(key) not in (None, ""):
            principles.append(
                {
                    "principle": m.group(1),
                    "candidate": side_index[m.group(2)],
                    "value": post[key],
                }
            )
    return {
        "candidate_a": left_index,
        "candidate_b": right_index,
        "strength": post.get("strength"),
        "principles": principles,
        "justification": post.get("justification", ""),
    }


def _active_ms(post: QueryDict) -> int | None:
    try:
        return max(0, int(post.get("active_ms", "")))
    except ValueError:
        return None


# --- the task stream ---------------------------------------------------------------------


def _sides(assignment: Assignment, item: Item) -> tuple[int | None, int | None]:
    """Candidate indexes of the assignment's left and right sides (from the prefetch)."""
    by_id = {c.id: c.index for c in item.candidates.all()}
    return by_id.get(assignment.left_candidate_id), by_id.get(assignment.right_candidate_id)


def _task(project: Project, assignment: Assignment) -> dict[str, Any]:
    item = item_for_labeling(item_id=assignment.item_id, kind=project.kind)
    left, right = (None, None)
    if project.kind == ProjectKind.PREFERENCE:
        left, right = _sides(assignment, item)
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
def annotate(request: HttpRequest, slug: str) -> HttpResponse:
    """The labeling page: the current item and, hidden, the next one.

    As an htmx request it is the background prefetch: it claims one more item (never one
    of `exclude`, the ids the page already holds) and answers only its hidden panel.
    """
    project = project_for_role(request, slug, ANNOTATE_ROLES)
    user = request.user
    if request.htmx:
        exclude = _exclude_ids(request.GET.getlist("exclude"))
        nxt = assignment_claim_next(project=project, annotator=user, exclude_ids=exclude)
        context = {"project": project, "task": _task(project, nxt) if nxt else None}
        return render(request, "web/annotate.html#next-panel", context)
    current = assignment_claim_next(project=project, annotator=user)
    nxt = None
    if current is not None:
        assignment_mark_rendered(assignment=current)
        nxt = assignment_claim_next(project=project, annotator=user, exclude_ids=[current.id])
    context = {
        "project": project,
        "current": _task(project, current) if current else None,
        "task": _task(project, nxt) if nxt else None,
        "progress": annotator_progress(project=project, annotator=user),
        "content_note": project.kind in CONTENT_NOTE_KINDS
        and not request.session.get(_note_key(project)),
        "instructions_html": rich_text(project.instructions),
    }
    return render(request, "web/annotate.html", context)


def _mark_next_shown(request: HttpRequest, project: Project) -> None:
    """The page shows its prefetched item the moment this request is sent: start its time."""
    raw = request.POST.get("next_assignment", "")
    if raw.isdigit():
        nxt = assignment_for_annotator(assignment_id=int(raw), annotator=request.user)
        if nxt is not None and nxt.project_id == project.id:
            assignment_mark_rendered(assignment=nxt)


def _after_write(request: HttpRequest, project: Project, message: str) -> HttpResponse:
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


def _error(request: HttpRequest, project: Project, exc: ValueError) -> HttpResponse:
    text = str(exc)
    if not request.htmx:
        messages.error(request, text)
        return redirect("annotate", slug=project.slug)
    return render(request, "web/annotate.html#form-error", {"error": text}, status=422)


@login_required
@require_POST
def annotate_submit(request: HttpRequest, slug: str, assignment_id: int) -> HttpResponse:
    project = project_for_role(request, slug, ANNOTATE_ROLES)
    assignment = _own_assignment(request, project, assignment_id)
    left = right = None
    if project.kind == ProjectKind.PREFERENCE:
        left, right = _sides(
            assignment, item_for_labeling(item_id=assignment.item_id, kind=project.kind)
        )
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
    except ValueError as exc:
        return _error(request, project, exc)
    return _after_write(request, project, "Saved.")


@login_required
@require_POST
def annotate_skip(request: HttpRequest, slug: str, assignment_id: int) -> HttpResponse:
    project = project_for_role(request, slug, ANNOTATE_ROLES)
    assignment = _own_assignment(request, project, assignment_id)
    try:
        assignment_skip(assignment=assignment, reason=request.POST.get("skip_reason", "").strip())
    except ValueError as exc:
        return _error(request, project, exc)
    return _after_write(request, project, "Skipped.")


@login_required
@require_POST
def annotate_flag(request: HttpRequest, slug: str, assignment_id: int) -> HttpResponse:
    """Report the item to the project's managers; the annotator may still label or skip it."""
    project = project_for_role(request, slug, ANNOTATE_ROLES)
    assignment = _own_assignment(request, project, assignment_id)
    try:
        flag = flag_create(
            item=assignment.item,
            user=request.user,
            reason=request.POST.get("flag_reason", ""),
            note=request.POST.get("flag_note", ""),
        )
    except ValueError as exc:
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
def annotate_content_note(request: HttpRequest, slug: str) -> HttpResponse:
    """The annotator read the content note: do not show it again this session."""
    project = project_for_role(request, slug, ANNOTATE_ROLES)
    request.session[_note_key(project)] = True
    if request.htmx:
        return HttpResponse(status=204)
    return redirect("annotate", slug=project.slug)


# --- my annotations ----------------------------------------------------------------------


@login_required
@require_GET
def annotate_mine(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_for_role(request, slug, ANNOTATE_ROLES)
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
def annotate_edit(request: HttpRequest, slug: str, annotation_id: int) -> HttpResponse:
    """Change one of my annotations: a new revision; the earlier ones are kept."""
    project = project_for_role(request, slug, ANNOTATE_ROLES)
    annotation: Annotation | None = (
        annotation_list_for_annotator(annotator=request.user, project=project)
        .filter(id=annotation_id)
        .first()
    )
    if annotation is None:
        raise Http404("No such annotation")
    item = item_for_labeling(item_id=annotation.item_id, kind=project.kind)
    assignment = Assignment.objects.filter(annotation=annotation).first()
    left = right = None
    if project.kind == ProjectKind.PREFERENCE and assignment is not None:
        left, right = _sides(assignment, item)
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
        except ValueError as exc:
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
        },
        status=422 if error else 200,
    )
