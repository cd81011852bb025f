"""Reads about gold items and the project's quality settings.

The settings are Project columns (migrated out of `label_schema` in 0007_project_settings):
`gold_rate` (share of an annotator's stream that is gold, 0..1, default 0.05),
`gold_min_accuracy` (an annotator under it is flagged on the dashboard, default 0.7),
`gold_min_items` (gold items an annotator must have done before being flagged, default 5),
`allow_consensus_labels` (consensus auto-labels may count as labels, default false).
"""

from __future__ import annotations

from dataclasses import dataclass

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


def project_quality_settings(*, project: Project) -> QualitySettings:
    return QualitySettings(
        gold_rate=float(project.gold_rate),
        gold_min_accuracy=float(project.gold_min_accuracy),
        gold_min_items=int(project.gold_min_items),
        allow_consensus_labels=bool(project.allow_consensus_labels),
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
