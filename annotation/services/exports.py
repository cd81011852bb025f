"""Writes of training-data exports: the ExportRun lifecycle.

`export_run_start` records the run and queues its task after commit; the task calls
`export_run_execute`, which claims the run with a conditional UPDATE (a redelivered task
finds it claimed and does nothing) and writes to the deterministic folder
MEDIA_ROOT/exports/<run id>/ — first into `<run id>.partial`, renamed when complete, so a
download never sees half a file.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from annotation.exporters import exporter_get
from annotation.exporters.base import exporter_options_validate
from annotation.models import ExportRun, Project, User

logger = logging.getLogger(__name__)

# Progress is written at most this often (in items) so the run row is not hammered.
PROGRESS_EVERY_ITEMS = 10_000


def export_run_dir(*, run: ExportRun) -> Path:
    return Path(settings.MEDIA_ROOT) / "exports" / f"{run.id:08d}"


def export_options_check(
    *, project: Project, fmt: str, options: dict[str, Any] | None
) -> dict[str, Any]:
    """Validate format and options for a project; returns the normalised options.

    Raises ValueError('format: ...' / 'options.<name>: ...').
    """
    from annotation.exporters.pipeline import export_sources

    exporter = exporter_get(fmt)
    if project.kind not in exporter.project_kinds:
        raise ValueError(
            f"format: {fmt} exports {' or '.join(exporter.project_kinds)} projects; "
            f"{project.slug!r} is a {project.kind} project"
        )
    opts = exporter_options_validate(exporter, options)
    export_sources(project=project, options=opts)
    return opts


@transaction.atomic
def export_run_start(
    *, project: Project, fmt: str, options: dict[str, Any] | None = None, user: User | None = None
) -> ExportRun:
    """Record an export and queue it after commit. Bad format/options: ValueError."""
    from annotation.tasks_exports import export_run_execute_task

    opts = export_options_check(project=project, fmt=fmt, options=options)
    run = ExportRun.objects.create(project=project, format=fmt, options=opts, created_by=user)
    run.path = str(Path("exports") / f"{run.id:08d}")
    run.save(update_fields=["path"])
    transaction.on_commit(lambda: export_run_execute_task.delay(run.id))
    return run


def export_run_execute(*, run_id: int) -> ExportRun | None:
    """Write a queued export once; None when another worker already claimed it."""
    claimed = ExportRun.objects.filter(id=run_id, status=ExportRun.Status.QUEUED).update(
        status=ExportRun.Status.RUNNING, started_at=timezone.now()
    )
    if not claimed:
        return None
    from annotation.exporters.pipeline import export_write

    run = ExportRun.objects.select_related("project").get(id=run_id)
    final = export_run_dir(run=run)
    partial = final.with_name(final.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    last = {"n": 0}

    def progress(done: int, total: int) -> None:
        if done - last["n"] >= PROGRESS_EVERY_ITEMS or done == total:
            last["n"] = done
            ExportRun.objects.filter(id=run.id).update(progress_done=done, progress_total=total)

    try:
        manifest = export_write(
            project=run.project,
            fmt=run.format,
            options=run.options,
            out_dir=partial,
            progress=progress,
            run_id=run.id,
        )
    except (ValueError, OSError) as exc:
        logger.warning("export %s failed: %s", run.id, exc)
        shutil.rmtree(partial, ignore_errors=True)
        ExportRun.objects.filter(id=run.id).update(
            status=ExportRun.Status.FAILED, error=str(exc)[:5000], finished_at=timezone.now()
        )
        run.refresh_from_db()
        return run
    shutil.rmtree(final, ignore_errors=True)
    partial.rename(final)
    counts = {
        **manifest["counts"],
        "files": [
            {k: f[k] for k in ("path", "split", "records", "bytes")} for f in manifest["files"]
        ],
    }
    ExportRun.objects.filter(id=run.id).update(
        status=ExportRun.Status.SUCCEEDED,
        counts=counts,
        progress_done=manifest["counts"]["items_read"],
        progress_total=manifest["counts"]["items_read"],
        finished_at=timezone.now(),
    )
    run.refresh_from_db()
    return run


def export_file_path(*, run: ExportRun, filename: str) -> Path | None:
    """The file `filename` (relative, e.g. 'trl_stepwise/train-00000-of-00001.jsonl' or
    'manifest.json') of a finished run, or None when absent or outside the run's folder."""
    if run.status != ExportRun.Status.SUCCEEDED:
        return None
    base = export_run_dir(run=run).resolve()
    path = (base / filename).resolve()
    if not path.is_relative_to(base) or not path.is_file():
        return None
    return path


def export_run_files(*, run: ExportRun) -> list[str]:
    """Relative names of a finished run's files (data files, manifest, card)."""
    if run.status != ExportRun.Status.SUCCEEDED:
        return []
    base = export_run_dir(run=run)
    if not base.is_dir():
        return []
    return sorted(str(p.relative_to(base)) for p in base.rglob("*") if p.is_file())
