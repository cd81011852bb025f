"""Reads of datasets and items."""

from __future__ import annotations

from django.db.models import Count, Prefetch, QuerySet

from annotation.models import Candidate, Dataset, ImportRun, Item, Project, Step, Turn


def dataset_list(*, project: Project) -> QuerySet[Dataset]:
    return project.datasets.annotate(item_count=Count("items")).order_by("id")


def item_list(*, project: Project, dataset_id: int | None = None) -> QuerySet[Item]:
    """Items with their steps, turns and candidates prefetched (4 queries for any page)."""
    qs = Item.objects.filter(project=project)
    if dataset_id is not None:
        qs = qs.filter(dataset_id=dataset_id)
    return qs.prefetch_related(
        Prefetch("steps", queryset=Step.objects.order_by("index")),
        Prefetch("turns", queryset=Turn.objects.order_by("index")),
        Prefetch("candidates", queryset=Candidate.objects.order_by("index")),
    )


def import_run_list(*, project: Project) -> QuerySet[ImportRun]:
    return project.import_runs.select_related("created_by", "dataset").order_by("-id")


def dataset_preview(*, dataset_id: int, items: int = 3) -> list[Item]:
    """The first `items` items of a dataset with their steps (the import page's preview of
    how a split cut the text)."""
    steps = Prefetch("steps", queryset=Step.objects.order_by("index").only("item_id", "text"))
    return list(
        Item.objects.filter(dataset_id=dataset_id)
        .order_by("id")
        .only("id", "external_id", "final_answer")
        .prefetch_related(steps)[:items]
    )
