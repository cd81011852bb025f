"""Reads about gold items and the project's quality settings.

The settings live in the project's `label_schema` JSON until they get their own columns:
`gold_rate` (share of an annotator's stream that is gold, 0..1, default 0.05),
`gold_min_accuracy` (an annotator under it is flagged on the dashboard, default 0.7),
`gold_min_items` (gold items an annotator must have done before being flagged, default 5),
`allow_consensus_labels` (consensus auto-labels may count as labels, default false).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from annotation.kinds import label_kind_for
from annotation.models import Annotation, Item, Project

DEFAULT_GOLD_RATE = 0.05
DEFAULT_GOLD_MIN_ACCURACY = 0.7
DEFAULT_GOLD_MIN_ITEMS = 5


@dataclass(frozen=True, slots=True)
class QualitySettings:
    gold_rate: float
    gold_min_accuracy: float
    gold_min_items: int
    allow_consensus_labels: bool


def _num(schema: dict[str, Any], key: str, default: float, lo: float, hi: float) -> float:
    value = schema.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        return default
    return float(value)


def project_quality_settings(*, project: Project) -> QualitySettings:
    schema = project.label_schema or {}
    return QualitySettings(
        gold_rate=_num(schema, "gold_rate", DEFAULT_GOLD_RATE, 0.0, 1.0),
        gold_min_accuracy=_num(schema, "gold_min_accuracy", DEFAULT_GOLD_MIN_ACCURACY, 0.0, 1.0),
        gold_min_items=int(_num(schema, "gold_min_items", DEFAULT_GOLD_MIN_ITEMS, 0, 10_000)),
        allow_consensus_labels=schema.get("allow_consensus_labels") is True,
    )


def gold_rate_for_project(*, project: Project) -> float:
    """Share (0..1) of an annotator's stream to fill with gold items; 0 when the project has
    no gold items. The task-stream builder draws a gold item with this probability per claim
    (never one the annotator already has), and gold items look like any other item."""
    if not Item.objects.filter(project=project, is_gold=True).exists():
        return 0.0
    return project_quality_settings(project=project).gold_rate


def item_gold_annotation(*, item_id: int) -> Annotation | None:
    """The item's gold answer (its one `source=gold` annotation), or None."""
    return (
        Annotation.objects.select_related("item__project")
        .filter(item_id=item_id, source=Annotation.Source.GOLD)
        .order_by("-id")
        .first()
    )


def annotation_matches_gold(*, annotation: Annotation) -> bool | None:
    """Whether `annotation` says what its item's gold answer says, on what two annotators
    must share to agree (the label kind's `review_signature`: the first-error index, the
    ratings, the turn codes, the preference direction). None when the item has no gold
    answer."""
    gold = item_gold_annotation(item_id=annotation.item_id)
    if gold is None:
        return None
    project = annotation.item.project
    kind = label_kind_for(project)
    schema = project.label_schema or {}
    return bool(
        kind.review_signature(schema=schema, annotation=annotation)
        == kind.review_signature(schema=schema, annotation=gold)
    )
