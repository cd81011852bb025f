"""Celery entry points of labeling jobs (queue `gpu`, routed in settings); each only calls a
service. acks_late + reject_on_worker_lost: a chunk whose worker dies is delivered again,
and the chunk's attempt counter (in the database) stops a chunk that keeps killing workers.
"""

from __future__ import annotations

from celery import shared_task

from labeling_jobs.backends import BackendUnavailable
from labeling_jobs.services import labeling_job_chunk_fail, labeling_job_chunk_run

TRANSIENT_RETRIES = 5


# Routed to the `gpu` queue by CELERY_TASK_ROUTES (labeling_jobs.tasks.*).
@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=TRANSIENT_RETRIES)
def labeling_job_chunk_run_task(self, chunk_id: int) -> str:  # noqa: ANN001
    try:
        return labeling_job_chunk_run(chunk_id=chunk_id, worker=self.request.hostname or "")
    except BackendUnavailable as exc:
        if self.request.retries >= TRANSIENT_RETRIES:
            labeling_job_chunk_fail(chunk_id=chunk_id, message=f"backend unavailable: {exc}")
            return "failed"
        raise self.retry(exc=exc, countdown=min(300, 10 * 2**self.request.retries)) from exc
