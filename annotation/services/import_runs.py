"""The ImportRun lifecycle: an upload stored under MEDIA_ROOT, imported by a task.

`import_run_create` stores the file and queues the run; the task calls `import_run_execute`
(claim, heartbeat, the import and its result in one transaction: see
`annotation.services.runs`); `import_run_retry` queues a failed run again.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from annotation.errors import ApplicationError
from annotation.importers.base import ImportIssue
from annotation.models import ImportRun, Project, User
from annotation.services.import_checks import import_options_check, upload_check_not_blank
from annotation.services.imports import ImportResult, dataset_import, import_format_check
from annotation.services.runs import (
    RunBeat,
    RunLostError,
    run_enqueue,
    run_execute,
    run_fail,
    run_finish,
    run_retry,
)
from annotation.services.stats import project_stats_changed
from annotation.services.uploads import import_upload_check, import_upload_discard_if_done


@transaction.atomic
def import_run_create(
    *,
    project: Project,
    user: User | None,
    upload: UploadedFile,
    fmt: str,
    dataset_name: str,
    options: dict[str, Any] | None = None,
) -> ImportRun:
    """Store the upload under MEDIA_ROOT and queue its import after commit.

    Raises ApplicationError (field `format`) at once for an unknown format or one that does
    not fit the project's kind, so the caller can answer 400 instead of queueing a doomed run;
    ApplicationError (field `options.<name>`) for an option the format does not take, one
    naming a server file or a bad value the format checks up front (a labeling config); and ApplicationError (field `file`) for a blank file or one over the
    size limit or the project's quota.
    """
    import_format_check(project=project, fmt=fmt)
    options = import_options_check(fmt=fmt, options=options, upload=True, project_kind=project.kind)
    upload_check_not_blank(chunks=upload.chunks())
    # One upload at a time per project, so two cannot both fit under the quota's last bytes.
    Project.objects.select_for_update(no_key=True).filter(id=project.id).first()
    import_upload_check(project=project, size=upload.size or 0)

    run = ImportRun.objects.create(
        project=project,
        created_by=user,
        format=fmt,
        dataset_name=dataset_name,
        original_filename=Path(upload.name or "upload").name[:255],
        options=options,
    )
    rel = Path("imports") / f"{run.id:08d}-{Path(upload.name or 'upload').name}"
    dest = Path(settings.MEDIA_ROOT) / rel
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest, "wb") as fh:
        for chunk in upload.chunks():
            fh.write(chunk)
    run.file = str(rel)
    run.save(update_fields=["file"])
    run_enqueue(run=run)
    return run


def import_run_execute(*, run_id: int) -> ImportRun | None:
    """The task's body: claim the run (a queued one, or a running one whose worker died) and
    import its file, all or nothing; None when this delivery has nothing to do.

    The import and the run's result commit in one transaction, so a run succeeds exactly
    once: a worker that lost the run to another (see `annotation.services.runs`) rolls its
    import back. Raises RunBusyError while a live worker holds the run.
    """
    return run_execute(model=ImportRun, run_id=run_id, work=_import_run_work)


def _import_run_work(run: ImportRun, beat: RunBeat) -> None:
    run = ImportRun.objects.select_related("project", "created_by").get(id=run.id)
    path = Path(settings.MEDIA_ROOT) / run.file
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed below, after the transaction
    except OSError as exc:
        result = ImportResult()
        result.add_error(ImportIssue(None, "file", f"cannot read the uploaded file: {exc}"))
        _import_run_record(run=run, result=result)
        return
    with fh, transaction.atomic():
        size = max(os.fstat(fh.fileno()).st_size, 1)

        def progress(done: int) -> None:
            # Records are not counted up front; the total is extrapolated from the bytes read.
            read = fh.tell()
            beat.progress(done, max(done, round(done * size / read)) if read else None)

        result = dataset_import(
            project=run.project,
            dataset_name=run.dataset_name,
            fmt=run.format,
            stream=fh,
            options=run.options,
            user=run.created_by,
            progress=progress,
        )
        _import_run_record(run=run, result=result)
    run.refresh_from_db(fields=["status", "file"])
    import_upload_discard_if_done(run=run)
    if run.status == ImportRun.Status.SUCCEEDED:
        project_stats_changed(project_id=run.project_id)


def _import_run_record(*, run: ImportRun, result: ImportResult) -> None:
    """Write the result with the run's end; RunLostError when the run is no longer this
    claim's (the caller's transaction then rolls the import back)."""
    fields: dict[str, Any] = {
        "dataset_id": result.dataset_id if result.ok else None,
        "progress_done": result.records_seen,
        "progress_total": result.records_seen,
        "items_created": result.items_created,
        "items_unchanged": result.items_unchanged,
        "records_skipped": result.records_skipped,
        "steps_created": result.steps_created,
        "turns_created": result.turns_created,
        "candidates_created": result.candidates_created,
        "annotations_created": result.annotations_created,
        "errors": [e.as_dict() for e in result.errors],
        "error_count": result.error_count,
        "message": result.message,
    }
    if result.ok:
        recorded = run_finish(run=run, **fields)
    else:
        recorded = run_fail(run=run, error=result.message, attempt=run.attempts, **fields)
    if not recorded:
        raise RunLostError(f"import run {run.id} was taken over")


def import_run_retry(*, run: ImportRun) -> ImportRun:
    """Queue a failed or cancelled import again (its upload is kept). ApplicationError:
    conflict for a run in another state, or when the uploaded file is gone."""
    if run.status in (ImportRun.Status.FAILED, ImportRun.Status.CANCELLED) and not (
        run.file and (Path(settings.MEDIA_ROOT) / run.file).is_file()
    ):
        raise ApplicationError(
            "The uploaded file is no longer on the server; upload it again.",
            code="conflict",
            field="file",
        )
    return run_retry(
        run=run,
        reset={
            "dataset": None, "items_created": 0, "items_unchanged": 0, "records_skipped": 0,
            "steps_created": 0, "turns_created": 0, "candidates_created": 0,
            "annotations_created": 0, "errors": [], "error_count": 0, "message": "",
        },
    )  # fmt: skip
