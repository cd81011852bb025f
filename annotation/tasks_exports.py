"""Celery entry points of exports, statistics and gold (re-exported by annotation.tasks so
that autodiscovery registers them); each only calls a service."""

from celery import shared_task

from annotation.services.exports import export_run_execute
from annotation.services.stats import project_stats_refresh_execute


@shared_task(acks_late=True, reject_on_worker_lost=True)
def export_run_execute_task(export_run_id: int) -> None:
    export_run_execute(run_id=export_run_id)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def project_stats_refresh_task(project_id: int) -> None:
    project_stats_refresh_execute(project_id=project_id)
