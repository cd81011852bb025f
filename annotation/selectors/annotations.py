"""Reads for the annotator's day and for review."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.db import connection
from django.db.models import (
    Count,
    Exists,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
)
from django.utils import timezone

from annotation.kinds import LABEL_KINDS, label_kind_for
from annotation.kinds.base import Labels
from annotation.models import (
    Annotation,
    Assignment,
    Candidate,
    Flag,
    Item,
    Project,
    Step,
    Suggestion,
    Turn,
    User,
)
from annotation.selectors.rows import model_columns, model_from_row


@dataclass
class Progress:
    done: int
    assigned: int
    remaining: int
    skipped: int


def annotator_progress_many(*, projects: list[Project], annotator: User) -> dict[int, Progress]:
    """annotator_progress for several projects in two queries (the home page)."""
    now = timezone.now()
    ids = [p.id for p in projects]
    rows = (
        Assignment.objects.filter(project_id__in=ids, annotator=annotator)
        .values("project_id")
        .annotate(
            done=Count("id", filter=Q(status=Assignment.Status.SUBMITTED)),
            skipped=Count("id", filter=Q(status=Assignment.Status.SKIPPED)),
            assigned=Count("id", filter=Q(status=Assignment.Status.ACTIVE, expires_at__gt=now)),
        )
    )
    counts = {r["project_id"]: r for r in rows}
    mine = Assignment.objects.filter(project_id__in=ids, annotator=annotator).values("item_id")
    remaining = dict(
        Item.objects.filter(project_id__in=ids, is_complete=False)
        .exclude(id__in=mine)
        .values("project_id")
        .annotate(n=Count("id"))
        .values_list("project_id", "n")
    )
    out = {}
    for pid in ids:
        c = counts.get(pid, {"done": 0, "skipped": 0, "assigned": 0})
        out[pid] = Progress(
            done=c["done"], assigned=c["assigned"],
            remaining=remaining.get(pid, 0) + c["assigned"], skipped=c["skipped"],
        )  # fmt: skip
    return out


def flag_get(*, project: Project, flag_id: int) -> Flag | None:
    return Flag.objects.filter(id=flag_id, item__project=project).select_related("item").first()


def _incomplete_key(project_id: int) -> str:
    return f"stepwise:incomplete:{project_id}"


def project_incomplete_count_forget(*, project_id: int) -> None:
    """Drop the cached count: an item was just completed. Without this the counter of the
    annotator who completed it would stand still for the cache's lifetime (their item left
    `touched_open` while the cached total still held it)."""
    cache.delete(_incomplete_key(project_id))


def project_incomplete_count(*, project_id: int) -> int:
    """Items of a project that still need annotators, cached for a few seconds: on a
    100,000-item project the count costs tens of milliseconds, and every labeling page
    shows it. (Tests run with a dummy cache, so they see exact counts.)"""
    key = _incomplete_key(project_id)
    cached = cache.get(key)
    if cached is not None:
        return int(cached)
    n = Item.objects.filter(project_id=project_id, is_complete=False).count()
    cache.set(key, n, 10)
    return n


def annotator_progress(*, project: Project, annotator: User) -> Progress:
    """My submitted, currently held, and still-available items in a project (2 queries
    plus a cached count)."""
    now = timezone.now()
    counts = Assignment.objects.filter(project=project, annotator=annotator).aggregate(
        done=Count("id", filter=Q(status=Assignment.Status.SUBMITTED)),
        skipped=Count("id", filter=Q(status=Assignment.Status.SKIPPED)),
        assigned=Count("id", filter=Q(status=Assignment.Status.ACTIVE, expires_at__gt=now)),
        touched_open=Count("id", filter=Q(item__is_complete=False)),
    )
    untouched = max(0, project_incomplete_count(project_id=project.id) - counts["touched_open"])
    return Progress(
        done=counts["done"], assigned=counts["assigned"], remaining=untouched + counts["assigned"],
        skipped=counts["skipped"],
    )  # fmt: skip


_PART_QUERYSETS: dict[str, QuerySet[Step] | QuerySet[Turn] | QuerySet[Candidate]] = {
    "steps": Step.objects.order_by("index"),
    "turns": Turn.objects.order_by("index"),
    "candidates": Candidate.objects.order_by("index"),
}


def item_for_labeling(*, item_id: int, kind: str | None = None) -> Item:
    """An item with everything the labeling page shows, in a fixed number of queries: the
    parts of its project's `kind` only, or all parts when kind is None."""
    label_kind = LABEL_KINDS.get(kind) if kind is not None else None
    parts = label_kind.shown_parts if label_kind else ("steps", "turns", "candidates")
    prefetches = [Prefetch(p, queryset=_PART_QUERYSETS[p].all()) for p in parts]
    return (
        Item.objects.select_related("project", "dataset")
        .prefetch_related(*prefetches)
        .get(id=item_id)
    )


def item_parts_load(*, item: Item, kind: str) -> Item:
    """`item_for_labeling` for an item already read (the claim returns its row): its kind's
    shown parts, one plain query per part relation, cached on the item as prefetch_related
    leaves them; none for a relation the claim found empty (`empty_parts`)."""
    cache = getattr(item, "_prefetched_objects_cache", None)
    if cache is None:
        cache = item._prefetched_objects_cache = {}  # type: ignore[attr-defined]
    empty: set[str] = getattr(item, "empty_parts", set())
    for name in LABEL_KINDS[kind].shown_parts:
        model: Any = Item._meta.get_field(name).related_model
        if name in empty:
            related = getattr(item, name).all()
            related._result_cache, related._prefetch_done = [], True
            cache[name] = related
            continue
        with connection.cursor() as cur:
            cur.execute(
                f"SELECT {model_columns(model, 't')} FROM {model._meta.db_table} t "  # noqa: S608
                'WHERE t.item_id = %s ORDER BY t."index"',
                [item.id],
            )
            rows = [model_from_row(model, r) for r in cur.fetchall()]
        related = getattr(item, name).all()
        related._result_cache = rows
        related._prefetch_done = True
        cache[name] = related
    return item


def suggestions_for_item(*, item: Item) -> dict[str, list[Suggestion]]:
    """Model hints for an item keyed by target ("step:3", "turn:5", "item"), newest first.
    Callers show them only when project.show_suggestions is on. An item the claim read
    knows whether it has any (`has_suggestions`): none is then read without a query."""
    if getattr(item, "has_suggestions", True) is False:
        return {}
    out: dict[str, list[Suggestion]] = defaultdict(list)
    for s in Suggestion.objects.filter(item=item).order_by("-created_at", "-id"):
        out[s.target].append(s)
    return dict(out)


def assignment_for_annotator(*, assignment_id: int, annotator: User) -> Assignment | None:
    return (
        Assignment.objects.select_related("item", "project", "annotation")
        .filter(id=assignment_id, annotator=annotator)
        .first()
    )


def assignment_for_submit(
    *, assignment_id: int, annotator: User, project: Project
) -> Assignment | None:
    """The caller's assignment in `project` with its item (what a submit needs), else None.
    Plain SQL: every submit starts here."""
    a, i = Assignment._meta.db_table, Item._meta.db_table
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT {model_columns(Assignment, 'a')}, {model_columns(Item, 'i')} "  # noqa: S608
            f"FROM {a} a JOIN {i} i ON i.id = a.item_id "
            "WHERE a.id = %s AND a.annotator_id = %s AND a.project_id = %s",
            [assignment_id, annotator.id, project.id],
        )
        row = cur.fetchone()
    if row is None:
        return None
    n = len(Assignment._meta.concrete_fields)
    assignment = model_from_row(Assignment, row[:n])
    assignment.item = model_from_row(Item, row[n:])
    assignment.project = project
    return assignment


def assignment_of_annotation(*, annotation: Annotation) -> Assignment | None:
    """The assignment an annotation was submitted for (None for one made otherwise)."""
    return Assignment.objects.filter(annotation=annotation).first()


def annotation_list_for_annotator(*, annotator: User, project: Project) -> QuerySet[Annotation]:
    return (
        Annotation.objects.filter(
            annotator=annotator, item__project=project, source=Annotation.Source.HUMAN
        )
        .select_related("item")
        .order_by("-updated_at")
    )


def review_items(
    *,
    project: Project,
    only: str = "disagreement",
    annotator_id: int | None = None,
    limit: int = 200,
) -> list[dict[str, Any]]:
    """Items for the review list: `only` is "disagreement" (human annotations that differ),
    "flagged" (open flags) or "all"; optionally items labeled by one annotator."""
    qs = Item.objects.filter(project=project)
    human = Annotation.objects.filter(item=OuterRef("pk"), source=Annotation.Source.HUMAN)
    if annotator_id is not None:
        qs = qs.filter(annotations__annotator_id=annotator_id, annotations__source="human")
    if only == "flagged":
        qs = qs.filter(Exists(Flag.objects.filter(item=OuterRef("pk"), resolved_at__isnull=True)))
    elif only == "disagreement":
        qs = qs.annotate(
            n_human=Count("annotations", filter=Q(annotations__source="human"))
        ).filter(n_human__gte=2)
    else:
        qs = qs.filter(Exists(human))
    qs = qs.order_by("-priority", "id").prefetch_related(
        Prefetch(
            "annotations",
            queryset=Annotation.objects.select_related("annotator").prefetch_related(
                "step_labels", "turn_labels", "preference_labels"
            ),
        ),
        Prefetch("flags", queryset=Flag.objects.filter(resolved_at__isnull=True)),
    )
    kind = label_kind_for(project)
    rows = []
    for item in qs[: limit * 5 if only == "disagreement" else limit]:
        humans = [a for a in item.annotations.all() if a.source == Annotation.Source.HUMAN]
        sigs = {kind.review_signature(schema=project.label_schema, annotation=a) for a in humans}
        disagree = len(humans) >= 2 and len(sigs) > 1
        if only == "disagreement" and not disagree:
            continue
        adjudicated = any(
            a.source == Annotation.Source.ADJUDICATION for a in item.annotations.all()
        )
        rows.append(
            {"item": item, "n_human": len(humans), "disagreement": disagree,
             "flags": list(item.flags.all()), "adjudicated": adjudicated}
        )  # fmt: skip
        if len(rows) >= limit:
            break
    return rows


def review_next_disagreement(*, project: Project, after: Item, scan: int = 500) -> Item | None:
    """The reviewer's next item after saving `after`: the first item that is a disagreement
    and has no adjudication yet, in the review list's order (priority, then id) after
    `after`, wrapping round to the start; None when no other is left. Looks at up to `scan`
    candidates on each side (items with two or more human annotations)."""
    human = Annotation.Source.HUMAN
    base = (
        Item.objects.filter(project=project)
        .exclude(id=after.id)
        .annotate(n_human=Count("annotations", filter=Q(annotations__source=human)))
        .filter(n_human__gte=2)
        .exclude(
            Exists(
                Annotation.objects.filter(
                    item=OuterRef("pk"), source=Annotation.Source.ADJUDICATION
                )
            )
        )
        .order_by("-priority", "id")
        .prefetch_related(
            Prefetch(
                "annotations",
                queryset=Annotation.objects.filter(source=human).prefetch_related(
                    "step_labels", "turn_labels", "preference_labels"
                ),
            )
        )
    )
    later = base.filter(
        Q(priority__lt=after.priority) | Q(priority=after.priority, id__gt=after.id)
    )
    kind = label_kind_for(project)
    for qs in (later, base):
        for item in qs[:scan]:
            sigs = {
                kind.review_signature(schema=project.label_schema, annotation=a)
                for a in item.annotations.all()
            }
            if len(sigs) > 1:
                return item
    return None


def item_review(*, item: Item) -> dict[str, Any]:
    """Every annotation of an item grouped by source, with who/when/time spent."""
    anns = (
        Annotation.objects.filter(item=item)
        .select_related("annotator")
        .prefetch_related(
            "step_labels__step",
            "turn_labels__turn",
            "preference_labels",
            "principle_ratings",
            "revisions",
        )  # fmt: skip
        .order_by("source", "created_at")
    )
    grouped: dict[str, list[Annotation]] = defaultdict(list)
    for a in anns:
        grouped[a.source].append(a)
    return {"annotations": dict(grouped), "suggestions": suggestions_for_item(item=item),
            "flags": list(item.flags.select_related("user").all())}  # fmt: skip


def annotation_labels(annotation: Annotation) -> Labels:
    """The current labels of an annotation in its kind's normal form: its latest revision,
    or rebuilt from its rows (imported and gold annotations have no revisions)."""
    # Uses prefetched revisions when the caller prefetched them (the review page does).
    revisions = list(annotation.revisions.all())
    if revisions:
        latest: Labels = max(revisions, key=lambda r: r.revision).labels
        return latest
    return label_kind_for(annotation.item.project).read(annotation)
