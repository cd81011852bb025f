"""Gold items: an item with a known answer, stored as its one `source=gold` annotation.

Gold answers feed each annotator's accuracy (dashboard statistics) and outrank every other
label in the exports' final labels. Payloads use the normalised label shape of the
annotation services:

- step_labels:     {"first_error_index": int | None, "steps": [{"index", "rating"}],
                    "finish_reason": str}
- dialogue_coding: {"turns": [{"index", "field", "value"}]}
- preference:      {"candidate_a", "candidate_b", "strength",
                    "principles": [{"principle", "candidate", "value"}], "justification"}
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from annotation.models import (
    Annotation,
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


def _int(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{field}: must be an integer")
    return value


def _write_rows(annotation: Annotation, item: Item, labels: dict[str, Any]) -> None:
    kind = item.project.kind
    if kind == ProjectKind.STEP_LABELS:
        steps = {s.index: s for s in Step.objects.filter(item=item)}
        fe = labels.get("first_error_index")
        if fe is not None:
            fe = _int(fe, "first_error_index")
            if not -1 <= fe < len(steps):
                raise ValueError(
                    f"first_error_index: must be -1 or a step index below {len(steps)}"
                )
        finish = labels.get("finish_reason") or ""
        if finish not in ("", *FinishReason.values):
            raise ValueError("finish_reason: unknown finish reason")
        rows = []
        for i, s in enumerate(labels.get("steps") or []):
            index = _int(s.get("index"), f"steps[{i}].index")
            rating = s.get("rating")
            if index not in steps:
                raise ValueError(f"steps[{i}].index: no step {index}")
            if rating is not None and rating not in (-1, 0, 1):
                raise ValueError(f"steps[{i}].rating: must be -1, 0, 1 or null")
            rows.append(StepLabel(annotation=annotation, step=steps[index], rating=rating))
        if fe is None and not rows:
            raise ValueError("labels: a gold answer needs a first_error_index or step ratings")
        annotation.first_error_index = fe
        annotation.finish_reason = finish
        annotation.save(update_fields=["first_error_index", "finish_reason"])
        StepLabel.objects.bulk_create(rows)
    elif kind == ProjectKind.DIALOGUE_CODING:
        turns = {t.index: t for t in Turn.objects.filter(item=item)}
        rows = []
        for i, t in enumerate(labels.get("turns") or []):
            index = _int(t.get("index"), f"turns[{i}].index")
            if index not in turns or not t.get("field") or not t.get("value"):
                raise ValueError(f"turns[{i}]: needs a turn index, a field and a value")
            rows.append(
                TurnLabel(
                    annotation=annotation, turn=turns[index], field=t["field"], value=t["value"]
                )
            )
        if not rows:
            raise ValueError("turns: a gold answer needs at least one turn code")
        TurnLabel.objects.bulk_create(rows)
    else:
        cands = {c.index: c for c in Candidate.objects.filter(item=item)}
        a = _int(labels.get("candidate_a", 0), "candidate_a")
        b = _int(labels.get("candidate_b", 1), "candidate_b")
        strength = _int(labels.get("strength"), "strength")
        if a not in cands or b not in cands or a == b:
            raise ValueError("candidate_a: two different candidate indexes of the item")
        if not -3 <= strength <= 3:
            raise ValueError("strength: must be between -3 and 3")
        PreferenceLabel.objects.create(
            annotation=annotation, candidate_a=cands[a], candidate_b=cands[b], strength=strength
        )
        for i, p in enumerate(labels.get("principles") or []):
            cand = p.get("candidate")
            PrincipleRating.objects.create(
                annotation=annotation,
                principle=str(p.get("principle", "")),
                candidate=cands.get(cand) if cand is not None else None,
                value=_int(p.get("value"), f"principles[{i}].value"),
            )
        annotation.justification = str(labels.get("justification") or "")
        annotation.save(update_fields=["justification"])


@transaction.atomic
def item_gold_set(*, item: Item, user: User, labels: dict[str, Any]) -> Annotation:
    """Make `item` gold with the known answer `labels` (replacing an earlier gold answer).

    Raises ValueError('field: reason') for a payload that does not fit the item.
    """
    if not isinstance(labels, dict):
        raise ValueError("labels: must be an object")
    Annotation.objects.filter(item=item, source=Annotation.Source.GOLD).delete()
    annotation = Annotation.objects.create(item=item, annotator=user, source=Annotation.Source.GOLD)
    _write_rows(annotation, item, labels)
    Item.objects.filter(id=item.id).update(is_gold=True)
    item.is_gold = True
    _gold_count_refresh(item.project_id)
    return annotation


def _labels_of(annotation: Annotation) -> dict[str, Any]:
    kind = annotation.item.project.kind
    if kind == ProjectKind.STEP_LABELS:
        return {
            "first_error_index": annotation.first_error_index,
            "finish_reason": annotation.finish_reason,
            "steps": [
                {"index": i, "rating": r}
                for i, r in annotation.step_labels.values_list("step__index", "rating")
            ],
        }
    if kind == ProjectKind.DIALOGUE_CODING:
        return {
            "turns": [
                {"index": i, "field": f, "value": v}
                for i, f, v in annotation.turn_labels.values_list("turn__index", "field", "value")
            ]
        }
    pref = annotation.preference_labels.select_related("candidate_a", "candidate_b").first()
    if pref is None:
        raise ValueError("annotation: has no preference label to promote")
    return {
        "candidate_a": pref.candidate_a.index,
        "candidate_b": pref.candidate_b.index,
        "strength": pref.strength,
        "justification": annotation.justification,
        "principles": [
            {
                "principle": p.principle,
                "candidate": p.candidate.index if p.candidate else None,
                "value": p.value,
            }
            for p in annotation.principle_ratings.select_related("candidate")
        ],  # fmt: skip
    }


@transaction.atomic
def item_gold_promote(*, annotation: Annotation, user: User) -> Annotation:
    """Make the item of `annotation` (typically an adjudication) gold with its labels."""
    labels = _labels_of(annotation)
    return item_gold_set(item=annotation.item, user=user, labels=labels)


@transaction.atomic
def item_gold_unset(*, item: Item) -> None:
    Annotation.objects.filter(item=item, source=Annotation.Source.GOLD).delete()
    Item.objects.filter(id=item.id).update(is_gold=False)
    item.is_gold = False
    _gold_count_refresh(item.project_id)


def _gold_count_refresh(project_id: int) -> None:
    Project.objects.filter(id=project_id).update(
        gold_count=Item.objects.filter(project_id=project_id, is_gold=True).count()
    )
