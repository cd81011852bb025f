"""Reads of datasets and items."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any, TypeVar

from django.db import models
from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet
from django.db.models.functions import Substr

from annotation.kinds import label_kind_for
from annotation.models import (
    Annotation,
    Candidate,
    Dataset,
    Flag,
    ImportRun,
    Item,
    Project,
    Step,
    Suggestion,
    Turn,
)
from annotation.selectors.item_search import item_search_plan, item_search_q


def dataset_choices(*, project: Project) -> list[tuple[int, str]]:
    """(id, name) of the project's datasets, without counting their items."""
    return list(project.datasets.order_by("id").values_list("id", "name"))


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


# --- the item browser ------------------------------------------------------------------------
#
# A keyset-paginated view of a project's items (never OFFSET: a deep page costs what the first
# does). Filters that SQL can answer are SQL; agreement, which only the label kind can judge,
# is checked in Python over a bounded scan of items with at least two human labels, and a
# page of it may come back short with a cursor to continue from.

PAGE_SIZE = 50
PAGE_SIZE_MAX = 500
# Items read per request when filtering by agreement (the kind compares labels in Python).
AGREEMENT_SCAN_MAX = 250
AGREEMENT_BATCH = 250
SEARCH_MAX = 200
_CURSOR = re.compile(r"(?:(-?\d{1,10})\.)?(\d{1,19})")


class ItemStatus(models.TextChoices):
    """Where an item stands; the first that applies: gold, adjudicated, complete, in progress
    (some human labels, fewer than needed), unlabeled (no human label yet)."""

    UNLABELED = "unlabeled", "Unlabeled"
    IN_PROGRESS = "in_progress", "In progress"
    COMPLETE = "complete", "Complete"
    ADJUDICATED = "adjudicated", "Adjudicated"
    GOLD = "gold", "Gold"


class ItemOrder(models.TextChoices):
    ID = "id", "Oldest first"
    PRIORITY = "-priority", "Highest priority first"


class AgreementFilter(models.TextChoices):
    AGREE = "agree", "Annotators agree"
    DISAGREE = "disagree", "Annotators disagree"
    SINGLE = "single", "Fewer than two labels"


class FlagFilter(models.TextChoices):
    OPEN = "open", "Open flags"
    ANY = "any", "Ever flagged"
    NONE = "none", "Never flagged"


class SuggestedFilter(models.TextChoices):
    YES = "yes", "Has a model verdict"
    NO = "no", "No model verdict"


@dataclass(frozen=True)
class ItemQuery:
    """The browser's filters; every field is optional (empty = no filter). Bounds are the
    callers' (forms and serializers validate them)."""

    dataset_id: int | None = None
    status: str = ""
    labels_min: int | None = None
    labels_max: int | None = None
    agreement: str = ""
    flags: str = ""
    suggested: str = ""
    method: str = ""
    verdict: str = ""
    score_min: float | None = None
    score_max: float | None = None
    priority_min: int | None = None
    priority_max: int | None = None
    annotator_id: int | None = None
    group_key: str = ""
    q: str = ""
    order: str = ItemOrder.ID


@dataclass
class Verdict:
    method: str
    model: str
    label: str
    score: float | None


@dataclass
class ItemRow:
    item: Item
    status: str
    labels: int
    needed: int
    agreement: float | None
    open_flags: int
    flags: int
    verdicts: list[Verdict] = field(default_factory=list)

    @property
    def status_label(self) -> str:
        return ItemStatus(self.status).label


@dataclass
class ItemPage:
    rows: list[ItemRow]
    next_cursor: str | None
    # Items read to fill the page when agreement is filtered in Python (0 otherwise).
    scanned: int = 0


def item_cursor_parse(*, cursor: str, order: str) -> tuple[int, int] | None:
    """(priority, id) of a cursor from `item_browse`; None for a malformed one or one of the
    other ordering. Callers answer None with a 400 (API) or the first page (web)."""
    m = _CURSOR.fullmatch(cursor or "")
    if m is None:
        return None
    priority, item_id = m.group(1), int(m.group(2))
    if item_id > 2**63 - 1 or (priority is None) != (order == ItemOrder.ID):
        return None
    return (int(priority) if priority is not None else 0), item_id


def _cursor_of(item: Item, order: str) -> str:
    return str(item.id) if order == ItemOrder.ID else f"{item.priority}.{item.id}"


def _adjudicated() -> Exists:
    return Exists(
        Annotation.objects.filter(item=OuterRef("pk"), source=Annotation.Source.ADJUDICATION)
    )


def _status_q(status: str) -> Q:
    adjudicated = _adjudicated()
    not_gold_or_adj = Q(~adjudicated, is_gold=False)
    if status == ItemStatus.GOLD:
        return Q(is_gold=True)
    if status == ItemStatus.ADJUDICATED:
        return Q(adjudicated, is_gold=False)
    if status == ItemStatus.COMPLETE:
        return not_gold_or_adj & Q(is_complete=True)
    if status == ItemStatus.IN_PROGRESS:
        return not_gold_or_adj & Q(is_complete=False, done_count__gt=0)
    return not_gold_or_adj & Q(done_count=0, is_complete=False)


def _suggestion_q(query: ItemQuery) -> Q | None:
    wanted = Q(item=OuterRef("pk"), target="item")
    specific = False
    if query.method:
        wanted &= Q(method=query.method)
        specific = True
    if query.verdict:
        wanted &= Q(label=query.verdict)
        specific = True
    if query.score_min is not None:
        wanted &= Q(score__gte=query.score_min)
        specific = True
    if query.score_max is not None:
        wanted &= Q(score__lte=query.score_max)
        specific = True
    exists = Exists(Suggestion.objects.filter(wanted))
    if query.suggested == SuggestedFilter.NO:
        return Q(~exists)
    if specific or query.suggested == SuggestedFilter.YES:
        return Q(exists)
    return None


def item_browse_queryset(*, project: Project, query: ItemQuery) -> QuerySet[Item]:
    """The project's items that pass the SQL filters of `query`, in its order (agreement
    "agree"/"disagree" keeps only candidates: items with two or more human labels)."""
    qs = Item.objects.filter(project=project)
    if query.dataset_id is not None:
        qs = qs.filter(dataset_id=query.dataset_id)
    if query.status:
        qs = qs.filter(_status_q(query.status))
    if query.labels_min is not None:
        qs = qs.filter(done_count__gte=query.labels_min)
    if query.labels_max is not None:
        qs = qs.filter(done_count__lte=query.labels_max)
    if query.agreement == AgreementFilter.SINGLE:
        qs = qs.filter(done_count__lt=2)
    elif query.agreement:
        qs = qs.filter(done_count__gte=2)
    if query.flags == FlagFilter.OPEN:
        qs = qs.filter(Exists(Flag.objects.filter(item=OuterRef("pk"), resolved_at__isnull=True)))
    elif query.flags == FlagFilter.ANY:
        qs = qs.filter(Exists(Flag.objects.filter(item=OuterRef("pk"))))
    elif query.flags == FlagFilter.NONE:
        qs = qs.filter(~Exists(Flag.objects.filter(item=OuterRef("pk"))))
    suggestion = _suggestion_q(query)
    if suggestion is not None:
        qs = qs.filter(suggestion)
    if query.priority_min is not None:
        qs = qs.filter(priority__gte=query.priority_min)
    if query.priority_max is not None:
        qs = qs.filter(priority__lte=query.priority_max)
    if query.annotator_id is not None:
        qs = qs.filter(
            Exists(Annotation.objects.filter(item=OuterRef("pk"), annotator_id=query.annotator_id))
        )
    if query.group_key:
        qs = qs.filter(group_key=query.group_key)
    if query.q:
        qs = qs.filter(item_search_q(query.q[:SEARCH_MAX]))
    order = ("-priority", "id") if query.order == ItemOrder.PRIORITY else ("id",)
    return qs.order_by(*order)


_QS = TypeVar("_QS", bound=QuerySet[Any, Any])


def _after(qs: _QS, position: tuple[int, int], order: str) -> _QS:
    priority, item_id = position
    if order == ItemOrder.PRIORITY:
        # `priority <= p` bounds the index range (item_browse_priority); the rest filters.
        return qs.filter(Q(priority__lt=priority) | Q(id__gt=item_id), priority__lte=priority)
    return qs.filter(id__gt=item_id)


_ROW_FIELDS = ("id", "external_id", "dataset_id", "dataset__name", "priority", "done_count",
               "is_complete", "is_gold", "extra_labels", "project_id")  # fmt: skip


def item_browse(
    *,
    project: Project,
    query: ItemQuery,
    after: tuple[int, int] | None = None,
    page_size: int = PAGE_SIZE,
    with_content: bool = False,
) -> ItemPage:
    """One page of the item browser: rows after the keyset position `after` (from
    `item_cursor_parse`), and the cursor of the next page (None on the last page).

    The table's columns only by default; `with_content` loads whole items with their steps,
    turns and candidates prefetched (the REST list)."""
    page_size = max(1, min(page_size, PAGE_SIZE_MAX))
    base = item_browse_queryset(project=project, query=query).select_related("dataset")
    if with_content:
        base = base.prefetch_related(
            Prefetch("steps", queryset=Step.objects.order_by("index")),
            Prefetch("turns", queryset=Turn.objects.order_by("index")),
            Prefetch("candidates", queryset=Candidate.objects.order_by("index")),
        )
    else:
        base = base.only(*_ROW_FIELDS).annotate(excerpt=Substr("prompt", 1, 160))
    if query.agreement not in (AgreementFilter.AGREE, AgreementFilter.DISAGREE):
        qs = _after(base, after, query.order) if after else base
        with item_search_plan(query.q[:SEARCH_MAX]):
            items = list(qs[: page_size + 1])
        more = len(items) > page_size
        items = items[:page_size]
        rows = _rows(project, items)
        nxt = _cursor_of(items[-1], query.order) if more and items else None
        return ItemPage(rows=rows, next_cursor=nxt)
    return _browse_by_agreement(project, query, base, after, page_size)


def _browse_by_agreement(
    project: Project,
    query: ItemQuery,
    base: QuerySet[Item],
    after: tuple[int, int] | None,
    page_size: int,
) -> ItemPage:
    """Scan candidates (two or more human labels) in keyset order, compare their labels in
    batches, and stop at a full page or AGREEMENT_SCAN_MAX candidates read: the next cursor
    then continues after the last item read, so no item is skipped or shown twice."""
    want = query.agreement == AgreementFilter.AGREE
    matched: list[int] = []
    scanned = 0
    position = after
    exhausted = False
    keys = base.values_list("id", "priority")
    while len(matched) < page_size and scanned < AGREEMENT_SCAN_MAX:
        qs = _after(keys, position, query.order) if position else keys
        batch = list(qs[:AGREEMENT_BATCH])
        agreement = _agreement(project, [item_id for item_id, _ in batch])
        for item_id, priority in batch:
            scanned += 1
            position = (priority, item_id)
            found = agreement.get(item_id)
            if found is not None and (found == 1.0) == want:
                matched.append(item_id)
                if len(matched) == page_size:
                    break
        if len(batch) < AGREEMENT_BATCH and len(matched) < page_size:
            exhausted = True
            break
    nxt = None
    if not exhausted and position is not None:
        nxt = str(position[1]) if query.order == ItemOrder.ID else f"{position[0]}.{position[1]}"
    items = list(base.filter(id__in=matched)) if matched else []
    return ItemPage(rows=_rows(project, items), next_cursor=nxt, scanned=scanned)


def _rows(project: Project, items: list[Item]) -> list[ItemRow]:
    """Browser rows for a page of items: status, agreement, flags and model verdicts in five
    queries for any page size."""
    ids = [it.id for it in items]
    adjudicated = set(
        Annotation.objects.filter(item_id__in=ids, source=Annotation.Source.ADJUDICATION)
        .values_list("item_id", flat=True)
    )  # fmt: skip
    agreement = _agreement(project, [it.id for it in items if it.done_count >= 2])
    flags: dict[int, tuple[int, int]] = {
        r["item_id"]: (r["open"], r["n"])
        for r in Flag.objects.filter(item_id__in=ids)
        .order_by()
        .values("item_id")
        .annotate(n=Count("id"), open=Count("id", filter=Q(resolved_at__isnull=True)))
    }
    verdicts: dict[int, dict[tuple[str, str], Verdict]] = defaultdict(dict)
    for s in (
        Suggestion.objects.filter(item_id__in=ids, target="item")
        .order_by("-job_id", "-id")
        .values("item_id", "method", "model_name", "label", "score")
    ):
        verdicts[s["item_id"]].setdefault(
            (s["method"], s["model_name"]),
            Verdict(s["method"], s["model_name"], s["label"], s["score"]),
        )
    rows = []
    for it in items:
        if it.is_gold:
            status = ItemStatus.GOLD
        elif it.id in adjudicated:
            status = ItemStatus.ADJUDICATED
        elif it.is_complete:
            status = ItemStatus.COMPLETE
        elif it.done_count:
            status = ItemStatus.IN_PROGRESS
        else:
            status = ItemStatus.UNLABELED
        open_flags, n_flags = flags.get(it.id, (0, 0))
        rows.append(
            ItemRow(item=it, status=status, labels=it.done_count,
                    needed=project.overlap + it.extra_labels, agreement=agreement.get(it.id),
                    open_flags=open_flags, flags=n_flags,
                    verdicts=sorted(verdicts[it.id].values(), key=lambda v: (v.method, v.model)))
        )  # fmt: skip
    return rows


def _agreement(project: Project, item_ids: list[int]) -> dict[int, float]:
    """Per item: the share of pairs of human annotations that agree (the label kind says what
    agreeing means: the same first error, the same code per turn, the same preference)."""
    if not item_ids:
        return {}
    kind = label_kind_for(project)
    anns = Annotation.objects.filter(
        item_id__in=item_ids, source=Annotation.Source.HUMAN
    ).prefetch_related("step_labels", "turn_labels", "preference_labels")
    sigs: dict[int, list[Any]] = defaultdict(list)
    for a in anns:
        sigs[a.item_id].append(kind.review_signature(schema=project.label_schema, annotation=a))
    out = {}
    for item_id, found in sigs.items():
        pairs = list(combinations(found, 2))
        if pairs:
            out[item_id] = sum(1 for x, y in pairs if x == y) / len(pairs)
    return out


def item_browse_detail(*, project: Project, item_id: int) -> Item | None:
    """One item of the project with its dataset and parts (steps, turns, candidates)
    prefetched; None when the item is not in the project."""
    return (
        Item.objects.filter(project=project, id=item_id)
        .select_related("dataset", "project")
        .prefetch_related(
            Prefetch("steps", queryset=Step.objects.order_by("index")),
            Prefetch("turns", queryset=Turn.objects.order_by("index")),
            Prefetch("candidates", queryset=Candidate.objects.order_by("index")),
        )
        .first()
    )


def item_browse_status(*, item: Item) -> str:
    """The status of one item (the browser's column)."""
    if item.is_gold:
        return ItemStatus.GOLD
    if Annotation.objects.filter(item=item, source=Annotation.Source.ADJUDICATION).exists():
        return ItemStatus.ADJUDICATED
    if item.is_complete:
        return ItemStatus.COMPLETE
    return ItemStatus.IN_PROGRESS if item.done_count else ItemStatus.UNLABELED


def item_suggestions_by_job(*, item: Item) -> list[tuple[int, list[Suggestion]]]:
    """Every model suggestion of the item grouped by labeling job (newest job first), each
    group ordered by method and target."""
    groups: dict[int, list[Suggestion]] = defaultdict(list)
    for s in Suggestion.objects.filter(item=item).order_by("-job_id", "method", "target", "id"):
        groups[s.job_id].append(s)
    return list(groups.items())
