"""Dashboard statistics: computed by a task into ProjectStat rows, read by the page.

Keys written (one row each): `progress`, `throughput`, `agreement`, `annotators`, `flags`,
`model_loop`
(the figures are computed by `annotation.selectors.stats`). Each recomputation is a
StatsRefresh run (`annotation.services.runs`): `project_stats_refresh_start` queues one unless
one is already queued or running for the project (at most one is, by a constraint), and the
task's `project_stats_refresh_execute` claims it, beats, stores the figures and ends the run in
one transaction.

Writes that change the figures (submits, edits, adjudications, gold, flags, imports, finished
model jobs) call `project_stats_changed`, which requests a refresh after their transaction
commits, debounced per project: at most one refresh runs and one waits. A request while one
is queued is a no-op (the queued one will read the change); a request while one runs marks
it `rerun_requested`, and that run queues exactly one follow-up when it ends.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone
from kombu.exceptions import OperationalError as KombuOperationalError

from annotation.models import Project, ProjectStat, RunStatus, StatsRefresh, User
from annotation.selectors.agreement import agreement_report
from annotation.selectors.model_loop import stats_model_loop
from annotation.selectors.stats import (
    stats_annotators,
    stats_flags,
    stats_progress,
    stats_throughput,
)
from annotation.services.runs import (
    RunBeat,
    RunLostError,
    run_enqueue,
    run_execute,
    run_finish,
)

logger = logging.getLogger(__name__)


def _figures(project: Project) -> dict[str, Any]:
    agreement = agreement_report(project=project)
    return {
        "progress": stats_progress(project=project),
        "throughput": stats_throughput(project=project),
        "agreement": agreement,
        "annotators": {"rows": stats_annotators(project=project, agreement=agreement)},
        "flags": stats_flags(project=project),
        "model_loop": stats_model_loop(project=project),
    }


def _figures_store(project: Project, figures: dict[str, Any]) -> None:
    now = timezone.now()
    for key, value in figures.items():
        ProjectStat.objects.update_or_create(
            project=project, key=key, defaults={"value": value, "computed_at": now}
        )


def project_stats_refresh(*, project: Project) -> dict[str, Any]:
    """Compute every dashboard figure now and store it; returns them by key. The figures are
    computed outside any transaction (SQLite would hold its write lock all along) and
    stored in one."""
    figures = _figures(project)
    with transaction.atomic():
        _figures_store(project, figures)
    return figures


def project_stats_refresh_start(*, project: Project, user: User | None = None) -> bool:
    """Queue a refresh after commit; False when one is already queued or running.

    A running refresh whose worker died is not waited for: the sweep (or a redelivered task)
    takes it over, and it ends failed after its capped attempts, after which a new refresh
    can start.
    """
    return _refresh_queue(project_id=project.id, user=user)


def project_stats_refresh_request(*, project_id: int) -> bool:
    """Debounced refresh: True when this call queued a refresh or marked the running one for
    a follow-up; False when a waiting refresh (queued, or a follow-up already marked) covers
    the change. Call it outside a transaction (`project_stats_changed` does)."""
    active = list(
        StatsRefresh.objects.filter(
            project_id=project_id, status__in=(RunStatus.QUEUED, RunStatus.RUNNING)
        ).values_list("id", "status", "rerun_requested")
    )
    for refresh_id, status, rerun in active:
        if status == RunStatus.QUEUED or rerun:
            return False
        # Conditional on it still running: once it has ended it will not look at the mark.
        if StatsRefresh.objects.filter(id=refresh_id, status=RunStatus.RUNNING).update(
            rerun_requested=True
        ):
            return True
    return _refresh_queue(project_id=project_id)


def _refresh_queue(*, project_id: int, user: User | None = None) -> bool:
    try:
        with transaction.atomic():
            refresh = StatsRefresh.objects.create(project_id=project_id, created_by=user)
            run_enqueue(run=refresh)
    except IntegrityError:
        return False  # statsrefresh_one_active: another request queued one first
    return True


def project_stats_changed(*, project_id: int) -> None:
    """The project's figures changed in the current transaction: request a debounced refresh
    once it commits (at once outside a transaction); a rolled-back change requests nothing.
    Several changes in one transaction request once. A refresh that cannot be queued (the
    broker or database is down) is logged, never an error of the write that changed data."""
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        _request_quietly(project_id)
        return
    # One callback per project and transaction: a bulk write of 1,000 labels asks once.
    # Django drops the callbacks of a rolled-back block, so a rollback leaves no trace here.
    for _, func, _ in connection.run_on_commit:
        if getattr(func, "stats_project_id", None) == project_id:
            return

    def _request() -> None:
        # Tests run callbacks inside their transaction, which keeps them listed.
        _request.stats_project_id = None  # type: ignore[attr-defined]
        _request_quietly(project_id)

    _request.stats_project_id = project_id  # type: ignore[attr-defined]
    transaction.on_commit(_request)


def _request_quietly(project_id: int) -> None:
    try:
        project_stats_refresh_request(project_id=project_id)
    except (KombuOperationalError, DatabaseError) as exc:
        logger.warning("statistics refresh of project %s not queued: %s", project_id, exc)


def project_stats_refresh_execute(*, refresh_id: int) -> StatsRefresh | None:
    """The task's body: claim the refresh and run it once; None when this delivery has
    nothing to do. Raises RunBusyError while a live worker holds it."""
    return run_execute(model=StatsRefresh, run_id=refresh_id, work=_refresh_work)


def _refresh_work(refresh: StatsRefresh, beat: RunBeat) -> None:
    project = Project.objects.get(id=refresh.project_id)
    figures = _figures(project)
    with transaction.atomic():
        _figures_store(project, figures)
        done = len(figures)
        if not run_finish(run=refresh, progress_done=done, progress_total=done):
            raise RunLostError(f"stats refresh {refresh.id} was taken over")
        # After our conditional UPDATE holds the row: a mark set before it is seen here; one
        # attempted after it finds the run ended and queues a refresh itself.
        if StatsRefresh.objects.filter(id=refresh.id, rerun_requested=True).exists():
            _refresh_queue(project_id=refresh.project_id)
