"""Celery entry points of the annotation app (queue `default`); each only calls a service.

acks_late + reject_on_worker_lost: a task whose worker dies is delivered again, and the run's
claim (`annotation.services.runs`) takes the run over once its heartbeat is stale. A delivery
that finds the run held by a live worker looks again once that worker's heartbeat would be
stale. Importing this module registers the senders that services queue through
(`annotation.dispatch`); AnnotationConfig.ready() imports it.
"""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task

from annotation.dispatch import sender_register
from annotation.services.exports import export_run_execute
from annotation.services.import_runs import import_run_execute
from annotation.services.model_loop import item_routing_recompute_for
from annotation.services.runs import RunBusyError, runs_sweep
from annotation.services.stats import project_stats_refresh_execute
from annotation.services.uploads import import_upload_sweep

# How many times a delivery looks again at a run held by a live worker before leaving it to
# that worker (or, if it dies, to the sweep).
BUSY_RETRIES = 10


def _look_again(task: Task, exc: RunBusyError) -> None:
    if task.request.retries >= BUSY_RETRIES:
        return
    raise task.retry(countdown=exc.retry_after, exc=exc)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=BUSY_RETRIES)
def import_run_execute_task(self: Task, import_run_id: int) -> None:
    try:
        import_run_execute(run_id=import_run_id)
    except RunBusyError as exc:
        _look_again(self, exc)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=BUSY_RETRIES)
def export_run_execute_task(self: Task, export_run_id: int) -> None:
    try:
        export_run_execute(run_id=export_run_id)
    except RunBusyError as exc:
        _look_again(self, exc)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=BUSY_RETRIES)
def project_stats_refresh_task(self: Task, refresh_id: int) -> None:
    try:
        project_stats_refresh_execute(refresh_id=refresh_id)
    except RunBusyError as exc:
        _look_again(self, exc)


@shared_task(acks_late=True)
def runs_sweep_task() -> dict[str, Any]:
    """Periodic (Celery beat): fail or requeue runs whose worker stopped beating."""
    return runs_sweep()


sender_register("annotation.import_run", lambda run_id: import_run_execute_task.delay(run_id))
sender_register("annotation.export_run", lambda run_id: export_run_execute_task.delay(run_id))
sender_register("annotation.stats_refresh", lambda run_id: project_stats_refresh_task.delay(run_id))


@shared_task(acks_late=True, reject_on_worker_lost=True)
def item_routing_recompute_task(project_id: int) -> int:
    """Re-rank (or restore) a project's task stream after its routing setting changed;
    idempotent, so a redelivery does no harm."""
    return item_routing_recompute_for(project_id=project_id)


sender_register("annotation.routing", lambda pid: item_routing_recompute_task.delay(pid))


@shared_task
def import_upload_sweep_task() -> int:
    """Periodic (CELERY_BEAT_SCHEDULE): delete uploads that no import needs any more."""
    return import_upload_sweep()
