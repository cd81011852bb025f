"""Reads of study links and their workers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, OuterRef, QuerySet, Subquery, Sum
from django.utils import timezone

from annotation.models import Annotation, Project, StudyLink, StudyWorker, User


def study_link_list(*, project: Project) -> QuerySet[StudyLink]:
    """The project's links, newest first, each with `worker_count`."""
    return StudyLink.objects.filter(project=project).annotate(worker_count=Count("workers"))


def study_link_get(*, project: Project, link_id: int) -> StudyLink | None:
    return study_link_list(project=project).filter(id=link_id).first()


def study_link_by_token(*, token: str) -> StudyLink | None:
    """The link of an entry URL, with its project (one query); None for an unknown token."""
    if not token or len(token) > 64:
        return None
    return StudyLink.objects.select_related("project").filter(token=token).first()


def study_worker_for_user(*, link: StudyLink, user: User) -> StudyWorker | None:
    """The signed-in worker's row on this link (the link and project attached)."""
    if not user.is_authenticated:
        return None
    worker = StudyWorker.objects.filter(link=link, user=user).first()
    if worker is not None:
        worker.link = link
        worker.user = user
    return worker


@dataclass(frozen=True, slots=True)
class WorkerRow:
    """One line of the managers' table, for approving or rejecting payments."""

    id: int
    worker_id: str
    study_id: str
    session_id: str
    status: str
    status_label: str
    started_at: datetime
    finished_at: datetime | None
    minutes: float  # wall time from arrival to finish (or to now while active)
    active_minutes: float  # time on items as the labeling page measured it
    items_done: int
    gold_total: int
    gold_correct: int
    gold_accuracy: float | None
    training_done: int
    training_correct: int
    training_passed: bool | None
    completion_code: str


def study_worker_rows(*, link: StudyLink, now: datetime | None = None) -> list[WorkerRow]:
    """Every worker of the link in arrival order (two queries)."""
    now = now or timezone.now()
    active_ms = (
        Annotation.objects.filter(
            annotator=OuterRef("user_id"),
            item__project_id=link.project_id,
            source=Annotation.Source.HUMAN,
        )
        .order_by()
        .values("annotator")
        .annotate(ms=Sum("time_spent_ms"))
        .values("ms")
    )
    workers = StudyWorker.objects.filter(link=link).annotate(active_ms=Subquery(active_ms))
    rows = []
    for w in workers:
        end = w.finished_at or now
        rows.append(
            WorkerRow(
                id=w.id,
                worker_id=w.worker_id,
                study_id=w.study_id,
                session_id=w.session_id,
                status=w.status,
                status_label=w.get_status_display(),
                started_at=w.started_at,
                finished_at=w.finished_at,
                minutes=round(max(0.0, (end - w.started_at).total_seconds()) / 60, 1),
                active_minutes=round((w.active_ms or 0) / 60_000, 1),
                items_done=w.items_done,
                gold_total=w.gold_total,
                gold_correct=w.gold_correct,
                gold_accuracy=(w.gold_correct / w.gold_total) if w.gold_total else None,
                training_done=w.training_done,
                training_correct=w.training_correct,
                training_passed=w.training_passed,
                completion_code=w.completion_code,
            )
        )
    return rows
