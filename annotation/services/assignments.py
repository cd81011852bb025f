"""The task stream: claiming items with a lease, rendering, skipping.

Invariants:
- an item never has more than k (project.overlap, plus the item's `extra_labels` when a
  manager sent it back to the queue) submitted human annotations, and never more than that
  many open slots taken (submitted + unexpired leases);
- an annotator gets an item at most once (one Assignment row per item and annotator) and
  never sees an item they skipped again;
- two annotators asking at the same moment never get the same slot: on PostgreSQL the
  candidate item row is locked with FOR UPDATE SKIP LOCKED while its open slots are counted
  and the lease is written; on SQLite the embedded default's IMMEDIATE transactions serialise
  the writers.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F, IntegerField, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from annotation.errors import ApplicationError
from annotation.kinds import label_kind_for
from annotation.models import Assignment, Candidate, Item, Project, User
from annotation.selectors.gold import project_quality_settings

_rng = random.SystemRandom()


def _open_leases(now: datetime) -> Coalesce:
    leases = (
        Assignment.objects.filter(
            item=OuterRef("pk"), status=Assignment.Status.ACTIVE, expires_at__gt=now
        )
        .order_by()
        .values("item")
        .annotate(n=Count("id"))
        .values("n")
    )
    return Coalesce(Subquery(leases, output_field=IntegerField()), Value(0))


def assignment_claim_next(
    *,
    project: Project,
    annotator: User,
    exclude_ids: tuple[int, ...] | list[int] = (),
    now: datetime | None = None,
    rng: random.Random | None = None,
    render: bool = False,
    gold_rate: float | None = None,
    gold_only: bool = False,
) -> Assignment | None:
    """The annotator's next item: a lease they already hold (other than `exclude_ids`), else a
    new claim on the highest-priority, then oldest, item that still needs annotators.

    `render`: the item is shown now, so a new lease starts its time-on-item at once (one
    write and one commit fewer than claiming, then `assignment_mark_rendered`). A lease
    already held is returned as it is; mark it rendered as before.

    Gold items (known answers, for annotator accuracy) are drawn instead with probability
    project.gold_rate when the project has some the annotator has not seen; they look
    like any other item and do not take the k slots of the ordinary stream. `gold_rate`
    replaces the project's rate for this claim (a study link's attention-check rate), and
    `gold_only` claims a gold item or nothing (a study's training round); neither costs a
    query.

    Returns None when nothing is left for this annotator.
    """
    now = now or timezone.now()
    held = (
        Assignment.objects.filter(
            annotator=annotator,
            project=project,
            status=Assignment.Status.ACTIVE,
            expires_at__gt=now,
        )
        .exclude(id__in=list(exclude_ids))
        .select_related("item")
        .order_by("claimed_at", "id")
        .first()
    )
    if held is not None:
        return held
    mine = (
        Assignment.objects.filter(annotator=annotator, project=project)
        .filter(
            Q(status__in=[Assignment.Status.SUBMITTED, Assignment.Status.SKIPPED])
            | Q(status=Assignment.Status.ACTIVE, expires_at__gt=now)
        )
        .values("item_id")
    )
    if gold_only:
        gold_rate = 1.0
    if gold_rate is None:
        gold_rate = project_quality_settings(project=project).gold_rate
    if project.gold_count and (rng or _rng).random() < gold_rate:
        gold = Item.objects.filter(project=project, is_gold=True).exclude(id__in=mine)
        item = gold.order_by("id").first()
        if item is not None:
            with transaction.atomic():
                return _lease(
                    project=project, annotator=annotator, item=item, now=now, render=render
                )
    if gold_only:
        return None
    with transaction.atomic():
        candidates = (
            Item.objects.filter(project=project, is_complete=False, is_gold=False)
            .exclude(id__in=mine)
            .annotate(open_leases=_open_leases(now))
            .filter(open_leases__lt=project.overlap + F("extra_labels") - F("done_count"))
            .order_by("-priority", "id")
        )
        if connection.features.has_select_for_update_skip_locked:
            item = _first_open(
                candidates.select_for_update(skip_locked=True, no_key=True, of=("self",))[:20],
                project=project,
                now=now,
            )
            if item is None:
                # Every open item may just be locked by a claim or submit in flight: wait for
                # those locks once rather than wrongly answer "nothing left".
                item = _first_open(
                    candidates.select_for_update(no_key=True, of=("self",))[:5],
                    project=project,
                    now=now,
                )
        else:
            item = _first_open(candidates[:20], project=project, now=now)
        if item is None:
            return None
        return _lease(project=project, annotator=annotator, item=item, now=now, render=render)


def _lease(
    *, project: Project, annotator: User, item: Item, now: datetime, render: bool = False
) -> Assignment:
    expires = now + timedelta(seconds=settings.STEPWISE_LEASE_SECONDS)
    # The only row of ours this item can have is an expired lease (the claim query excluded
    # the rest): renew it, else create the lease. Two queries, no savepoint.
    renewed = Assignment.objects.filter(item=item, annotator=annotator).update(
        status=Assignment.Status.ACTIVE, claimed_at=now, expires_at=expires
    )
    pairs = label_kind_for(project).compares_pairs
    if renewed:
        assignment = Assignment.objects.get(item=item, annotator=annotator)
        if pairs and assignment.left_candidate_id is None:
            left, right = _choose_pair(item.id)
            if left is not None:
                assignment.left_candidate_id, assignment.right_candidate_id = left, right
                assignment.save(update_fields=["left_candidate", "right_candidate"])
    else:
        # The pair and its sides go into the new row itself: no UPDATE after the INSERT.
        left, right = _choose_pair(item.id) if pairs else (None, None)
        assignment = Assignment.objects.create(
            item=item,
            annotator=annotator,
            project=project,
            status=Assignment.Status.ACTIVE,
            claimed_at=now,
            expires_at=expires,
            first_rendered_at=now if render else None,
            left_candidate_id=left,
            right_candidate_id=right,
        )
    assignment.item = item
    return assignment


def _first_open(candidates: Iterable[Item], *, project: Project, now: datetime) -> Item | None:
    for cand in candidates:
        # The row is locked now; count its leases again in a fresh statement, which sees a
        # lease committed by someone who held the lock a moment ago (READ COMMITTED).
        leases = Assignment.objects.filter(
            item=cand, status=Assignment.Status.ACTIVE, expires_at__gt=now
        ).count()
        if cand.done_count + leases < project.overlap + cand.extra_labels:
            return cand
    return None


def _choose_pair(item_id: int) -> tuple[int | None, int | None]:
    """The pair to compare and which side each goes, at random: (left, right) candidate ids,
    or (None, None) for an item with fewer than two candidates."""
    ids = list(
        Candidate.objects.filter(item_id=item_id).order_by("index").values_list("id", flat=True)
    )
    if len(ids) < 2:
        return None, None
    left, right = random.SystemRandom().sample(ids, 2)
    return left, right


def assignment_mark_rendered(*, assignment: Assignment, now: datetime | None = None) -> None:
    """Record the first time the item was shown (start of its time-on-item)."""
    if assignment.first_rendered_at is None:
        now = now or timezone.now()
        Assignment.objects.filter(id=assignment.id, first_rendered_at__isnull=True).update(
            first_rendered_at=now
        )
        assignment.first_rendered_at = now


def assignment_skip(*, assignment: Assignment, reason: str = "") -> Assignment:
    """Release the lease; the item is not shown to this annotator again."""
    if assignment.status == Assignment.Status.SUBMITTED:
        raise ApplicationError(
            "already submitted; it cannot be skipped", code="submitted", field="assignment"
        )
    assignment.status = Assignment.Status.SKIPPED
    assignment.skip_reason = reason[:2000]
    assignment.save(update_fields=["status", "skip_reason"])
    return assignment


def active_time_ms(*, assignment: Assignment, client_active_ms: int | None, now: datetime) -> int:
    """Time on item: the client's active-time count (which pauses after STEPWISE_IDLE_SECONDS
    without input), never more than the wall time since first render."""
    start = assignment.first_rendered_at or assignment.claimed_at
    wall = max(0, int((now - start).total_seconds() * 1000))
    if client_active_ms is None:
        return min(wall, settings.STEPWISE_IDLE_SECONDS * 1000)
    return max(0, min(int(client_active_ms), wall))
