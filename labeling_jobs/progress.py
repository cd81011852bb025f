"""Writes and reads a running method makes about its own job: what it reports as it goes
(`LabelingJob.detail`) and whether it should stop. Kept apart from the chunk lifecycle in
`services`, which they never touch."""

from __future__ import annotations

from typing import Any

from labeling_jobs.models import JobStatus, LabelingJob


def labeling_job_detail_update(*, job_id: int, detail: dict[str, Any]) -> None:
    """Merge `detail` into the job's detail (one UPDATE; keys given replace old ones)."""
    job = LabelingJob.objects.filter(id=job_id).only("detail").first()
    if job is None:
        return
    LabelingJob.objects.filter(id=job_id).update(detail={**(job.detail or {}), **detail})


def labeling_job_is_cancelled(*, job_id: int) -> bool:
    return LabelingJob.objects.filter(id=job_id, status=JobStatus.CANCELLED).exists()
