"""Celery entry points of labeling jobs (queue `gpu`, routed in settings); each only calls a
service. acks_late + reject_on_worker_lost: a chunk whose worker dies is delivered again,
and the chunk's attempt counter (in the database) stops a chunk that keeps killing workers.

Importing this module registers the senders that services queue through
(`annotation.dispatch`): one chunk, or every open chunk of a job (the sweep requeues a job
whose worker stopped beating); LabelingJobsConfig.ready() imports it.
"""

from __future__ import annotations

from celery import Task, shared_task

from annotation.dispatch import sender_register
from labeling_jobs.backends import BackendUnavailable
from labeling_jobs.selectors import labeling_job_open_chunk_ids
from labeling_jobs.services import CHUNK_SENDER, labeling_job_chunk_fail, labeling_job_chunk_run

TRANSIENT_RETRIES = 5


# Routed to the `gpu` queue by CELERY_TASK_ROUTES (labeling_jobs.tasks.*).
@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=TRANSIENT_RETRIES)
def labeling_job_chunk_run_task(self: Task, chunk_id: int) -> str:
    try:
        return labeling_job_chunk_run(chunk_id=chunk_id, worker=self.request.hostname or "")
    except BackendUnavailable as exc:
        if self.request.retries >= TRANSIENT_RETRIES:
            labeling_job_chunk_fail(chunk_id=chunk_id, message=f"backend unavailable: {exc}")
            return "failed"
        raise self.retry(exc=exc, countdown=min(300, 10 * 2**self.request.retries)) from exc


def _send_chunk(chunk_id: int) -> None:
    labeling_job_chunk_run_task.delay(chunk_id)


def _send_job(job_id: int) -> None:
    for chunk_id in labeling_job_open_chunk_ids(job_id=job_id):
        labeling_job_chunk_run_task.delay(chunk_id)


sender_register(CHUNK_SENDER, _send_chunk)
sender_register("labeling_jobs.job", _send_job)
