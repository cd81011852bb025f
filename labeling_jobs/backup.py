"""Labeling jobs in project backups: the jobs with their parameters, and their chunks.

Registered with annotation's backup registry from `LabelingJobsConfig.ready()`, so that
annotation does not import this app. Item and dataset ids inside a job's scope and a chunk's
item list are remapped on restore; a job or chunk that was still queued or running is
restored as cancelled (no worker will ever pick it up on the new server).
"""

from __future__ import annotations

from typing import Any

from annotation.backup.idmap import IdMaps
from annotation.backup.registry import BackupSection, backup_section_register
from labeling_jobs.models import ACTIVE_STATUSES, JobChunk, JobStatus, LabelingJob

_ITEM = "annotation.item"
_DATASET = "annotation.dataset"


def _item_ids(ids: Any, maps: IdMaps) -> Any:
    if not isinstance(ids, list):
        return ids
    return [maps.require(_ITEM, i) if isinstance(i, int) else i for i in ids]


def _job_transform(values: dict[str, Any], maps: IdMaps) -> None:
    scope = values.get("scope")
    if isinstance(scope, dict):
        scope = dict(scope)
        if isinstance(scope.get("dataset_id"), int):
            scope["dataset_id"] = maps.require(_DATASET, scope["dataset_id"])
        if "item_ids" in scope:
            scope["item_ids"] = _item_ids(scope["item_ids"], maps)
        values["scope"] = scope
    if values.get("status") in ACTIVE_STATUSES:
        values["error"] = f"Restored from a backup while {values['status']}; start the job again."
        values["status"] = JobStatus.CANCELLED


def _chunk_transform(values: dict[str, Any], maps: IdMaps) -> None:
    values["item_ids"] = _item_ids(values.get("item_ids"), maps)
    if values.get("status") in (JobChunk.Status.PENDING, JobChunk.Status.RUNNING):
        values["status"] = JobChunk.Status.CANCELLED


def register() -> None:
    backup_section_register(
        BackupSection(
            model=LabelingJob,
            project_path="project",
            depends_on=(_ITEM, _DATASET),
            transform=_job_transform,
            # The other background-run columns are the job's history and come back as they
            # were (status through `_job_transform`; a retry on the new server resets them).
            fields_left_out={
                "heartbeat_at": "the last beat of a worker of the original server; no worker "
                "runs a restored job (an active one comes back cancelled)",
            },
        )
    )
    backup_section_register(
        BackupSection(
            model=JobChunk,
            project_path="job__project",
            depends_on=(_ITEM,),
            transform=_chunk_transform,
        )
    )
