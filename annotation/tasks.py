"""Celery entry points of the annotation app; each only calls a service."""

from celery import shared_task

from annotation.services.imports import import_run_execute
from annotation.services.uploads import import_upload_sweep


@shared_task(acks_late=True, reject_on_worker_lost=True)
def import_run_execute_task(import_run_id: int) -> None:
    import_run_execute(run_id=import_run_id)


@shared_task
def import_upload_sweep_task() -> int:
    """Periodic (CELERY_BEAT_SCHEDULE): delete uploads that no import needs any more."""
    return import_upload_sweep()


# Export and dashboard-stat tasks live beside their services; importing them here lets
# Celery's autodiscovery (which imports `tasks` modules) register them.
from annotation.tasks_exports import export_run_execute_task, project_stats_refresh_task  # noqa: E402,F401
