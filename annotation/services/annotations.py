"""Submitting, editing and adjudicating labels.

A label payload is a plain dict (the same from the browser form and from REST), validated
against the project's label schema into a normalised form, which is what the label rows are
written from and what each AnnotationRevision archives:

- step_labels:     {"steps": [{"index", "rating", "cant_judge", "comment"}], "first_error_index",
                    "finish_reason"}
- dialogue_coding: {"turns": [{"index", "field", "value"}]}
- preference:      {"candidate_a", "candidate_b", "strength", "principles":
                    [{"principle", "candidate", "value"}], "justification"}
  strength is relative to the candidates (-3: a much better .. +3: b much better), never to
  the screen side; `candidate` fields are candidate indexes within the item.

Every submission and every edit is a new AnnotationRevision; label rows show the latest.
A submit carrying a client token that was already used on that annotation changes nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from annotation.models import (
    Annotation,
    AnnotationRevision,
    Assignment,
    Candidate,
    FinishReason,
    Item,
    PreferenceLabel,
    PrincipleRating,
    Project,
    ProjectKind,
    Step,
    StepLabel,
    Turn,
    TurnLabel,
    User,
)
from annotation.services.assignments import active_time_ms

# --- validation ------------------------------------------------------------------------


def _int(value: Any, field: str) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{field}: must be an integer")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{field}: must be an integer, got {value!r}") from None


def _item_parts(item_id: int, kind: str) -> dict[int, tuple[int, str]]:
    """index -> (row id, speaker) of the item's steps, turns or candidates (one query)."""
    if kind == ProjectKind.STEP_LABELS:
        rows = Step.objects.filter(item_id=item_id).values_list("index", "id")
    elif kind == ProjectKind.DIALOGUE_CODING:
        return {
            i: (pk, speaker)
            for i, pk, speaker in Turn.objects.filter(item_id=item_id).values_list(
                "index", "id", "speaker"
            )
        }
    else:
        rows = Candidate.objects.filter(item_id=item_id).values_list("index", "id")
    return {i: (pk, "") for i, pk in rows}


def labels_validate(
    *,
    project: Project,
    item: Item,
    data: dict[str, Any],
    parts: dict[int, tuple[int, str]] | None = None,
) -> dict[str, Any]:
    """Check a payload against the project's schema and the item; returns the normal form.

    Raises ValueError('field: reason').
    """
    if not isinstance(data, dict):
        raise ValueError("labels: must be an object")
    if parts is None:
        parts = _item_parts(item.id, project.kind)
    if project.kind == ProjectKind.STEP_LABELS:
        return _validate_steps(project, len(parts), data)
    if project.kind == ProjectKind.DIALOGUE_CODING:
        return _validate_turns(project, {i: sp for i, (_, sp) in parts.items()}, data)
    return _validate_preference(project, len(parts), data)


def _validate_steps(project: Project, n: int, data: dict[str, Any]) -> dict[str, Any]:
    mode = project.label_schema.get("mode", "rate_every_step")
    finish = data.get("finish_reason") or ""
    if finish and finish not in FinishReason.values:
        raise ValueError(f"finish_reason: must be one of {', '.join(FinishReason.values)}")
    fe_raw = data.get("first_error_index")
    first_error = None if fe_raw in (None, "") else _int(fe_raw, "first_error_index")
    if first_error is not None and not -1 <= first_error < n:
        raise ValueError(f"first_error_index: must be -1 (no error) or a step index below {n}")
    given: dict[int, dict[str, Any]] = {}
    for i, raw in enumerate(data.get("steps") or []):
        if not isinstance(raw, dict):
            raise ValueError(f"steps[{i}]: must be an object")
        idx = _int(raw.get("index"), f"steps[{i}].index")
        if not 0 <= idx < n:
            raise ValueError(f"steps[{i}].index: must be below {n}")
        rating = raw.get("rating")
        rating = None if rating in (None, "") else _int(rating, f"steps[{i}].rating")
        if rating is not None and rating not in (-1, 0, 1):
            raise ValueError(f"steps[{i}].rating: must be -1, 0 or 1")
        given[idx] = {
            "index": idx,
            "rating": rating,
            "cant_judge": bool(raw.get("cant_judge")),
            "comment": str(raw.get("comment") or "")[:5000],
        }
    stopped = finish in (FinishReason.BAD_PROBLEM, FinishReason.GIVE_UP)
    if mode == "first_error":
        if first_error is None and not stopped:
            raise ValueError("first_error_index: mark the first wrong step, or -1 for no error")
        steps = []
        for idx in range(n):
            extra = given.get(idx, {})
            if first_error is None:
                rating = None
            elif first_error == -1 or idx < first_error:
                rating = 1
            elif idx == first_error:
                rating = -1
            else:
                rating = None  # after the first error: unlabeled, not wrong
            steps.append(
                {"index": idx, "rating": rating, "cant_judge": extra.get("cant_judge", False),
                 "comment": extra.get("comment", "")}
            )  # fmt: skip
        if not finish:
            finish = FinishReason.SOLUTION if first_error == -1 else FinishReason.FOUND_ERROR
    else:
        steps = [
            given.get(idx, {"index": idx, "rating": None, "cant_judge": False, "comment": ""})
            for idx in range(n)
        ]
        missing = [s["index"] for s in steps if s["rating"] is None and not s["cant_judge"]]
        if missing and not stopped:
            raise ValueError(
                f"steps: rate every step or mark it can't judge (missing: "
                f"{', '.join(str(m + 1) for m in missing[:10])})"
            )
        if first_error is None:
            wrong = [s["index"] for s in steps if s["rating"] == -1]
            first_error = wrong[0] if wrong else (-1 if not missing else None)
        if not finish:
            finish = (
                FinishReason.FOUND_ERROR if first_error not in (None, -1) else FinishReason.SOLUTION
            )
    return {"steps": steps, "first_error_index": first_error, "finish_reason": finish}


def _validate_turns(
    project: Project, speakers: dict[int, str], data: dict[str, Any]
) -> dict[str, Any]:
    fields = {f["name"]: f for f in project.label_schema.get("fields", [])}
    out: dict[tuple[int, str], dict[str, Any]] = {}
    for i, raw in enumerate(data.get("turns") or []):
        if not isinstance(raw, dict):
            raise ValueError(f"turns[{i}]: must be an object")
        idx = _int(raw.get("index"), f"turns[{i}].index")
        if idx not in speakers:
            raise ValueError(f"turns[{i}].index: no turn {idx} in this dialogue")
        name = str(raw.get("field") or "")
        spec = fields.get(name)
        if spec is None:
            raise ValueError(f"turns[{i}].field: unknown field {name!r}")
        if spec["role"] != speakers[idx]:
            raise ValueError(
                f"turns[{i}].field: {name} codes {spec['role']} turns; turn {idx} is {speakers[idx]}"
            )
        value = str(raw.get("value") or "")
        if value not in spec["choices"]:
            raise ValueError(f"turns[{i}].value: must be one of {', '.join(spec['choices'])}")
        out[(idx, name)] = {"index": idx, "field": name, "value": value}
    if not out:
        raise ValueError("turns: code at least one turn")
    return {"turns": sorted(out.values(), key=lambda t: (t["index"], t["field"]))}


def _validate_preference(project: Project, n: int, data: dict[str, Any]) -> dict[str, Any]:
    schema = project.label_schema
    a = _int(data.get("candidate_a", 0), "candidate_a")
    b = _int(data.get("candidate_b", 1), "candidate_b")
    if not (0 <= a < n and 0 <= b < n) or a == b:
        raise ValueError(f"candidate_a: a and b must be two different candidates below {n}")
    strength = _int(data.get("strength"), "strength")
    if not -3 <= strength <= 3:
        raise ValueError("strength: must be between -3 and +3")
    principles = []
    names = set(schema.get("principles", []))
    per_response = schema.get("principle_mode", "per_response") == "per_response"
    lo, hi = schema.get("principle_scale", [1, 5]) if per_response else (-3, 3)
    for i, raw in enumerate(data.get("principles") or []):
        if not isinstance(raw, dict):
            raise ValueError(f"principles[{i}]: must be an object")
        name = str(raw.get("principle") or "")
        if name not in names:
            raise ValueError(f"principles[{i}].principle: unknown principle {name!r}")
        value = _int(raw.get("value"), f"principles[{i}].value")
        if not lo <= value <= hi:
            raise ValueError(f"principles[{i}].value: must be between {lo} and {hi}")
        cand = raw.get("candidate")
        if per_response:
            cand = _int(cand, f"principles[{i}].candidate")
            if cand not in (a, b):
                raise ValueError(f"principles[{i}].candidate: must be candidate {a} or {b}")
        else:
            cand = None
        principles.append({"principle": name, "candidate": cand, "value": value})
    justification = str(data.get("justification") or "").strip()
    if schema.get("justification_required"):
        need = int(schema.get("justification_min_length") or 1)
        if len(justification) < need:
            raise ValueError(f"justification: required, at least {need} characters")
    return {
        "candidate_a": a,
        "candidate_b": b,
        "strength": strength,
        "principles": principles,
        "justification": justification,
    }


# --- writing ---------------------------------------------------------------------------


def _set_annotation_fields(annotation: Annotation, labels: dict[str, Any], kind: str) -> None:
    if kind == ProjectKind.STEP_LABELS:
        annotation.first_error_index = labels["first_error_index"]
        annotation.finish_reason = labels["finish_reason"]
    elif kind == ProjectKind.PREFERENCE:
        annotation.justification = labels["justification"]


def _write_label_rows(
    annotation: Annotation,
    labels: dict[str, Any],
    kind: str,
    *,
    parts: dict[int, tuple[int, str]],
    replace: bool,
    left_candidate_id: int | None = None,
) -> None:
    """Write the annotation's label rows from validated `labels`; with `replace`, first
    delete the rows of its previous state (an edit)."""
    ids = {i: pk for i, (pk, _) in parts.items()}
    if kind == ProjectKind.STEP_LABELS:
        if replace:
            StepLabel.objects.filter(annotation=annotation).delete()
        StepLabel.objects.bulk_create(
            StepLabel(
                annotation=annotation,
                step_id=ids[s["index"]],
                rating=s["rating"],
                cant_judge=s["cant_judge"],
                comment=s["comment"],
            )
            for s in labels["steps"]
        )
    elif kind == ProjectKind.DIALOGUE_CODING:
        if replace:
            TurnLabel.objects.filter(annotation=annotation).delete()
        TurnLabel.objects.bulk_create(
            TurnLabel(
                annotation=annotation, turn_id=ids[t["index"]], field=t["field"], value=t["value"]
            )
            for t in labels["turns"]
        )
    else:
        if replace:
            left_candidate_id = (
                PreferenceLabel.objects.filter(annotation=annotation)
                .values_list("left_candidate_id", flat=True)
                .first()
            )
            PreferenceLabel.objects.filter(annotation=annotation).delete()
            PrincipleRating.objects.filter(annotation=annotation).delete()
        PreferenceLabel.objects.create(
            annotation=annotation,
            candidate_a_id=ids[labels["candidate_a"]],
            candidate_b_id=ids[labels["candidate_b"]],
            strength=labels["strength"],
            left_candidate_id=left_candidate_id,
        )
        PrincipleRating.objects.bulk_create(
            PrincipleRating(
                annotation=annotation,
                principle=p["principle"],
                candidate_id=ids[p["candidate"]] if p["candidate"] is not None else None,
                value=p["value"],
            )
            for p in labels["principles"]
        )


def _revision_add(annotation: Annotation, labels: dict[str, Any], client_token: str) -> None:
    AnnotationRevision.objects.create(
        annotation=annotation,
        revision=annotation.revision,
        labels=labels,
        client_token=client_token,
    )


def annotation_submit(
    *,
    assignment: Assignment,
    labels: dict[str, Any],
    client_token: str = "",
    active_ms: int | None = None,
    now: datetime | None = None,
) -> Annotation:
    """Submit the annotator's labels for a claimed item.

    Idempotent: a repeated submit with the same `client_token` returns the saved annotation
    unchanged; a different token on an already submitted assignment is an edit (a new
    revision). Raises ValueError('field: reason') for invalid labels, a skipped assignment,
    or an item that already has its k annotations. Atomic (in `annotation_submit_created`).
    """
    return annotation_submit_created(
        assignment=assignment, labels=labels, client_token=client_token, active_ms=active_ms,
        now=now,
    )[0]  # fmt: skip


@transaction.atomic
def annotation_submit_created(
    *,
    assignment: Assignment,
    labels: dict[str, Any],
    client_token: str = "",
    active_ms: int | None = None,
    now: datetime | None = None,
) -> tuple[Annotation, bool]:
    """`annotation_submit`, also saying whether this call created the annotation: decided
    under the assignment's row lock, so of concurrent submits of one assignment exactly one
    says True (it wrote revision 1). The REST submit answers 201 for True, else 200."""
    now = now or timezone.now()
    assignment = (
        # NO KEY UPDATE of this row only: a plain FOR UPDATE over the join would also lock the
        # project row and block every claimer's foreign-key check on it (a deadlock).
        Assignment.objects.select_for_update(no_key=True, of=("self",))
        .select_related("project")
        .get(id=assignment.id)
    )
    project = assignment.project
    if assignment.annotation_id is not None:
        annotation = Annotation.objects.get(id=assignment.annotation_id)
        edited = annotation_edit(annotation=annotation, labels=labels, client_token=client_token)
        return edited, False
    if assignment.status == Assignment.Status.SKIPPED:
        raise ValueError("assignment: this item was skipped; claim another")
    item = Item.objects.select_for_update(no_key=True).get(id=assignment.item_id)
    if item.done_count >= project.overlap and not item.is_gold:
        raise ValueError("item: it already has the annotations it needs; your lease had expired")
    parts = _item_parts(item.id, project.kind)
    clean = labels_validate(project=project, item=item, data=labels, parts=parts)
    annotation = Annotation(
        item=item,
        annotator_id=assignment.annotator_id,
        source=Annotation.Source.HUMAN,
        time_spent_ms=active_time_ms(assignment=assignment, client_active_ms=active_ms, now=now),
    )
    _set_annotation_fields(annotation, clean, project.kind)
    annotation.save()
    assignment.annotation = annotation
    assignment.status = Assignment.Status.SUBMITTED
    assignment.submitted_at = now
    assignment.active_ms = annotation.time_spent_ms or 0
    assignment.save(update_fields=["annotation", "status", "submitted_at", "active_ms"])
    _write_label_rows(
        annotation, clean, project.kind, parts=parts, replace=False,
        left_candidate_id=assignment.left_candidate_id,
    )  # fmt: skip
    _revision_add(annotation, clean, client_token)
    item.done_count += 1
    # Gold items stay open: every annotator may meet them.
    item.is_complete = item.done_count >= project.overlap and not item.is_gold
    item.save(update_fields=["done_count", "is_complete"])
    return annotation, True


@transaction.atomic
def annotation_edit(
    *, annotation: Annotation, labels: dict[str, Any], client_token: str = ""
) -> Annotation:
    """Change a submitted annotation; the previous state stays in its revisions."""
    annotation = (
        Annotation.objects.select_for_update().select_related("item__project").get(id=annotation.id)
    )
    if client_token and annotation.revisions.filter(client_token=client_token).exists():
        return annotation
    project = annotation.item.project
    parts = _item_parts(annotation.item_id, project.kind)
    clean = labels_validate(project=project, item=annotation.item, data=labels, parts=parts)
    _write_label_rows(annotation, clean, project.kind, parts=parts, replace=True)
    _set_annotation_fields(annotation, clean, project.kind)
    annotation.revision += 1
    annotation.save()
    try:
        with transaction.atomic():
            _revision_add(annotation, clean, client_token)
    except IntegrityError:
        # The same token raced in from a concurrent retry: the other request saved it.
        raise ValueError("client_token: this submission was already saved") from None
    return annotation


@transaction.atomic
def adjudication_submit(
    *, item: Item, reviewer: User, labels: dict[str, Any], note: str = "", client_token: str = ""
) -> Annotation:
    """Record the reviewer's final label for an item (source=adjudication); annotators' own
    labels stay as they were. A second adjudication by the same reviewer is a new revision."""
    project = item.project
    parts = _item_parts(item.id, project.kind)
    clean = labels_validate(project=project, item=item, data=labels, parts=parts)
    annotation, created = Annotation.objects.get_or_create(
        item=item,
        annotator=reviewer,
        source=Annotation.Source.ADJUDICATION,
        defaults={"note": note},
    )
    if not created:
        if client_token and annotation.revisions.filter(client_token=client_token).exists():
            return annotation
        annotation.revision += 1
    annotation.note = note
    _write_label_rows(annotation, clean, project.kind, parts=parts, replace=not created)
    _set_annotation_fields(annotation, clean, project.kind)
    annotation.save()
    _revision_add(annotation, clean, client_token)
    return annotation


def annotation_labels(annotation: Annotation) -> dict[str, Any]:
    """The current labels of an annotation in the normal form (its latest revision, or built
    from its rows for imported annotations, which have no revisions)."""
    # Uses prefetched revisions when the caller prefetched them (the review page does).
    revisions = list(annotation.revisions.all())
    latest = max(revisions, key=lambda r: r.revision) if revisions else None
    if latest is not None:
        return latest.labels
    kind = annotation.item.project.kind
    if kind == ProjectKind.STEP_LABELS:
        steps = [
            {
                "index": sl.step.index,
                "rating": sl.rating,
                "cant_judge": sl.cant_judge,
                "comment": sl.comment,
            }
            for sl in annotation.step_labels.select_related("step").order_by("step__index")
        ]
        return {"steps": steps, "first_error_index": annotation.first_error_index,
                "finish_reason": annotation.finish_reason}  # fmt: skip
    if kind == ProjectKind.DIALOGUE_CODING:
        return {
            "turns": [
                {"index": tl.turn.index, "field": tl.field, "value": tl.value}
                for tl in annotation.turn_labels.select_related("turn").order_by(
                    "turn__index", "field"
                )
            ]
        }
    prefs = list(annotation.preference_labels.select_related("candidate_a", "candidate_b"))
    out: dict[str, Any] = {"pairs": [
        {"candidate_a": p.candidate_a.index, "candidate_b": p.candidate_b.index,
         "strength": p.strength, "margin": p.margin}
        for p in prefs
    ]}  # fmt: skip
    if len(prefs) == 1:
        out.update(candidate_a=prefs[0].candidate_a.index, candidate_b=prefs[0].candidate_b.index,
                   strength=prefs[0].strength)  # fmt: skip
    out["principles"] = [
        {
            "principle": r.principle,
            "candidate": r.candidate.index if r.candidate else None,
            "value": r.value,
        }
        for r in annotation.principle_ratings.select_related("candidate")
    ]
    out["justification"] = annotation.justification
    return out
