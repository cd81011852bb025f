"""Streaming reads for the exporters: items of a project in id order, a chunk at a time,
each with its steps/turns/candidates and its annotations' labels.

Keyset pagination (`id > last`) with one query per child table per chunk keeps memory flat
whatever the project's size: a chunk is built, handed out, and dropped.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from annotation.models import (
    Annotation,
    Candidate,
    Item,
    PreferenceLabel,
    PrincipleRating,
    Project,
    ProjectKind,
    Step,
    StepLabel,
    Suggestion,
    SuggestionMethod,
    Turn,
    TurnLabel,
)

ITEM_FIELDS = (
    "id", "external_id", "group_key", "prompt", "reference_answer", "final_answer",
    "final_answer_correct", "generator_model", "metadata", "dataset_id", "is_gold",
)  # fmt: skip


@dataclass(slots=True)
class AnnotationData:
    id: int
    annotator_id: int
    source: str
    first_error_index: int | None
    finish_reason: str
    justification: str
    time_spent_ms: int | None
    created_at: Any
    # step index -> (rating or None, cant_judge)
    ratings: dict[int, tuple[int | None, bool]] = field(default_factory=dict)
    # (turn index, field, value)
    turn_labels: list[tuple[int, str, str]] = field(default_factory=list)
    # (candidate index a, candidate index b, strength, margin, left candidate index or None)
    preferences: list[tuple[int, int, int, float | None, int | None]] = field(default_factory=list)
    # (principle, candidate index or None, value)
    principles: list[tuple[str, int | None, int]] = field(default_factory=list)

    def first_error(self, n_steps: int) -> int | None:
        """The stored first-error index, else the first step rated −1 (−1 when all rated
        steps are fine), else None (no step labels at all)."""
        if self.first_error_index is not None:
            return self.first_error_index
        rated = [(i, r) for i, (r, _) in sorted(self.ratings.items()) if r is not None]
        if not rated:
            return None
        return next((i for i, r in rated if r == -1), -1)

    def step_ratings(self, n_steps: int) -> list[int | None]:
        """Per-step ratings; derived from the first-error index when no step was rated."""
        if any(r is not None for r, _ in self.ratings.values()):
            return [self.ratings.get(i, (None, False))[0] for i in range(n_steps)]
        fe = self.first_error_index
        if fe is None:
            return [None] * n_steps
        return [1 if fe == -1 or i < fe else (-1 if i == fe else None) for i in range(n_steps)]


@dataclass(slots=True)
class ItemData:
    id: int
    external_id: str
    group_key: str
    prompt: str
    reference_answer: str
    final_answer: str
    final_answer_correct: bool | None
    generator_model: str
    metadata: dict[str, Any]
    dataset_id: int
    is_gold: bool
    steps: list[str] = field(default_factory=list)
    step_ids: list[int] = field(default_factory=list)
    turns: list[tuple[str, str]] = field(default_factory=list)
    candidates: list[str] = field(default_factory=list)
    candidate_models: list[str] = field(default_factory=list)
    annotations: list[AnnotationData] = field(default_factory=list)
    # step index -> MC value (Suggestion method=mc), only when asked for.
    mc_values: dict[int, float] = field(default_factory=dict)


def item_count(*, project: Project) -> int:
    return Item.objects.filter(project=project).count()


def iter_items(
    *,
    project: Project,
    sources: Sequence[str],
    chunk_size: int = 2000,
    with_mc: bool = False,
) -> Iterator[list[ItemData]]:
    """Chunks of items (id order) with their parts and the annotations of `sources`."""
    kind = project.kind
    last = 0
    while True:
        rows = list(
            Item.objects.filter(project=project, id__gt=last)
            .order_by("id")
            .values_list(*ITEM_FIELDS)[:chunk_size]
        )
        if not rows:
            return
        last = rows[-1][0]
        items = {r[0]: ItemData(*r) for r in rows}
        lo, hi = rows[0][0], last
        # Children are read by item id range (the leading column of their unique indexes);
        # rows of another project's items inside the range are skipped below. Long IN
        # lists cost more to build and send than the few stray rows.
        in_chunk = {"item_id__gte": lo, "item_id__lte": hi}
        step_index: dict[int, int] = {}
        if kind == ProjectKind.STEP_LABELS:
            for item_id, index, text, sid in (
                Step.objects.filter(**in_chunk)
                .order_by("item_id", "index")
                .values_list("item_id", "index", "text", "id")
            ):
                it = items.get(item_id)
                if it is not None:
                    it.steps.append(text)
                    it.step_ids.append(sid)
                    step_index[sid] = index
        else:
            for item_id, _index, speaker, text in (
                Turn.objects.filter(**in_chunk)
                .order_by("item_id", "index")
                .values_list("item_id", "index", "speaker", "text")
            ):
                it = items.get(item_id)
                if it is not None:
                    it.turns.append((speaker, text))
        cand_index: dict[int, int] = {}
        if kind == ProjectKind.PREFERENCE:
            for item_id, index, text, model, cid in (
                Candidate.objects.filter(**in_chunk)
                .order_by("item_id", "index")
                .values_list("item_id", "index", "text", "source_model", "id")
            ):
                it = items.get(item_id)
                if it is not None:
                    it.candidates.append(text)
                    it.candidate_models.append(model)
                    cand_index[cid] = index
        anns: dict[int, AnnotationData] = {}
        for row in (
            Annotation.objects.filter(source__in=sources, **in_chunk)
            .order_by("item_id", "id")
            .values_list(
                "id", "item_id", "annotator_id", "source", "first_error_index",
                "finish_reason", "justification", "time_spent_ms", "created_at",
            )
        ):  # fmt: skip
            it = items.get(row[1])
            if it is not None:
                ann = AnnotationData(row[0], *row[2:])
                anns[row[0]] = ann
                it.annotations.append(ann)
        label_filter = {
            "annotation__item_id__gte": lo,
            "annotation__item_id__lte": hi,
            "annotation__source__in": sources,
        }
        if anns and kind == ProjectKind.STEP_LABELS:
            for ann_id, sid, rating, cant in StepLabel.objects.filter(**label_filter).values_list(
                "annotation_id", "step_id", "rating", "cant_judge"
            ):
                rated = anns.get(ann_id)
                if rated is not None:
                    rated.ratings[step_index[sid]] = (rating, cant)
        elif anns and kind == ProjectKind.DIALOGUE_CODING:
            for ann_id, index, fld, value in (
                TurnLabel.objects.filter(**label_filter)
                .order_by("annotation_id", "turn__index", "id")
                .values_list("annotation_id", "turn__index", "field", "value")
            ):
                if ann_id in anns:
                    anns[ann_id].turn_labels.append((index, fld, value))
        elif anns:
            for ann_id, a, b, strength, margin, left in (
                PreferenceLabel.objects.filter(**label_filter)
                .order_by("id")
                .values_list(
                    "annotation_id", "candidate_a_id", "candidate_b_id", "strength", "margin",
                    "left_candidate_id",
                )
            ):  # fmt: skip
                if ann_id not in anns:
                    continue
                anns[ann_id].preferences.append(
                    (cand_index[a], cand_index[b], strength, margin, cand_index.get(left))
                )
            for ann_id, principle, cand, rating_value in (
                PrincipleRating.objects.filter(**label_filter)
                .order_by("id")
                .values_list("annotation_id", "principle", "candidate_id", "value")
            ):
                if ann_id not in anns:
                    continue
                anns[ann_id].principles.append(
                    (principle, cand_index.get(cand) if cand is not None else None, rating_value)
                )
        if with_mc and kind == ProjectKind.STEP_LABELS:
            mc: dict[int, list[float]] = defaultdict(list)
            step_pos = {
                sid: (it.id, i) for it in items.values() for i, sid in enumerate(it.step_ids)
            }
            for sid, score in Suggestion.objects.filter(
                method=SuggestionMethod.MC, step__isnull=False, score__isnull=False, **in_chunk
            ).values_list("step_id", "score"):
                if sid in step_pos and score is not None:
                    mc[sid].append(score)
            for sid, scores in mc.items():
                item_id, i = step_pos[sid]
                items[item_id].mc_values[i] = sum(scores) / len(scores)
        yield list(items.values())
