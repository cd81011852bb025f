"""Bulk actions of the item browser: set priority, mark or unmark gold, send back to the
queue for more labels. Managers only (the views check the role); every action is limited to
the project's own items, so ids of another project's items change nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.db import models, transaction
from django.db.models import F, Value
from django.db.models.functions import Greatest

from annotation.errors import ApplicationError
from annotation.models import Annotation, Item, Project, User
from annotation.services.gold import item_gold_promote, item_gold_unset

BULK_MAX_ITEMS = 500
PRIORITY_MIN, PRIORITY_MAX = -1_000_000, 1_000_000
MORE_LABELS_MAX = 10


class BulkAction(models.TextChoices):
    SET_PRIORITY = "set_priority", "Set priority"
    MARK_GOLD = "mark_gold", "Mark gold"
    UNMARK_GOLD = "unmark_gold", "Unmark gold"
    REQUEUE = "requeue", "Send back for more labels"


@dataclass
class BulkResult:
    action: str
    changed: int
    # Why some selected items were left as they were: reason -> number of items.
    skipped: dict[str, int] = field(default_factory=dict)


def _items(project: Project, item_ids: Sequence[int]) -> models.QuerySet[Item]:
    if not item_ids:
        raise ApplicationError("select at least one item", code="empty", field="items")
    if len(item_ids) > BULK_MAX_ITEMS:
        raise ApplicationError(
            f"select at most {BULK_MAX_ITEMS} items at a time", code="too_many", field="items"
        )
    return Item.objects.filter(project=project, id__in=list(item_ids))


def _int_value(value: int | None, lo: int, hi: int, what: str) -> int:
    if value is None or isinstance(value, bool) or not lo <= value <= hi:
        raise ApplicationError(f"{what} must be a whole number from {lo} to {hi}",
                               code="invalid", field="value")  # fmt: skip
    return value


@transaction.atomic
def item_bulk_set_priority(
    *, project: Project, item_ids: Sequence[int], priority: int | None
) -> int:
    """Set the priority of the items (higher is handed out first); returns how many."""
    priority = _int_value(priority, PRIORITY_MIN, PRIORITY_MAX, "priority")
    return _items(project, item_ids).update(priority=priority)


@transaction.atomic
def item_bulk_requeue(*, project: Project, item_ids: Sequence[int], more: int | None) -> BulkResult:
    """Send items back to the queue for `more` labels from annotators who have not labeled
    them yet.

    An item then needs max(k, its submitted human labels + `more`) labels: its
    `extra_labels` become that minus the project's k, and it is open again, so the claim
    query hands it out until it has them (to other annotators: nobody gets an item twice).
    Gold items are always open and are left as they are.
    """
    more = _int_value(more, 1, MORE_LABELS_MAX, "more labels")
    qs = _items(project, item_ids)
    gold = qs.filter(is_gold=True).count()
    changed = qs.filter(is_gold=False).update(
        extra_labels=Greatest(F("done_count") + more - project.overlap, Value(0)),
        is_complete=False,
    )
    return BulkResult(
        BulkAction.REQUEUE, changed, {"gold items are always open": gold} if gold else {}
    )


def item_bulk_gold(
    *, project: Project, item_ids: Sequence[int], user: User, gold: bool
) -> BulkResult:
    """Mark items gold with their adjudicated label as the known answer, or unmark them.
    An item without an adjudicated label cannot become gold (there is no known answer) and
    is reported as skipped."""
    qs = _items(project, item_ids)
    skipped: Counter[str] = Counter()
    changed = 0
    with transaction.atomic():
        if not gold:
            for item in qs.filter(is_gold=True).select_related("project"):
                item_gold_unset(item=item)
                changed += 1
            return BulkResult(BulkAction.UNMARK_GOLD, changed)
        adjudications = {
            a.item_id: a
            for a in Annotation.objects.filter(item__in=qs, source=Annotation.Source.ADJUDICATION)
            .select_related("item__project")
            .order_by("updated_at")
        }  # the newest adjudication of an item wins
        for item in qs:
            found = adjudications.get(item.id)
            if found is None:
                skipped["no adjudicated label to use as the answer"] += 1
                continue
            item_gold_promote(annotation=found, user=user)
            changed += 1
    return BulkResult(BulkAction.MARK_GOLD, changed, dict(skipped))


def item_bulk_action(
    *, project: Project, user: User, action: str, item_ids: Sequence[int], value: int | None
) -> BulkResult:
    """One bulk action by name (the web form and the REST endpoint): `value` is the
    priority for set_priority and the number of more labels for requeue."""
    if action == BulkAction.SET_PRIORITY:
        n = item_bulk_set_priority(project=project, item_ids=item_ids, priority=value)
        return BulkResult(action, n)
    if action == BulkAction.REQUEUE:
        return item_bulk_requeue(project=project, item_ids=item_ids, more=value)
    if action in (BulkAction.MARK_GOLD, BulkAction.UNMARK_GOLD):
        return item_bulk_gold(project=project, item_ids=item_ids, user=user,
                              gold=action == BulkAction.MARK_GOLD)  # fmt: skip
    raise ApplicationError("unknown action", code="invalid", field="action")
