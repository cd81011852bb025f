"""Reads of model pre-labels: hints for the annotation UI and verdicts for consensus and
evaluation."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db.models import Count

from annotation.models import Annotation, Item, Project, Suggestion


def suggestion_hints_for_item(*, item: Item) -> list[Suggestion]:
    """The newest suggestion per (method, target) for one item, for the annotation UI; empty
    when the project hides suggestions. Ordered by method, then target."""
    if not item.project.show_suggestions:
        return []
    latest: dict[tuple[str, str], Suggestion] = {}
    for s in Suggestion.objects.filter(item=item).order_by("-job_id", "-id"):
        latest.setdefault((s.method, s.target), s)
    return sorted(latest.values(), key=lambda s: (s.method, s.target))


def suggestion_item_verdicts(
    *, item_ids: Iterable[int], job_id: int, methods: Sequence[str]
) -> dict[int, int | None]:
    """First-error verdicts (item-level suggestions) of one job: item id -> index, -1, or
    None for "no verdict". Items without an item-level suggestion are absent."""
    out: dict[int, int | None] = {}
    rows = Suggestion.objects.filter(
        job_id=job_id, item_id__in=list(item_ids), method__in=list(methods), target="item"
    ).values_list("item_id", "label")
    for item_id, label in rows:
        out[item_id] = int(label) if label.lstrip("-").isdigit() else None
    return out


def annotation_first_errors(*, project: Project, annotator_username: str) -> dict[int, int]:
    """First-error labels of one annotator (human, imported or consensus) in a project."""
    rows = Annotation.objects.filter(
        item__project=project,
        annotator__username=annotator_username,
        first_error_index__isnull=False,
    ).values_list("item_id", "first_error_index")
    return {item_id: fe for item_id, fe in rows if fe is not None}


def step_counts(*, item_ids: Iterable[int]) -> dict[int, int]:
    return dict(
        Item.objects.filter(id__in=list(item_ids)).annotate(n=Count("steps")).values_list("id", "n")
    )
