"""Flags: annotators report items that need a manager's attention."""

from __future__ import annotations

from django.utils import timezone

from annotation.errors import ApplicationError
from annotation.models import Flag, Item, User
from annotation.services.stats import project_stats_changed


def flag_create(*, item: Item, user: User, reason: str, note: str = "") -> Flag:
    if reason not in Flag.Reason.values:
        raise ApplicationError(f"must be one of {', '.join(Flag.Reason.values)}", field="reason")
    flag = Flag.objects.create(item=item, user=user, reason=reason, note=note[:5000])
    project_stats_changed(project_id=item.project_id)
    return flag


def flag_resolve(*, flag: Flag, user: User) -> Flag:
    if flag.resolved_at is None:
        flag.resolved_at = timezone.now()
        flag.resolved_by = user
        flag.save(update_fields=["resolved_at", "resolved_by"])
        project_stats_changed(project_id=flag.item.project_id)
    return flag
