"""The exporters' reader as it was written with the ORM: the reference that the SQL
reader (`annotation.exporters.source`) is checked against, row for row and byte for byte.

Kept in the tests only: no production path reads through it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence

from annotation.exporters.source import AnnotationData, ItemData
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


def iter_items(
    *,
    project: Project,
    sources: Sequence[str],
    chunk_size: int = 2000,
    with_mc: bool = False,
    unassisted: bool = False,
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
            Annotation.objects.filter(
                source__in=sources, **in_chunk, **({"prefilled": False} if unassisted else {})
            )
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
                ann = anns.get(ann_id)
                if ann is not None:
                    ann.ratings[step_index[sid]] = (rating, cant)
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
            for ann_id, principle, cand, value in (
                PrincipleRating.objects.filter(**label_filter)
                .order_by("id")
                .values_list("annotation_id", "principle", "candidate_id", "value")
            ):
                if ann_id not in anns:
                    continue
                anns[ann_id].principles.append(
                    (principle, cand_index.get(cand) if cand is not None else None, value)
                )
        if with_mc and kind == ProjectKind.STEP_LABELS:
            mc: dict[int, list[float]] = defaultdict(list)
            step_pos = {
                sid: (it.id, i) for it in items.values() for i, sid in enumerate(it.step_ids)
            }
            for sid, score in (
                Suggestion.objects.filter(
                    method=SuggestionMethod.MC, step__isnull=False, score__isnull=False, **in_chunk
                )
                .order_by("id")
                .values_list("step_id", "score")
            ):
                if sid in step_pos:
                    mc[sid].append(score)
            for sid, scores in mc.items():
                item_id, i = step_pos[sid]
                items[item_id].mc_values[i] = sum(scores) / len(scores)
        yield list(items.values())
