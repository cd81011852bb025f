"""Writes of the model loop: its project settings and the uncertainty routing of the task
stream.

Routing reuses the claim query's order (`Item.priority`, highest first), so the claim stays
exactly as cheap as before: the routing score is written into `priority` once after each
scoring job (`item_routing_recompute`, called by labeling_jobs), never per request. The
manager's own priority is parked in `manager_priority` meanwhile and put back when routing
is switched off (`item_routing_restore`).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from annotation.calibration import uncertainty
from annotation.dispatch import enqueue_on_commit
from annotation.errors import ApplicationError
from annotation.models import Item, Project, Routing
from annotation.selectors.calibration import item_verdicts

ROUTING_SENDER = "annotation.routing"
# Routed items take priorities 1..ROUTED_SPAN (1 + uncertainty scaled); unscored items 0.
ROUTED_SPAN = 1000
MIN_LABELED_MAX = 1_000_000
_BATCH = 5000


def project_model_loop_update(*, project: Project, **fields: Any) -> Project:
    """Change the model-loop settings (`routing`, `auto_accept_target`,
    `auto_accept_min_labeled`, `prefill`). Switching routing queues, after commit, the task
    that re-ranks the project's items (uncertainty) or puts the managers' priorities back
    (priority)."""
    allowed = {"routing", "auto_accept_target", "auto_accept_min_labeled", "prefill"}
    unknown = set(fields) - allowed
    if unknown:
        raise ApplicationError("cannot be changed here", code="read_only", field=sorted(unknown)[0])
    if "routing" in fields and fields["routing"] not in Routing.values:
        raise ApplicationError(f"one of {', '.join(Routing.values)}", field="routing")
    target = fields.get("auto_accept_target")
    if target is not None and (
        isinstance(target, bool) or not isinstance(target, int | float) or not 0.5 <= target <= 1
    ):
        raise ApplicationError("a number from 0.5 to 1", field="auto_accept_target")
    n = fields.get("auto_accept_min_labeled")
    if n is not None and (
        isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MIN_LABELED_MAX
    ):
        raise ApplicationError(
            f"an integer from 1 to {MIN_LABELED_MAX}", field="auto_accept_min_labeled"
        )
    if "prefill" in fields and not isinstance(fields["prefill"], bool):
        raise ApplicationError("true or false", field="prefill")
    old_routing = project.routing
    for key, value in fields.items():
        setattr(project, key, value)
    with transaction.atomic():
        project.save(update_fields=list(fields))
        if project.routing != old_routing:
            # A re-rank reads every verdict of the project (seconds at 100,000 items): a
            # task after commit, never in the request.
            enqueue_on_commit(ROUTING_SENDER, [project.id])
    return project


def item_routing_recompute_for(*, project_id: int) -> int:
    """`item_routing_recompute` for a project by id (the task's entry); 0 when it is gone."""
    project = Project.objects.filter(id=project_id).first()
    return item_routing_recompute(project=project) if project is not None else 0


def routing_priority(score: float) -> int:
    """The claim priority of an item with uncertainty `score` in [0, 1]."""
    return 1 + round((ROUTED_SPAN - 1) * max(0.0, min(1.0, score)))


@transaction.atomic
def item_routing_recompute(*, project: Project, now: datetime | None = None) -> int:
    """Rank the project's items by model uncertainty (annotation.calibration.uncertainty)
    when its routing says so, else restore the managers' priorities. Returns the number of
    items ranked (0 when restoring). Idempotent; called after each scoring job.

    Only rows whose priority changes are written, one UPDATE per priority value and chunk
    of ids (at most ROUTED_SPAN + 1 values): a re-rank after a job that changed little
    writes little, and no per-row CASE expression is built."""
    if project.routing != Routing.UNCERTAINTY:
        item_routing_restore(project=project)
        return 0
    now = now or timezone.now()
    items = Item.objects.filter(project=project)
    items.filter(manager_priority__isnull=True).update(manager_priority=F("priority"))
    target = {
        item_id: routing_priority(s)
        for item_id, v in item_verdicts(project=project, with_reference=False).items()
        if (s := uncertainty(v)) is not None
    }
    changes: dict[int, list[int]] = defaultdict(list)
    newly_routed = []
    for item_id, priority, routed_at in items.values_list("id", "priority", "routed_at"):
        want = target.get(item_id, 0)
        if priority != want:
            changes[want].append(item_id)
        if routed_at is None and item_id in target:
            newly_routed.append(item_id)
    for value, ids in changes.items():
        for start in range(0, len(ids), _BATCH):
            Item.objects.filter(id__in=ids[start : start + _BATCH]).update(priority=value)
    for start in range(0, len(newly_routed), _BATCH):
        Item.objects.filter(id__in=newly_routed[start : start + _BATCH]).update(routed_at=now)
    return len(target)


def item_routing_restore(*, project: Project) -> int:
    """Put the managers' priorities back (routing switched off); returns items changed."""
    return Item.objects.filter(project=project, manager_priority__isnull=False).update(
        priority=F("manager_priority"), manager_priority=None
    )
