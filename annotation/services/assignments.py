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

import functools
import random
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F, IntegerField, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from annotation.errors import ApplicationError
from annotation.kinds import label_kind_for
from annotation.models import Assignment, Candidate, Item, Project, Suggestion, User
from annotation.selectors.gold import project_quality_settings
from annotation.selectors.rows import model_columns, model_from_row

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
    if gold_only:
        gold_rate = 1.0
    elif gold_rate is None:
        gold_rate = project_quality_settings(project=project).gold_rate
    gold_draw = bool(project.gold_count) and (rng or _rng).random() < gold_rate
    if connection.vendor == "postgresql" and not gold_draw and not gold_only:
        # The whole claim (held lease, candidate, lease) is one statement; see _claim_pg.
        return _claim_pg(
            project=project, annotator=annotator, exclude_ids=exclude_ids, now=now, render=render
        )
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
    if gold_draw:
        gold = Item.objects.filter(project=project, is_gold=True).exclude(id__in=mine)
        item = gold.order_by("id").first()
        if item is not None:
            with transaction.atomic():
                return _lease(
                    project=project, annotator=annotator, item=item, now=now, render=render
                )
    if gold_only:
        return None
    if connection.vendor == "postgresql":
        return _claim_pg(
            project=project, annotator=annotator, exclude_ids=exclude_ids, now=now, render=render
        )
    with transaction.atomic():
        candidates = (
            Item.objects.filter(project=project, is_complete=False, is_gold=False)
            .exclude(id__in=mine)
            .annotate(open_leases=_open_leases(now))
            .filter(open_leases__lt=project.overlap + F("extra_labels") - F("done_count"))
            .order_by("-priority", "id")
        )
        item = _first_open(candidates[:20], project=project, now=now)
        if item is None:
            return None
        return _lease(project=project, annotator=annotator, item=item, now=now, render=render)


# --- PostgreSQL: the claim in one statement -----------------------------------------------------

_CLAIM_ATTEMPTS = 5


@functools.cache
def _claim_sql(*, skip_locked: bool, pairs: bool, extra_parts: tuple[str, ...] = ()) -> str:
    """One statement: the oldest lease the annotator holds (not excluded), else the first open
    item (highest priority, then oldest) row-locked with SKIP LOCKED and leased by an upsert
    (which renews an expired lease of ours). Returns the assignment's columns, the item's,
    whether the item has suggestions, and whether the lease is new (to verify); then, for
    each of `extra_parts` (item relations shown beside the labeled parts), whether the item
    has any."""
    a, i = Assignment._meta.db_table, Item._meta.db_table
    c, s = Candidate._meta.db_table, Suggestion._meta.db_table
    lock = "FOR NO KEY UPDATE OF i" + (" SKIP LOCKED" if skip_locked else "")
    if pairs:
        # Two candidates at random, in a random order: (left, right); none under two.
        pair = (
            f"pair AS (SELECT array_agg(t.id) AS ids FROM (SELECT pc.id FROM {c} pc "  # noqa: S608
            "WHERE pc.item_id = (SELECT id FROM cand) ORDER BY random() LIMIT 2) t), "
        )
        sides = (
            "CASE WHEN cardinality(pair.ids) = 2 THEN pair.ids[1] END, "
            "CASE WHEN cardinality(pair.ids) = 2 THEN pair.ids[2] END, NULL FROM cand, pair"
        )
    else:
        pair, sides = "", "NULL::bigint, NULL::bigint, NULL FROM cand"
    active, submitted, skipped = (
        Assignment.Status.ACTIVE.value, Assignment.Status.SUBMITTED.value,
        Assignment.Status.SKIPPED.value,
    )  # fmt: skip
    tables = [Item._meta.get_field(n).related_model._meta.db_table for n in extra_parts]  # type: ignore[union-attr]
    extra = "".join(
        f", EXISTS (SELECT 1 FROM {t} xp WHERE xp.item_id = i.id)"  # noqa: S608
        for t in tables
    )
    # Table names and constants only; values go in as parameters.
    return f"""
WITH held AS (
    SELECT h.id FROM {a} h
    WHERE h.annotator_id = %(user)s AND h.project_id = %(project)s AND h.status = '{active}'
      AND h.expires_at > %(now)s AND NOT (h.id = ANY(%(exclude)s))
    ORDER BY h.claimed_at, h.id LIMIT 1
), cand AS (
    SELECT i.id FROM {i} i
    WHERE NOT EXISTS (SELECT 1 FROM held)
      AND i.project_id = %(project)s AND NOT i.is_complete AND NOT i.is_gold
      AND NOT EXISTS (
        SELECT 1 FROM {a} m WHERE m.item_id = i.id AND m.annotator_id = %(user)s
          AND (m.status IN ('{submitted}', '{skipped}')
               OR (m.status = '{active}' AND m.expires_at > %(now)s)))
      AND i.done_count + (
        SELECT count(*) FROM {a} l
        WHERE l.item_id = i.id AND l.status = '{active}' AND l.expires_at > %(now)s
      ) < %(overlap)s + i.extra_labels
    ORDER BY i.priority DESC, i.id LIMIT 1 {lock}
), {pair}leased AS (
    INSERT INTO {a} AS x (item_id, annotator_id, project_id, status, claimed_at, expires_at,
        first_rendered_at, submitted_at, active_ms, skip_reason, left_candidate_id,
        right_candidate_id, annotation_id)
    SELECT cand.id, %(user)s, %(project)s, '{active}', %(now)s, %(expires)s, %(rendered)s,
        NULL, 0, '', {sides}
    ON CONFLICT (item_id, annotator_id) DO UPDATE SET
        status = '{active}', claimed_at = EXCLUDED.claimed_at, expires_at = EXCLUDED.expires_at,
        first_rendered_at = COALESCE(x.first_rendered_at, EXCLUDED.first_rendered_at),
        left_candidate_id = COALESCE(x.left_candidate_id, EXCLUDED.left_candidate_id),
        right_candidate_id = CASE WHEN x.left_candidate_id IS NULL
            THEN EXCLUDED.right_candidate_id ELSE x.right_candidate_id END
        WHERE x.status NOT IN ('{submitted}', '{skipped}')
    RETURNING x.*, (x.xmax = 0) AS inserted
), got AS (
    SELECT l.*, true AS fresh FROM leased l
    UNION ALL
    SELECT h.*, false, false FROM {a} h WHERE h.id = (SELECT id FROM held)
)
SELECT {model_columns(Assignment, "got")}, {model_columns(Item, "i")},
    EXISTS (SELECT 1 FROM {s} sg WHERE sg.item_id = i.id), got.fresh, got.inserted{extra}
FROM got JOIN {i} i ON i.id = got.item_id
"""  # noqa: S608


def _claim_pg(
    *,
    project: Project,
    annotator: User,
    exclude_ids: tuple[int, ...] | list[int],
    now: datetime,
    render: bool,
) -> Assignment | None:
    """The claim on PostgreSQL in one statement (no transaction round trips), plus, for a new
    lease, one check of the item's slots.

    The statement counts the item's leases in its own snapshot; a lease committed by another
    claimer between that snapshot and our lock on the row (it held the lock a moment ago) is
    not seen. So a new lease is checked in a fresh statement: when done + open leases exceed
    k, ours is withdrawn and the claim tried again (each racer checks after its own lease is
    committed, so of two racers at least the later one sees both; k is never exceeded)."""
    params: dict[str, Any] = {
        "user": annotator.id,
        "project": project.id,
        "now": now,
        "expires": now + timedelta(seconds=settings.STEPWISE_LEASE_SECONDS),
        "rendered": now if render else None,
        "exclude": [int(x) for x in exclude_ids],
        "overlap": project.overlap,
    }
    kind = label_kind_for(project)
    pairs = kind.compares_pairs
    extra = tuple(p for p in kind.shown_parts if p != kind.part_name)
    a_fields, i_fields = Assignment._meta.concrete_fields, Item._meta.concrete_fields
    na, ni = len(a_fields), len(i_fields)
    for _ in range(_CLAIM_ATTEMPTS):
        with connection.cursor() as cur:
            cur.execute(_claim_sql(skip_locked=True, pairs=pairs, extra_parts=extra), params)
            row = cur.fetchone()
            if row is None:
                # Every open item may just be locked by a claim or submit in flight: wait for
                # those locks once rather than wrongly answer "nothing left".
                cur.execute(_claim_sql(skip_locked=False, pairs=pairs, extra_parts=extra), params)
                row = cur.fetchone()
            if row is None:
                return None
            assignment = model_from_row(Assignment, row[:na])
            item = model_from_row(Item, row[na : na + ni])
            has_suggestions, fresh, inserted = row[na + ni : na + ni + 3]
            present = row[na + ni + 3 :]
            if fresh and not _slots_hold(cur, item_id=item.id, now=now, overlap=project.overlap):
                if inserted:
                    cur.execute(f"DELETE FROM {Assignment._meta.db_table} WHERE id = %s", [assignment.id])  # noqa: S608 - constant SQL  # fmt: skip
                else:
                    cur.execute(f"UPDATE {Assignment._meta.db_table} SET expires_at = %s WHERE id = %s", [now, assignment.id])  # noqa: S608  # fmt: skip
                continue
        item.project = project
        item.has_suggestions = has_suggestions  # type: ignore[attr-defined]
        # Relations the item has no rows in: shown empty without a query.
        item.empty_parts = {n for n, has in zip(extra, present, strict=True) if not has}  # type: ignore[attr-defined]
        assignment.item = item
        assignment.project = project
        return assignment
    return None


def _slots_hold(cur: Any, *, item_id: int, now: datetime, overlap: int) -> bool:
    """Whether the item's submitted annotations and open leases (ours included) are within k
    (plus the labels a manager asked for since), read in a fresh snapshot."""
    a, i = Assignment._meta.db_table, Item._meta.db_table
    cur.execute(
        f"SELECT i.done_count + (SELECT count(*) FROM {a} l WHERE l.item_id = i.id "  # noqa: S608
        f"AND l.status = %s AND l.expires_at > %s) - i.extra_labels FROM {i} i WHERE i.id = %s",
        [Assignment.Status.ACTIVE.value, now, item_id],
    )
    (taken,) = cur.fetchone()
    return bool(taken <= overlap)


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
