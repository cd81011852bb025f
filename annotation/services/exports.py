"""Writes of training-data exports: the ExportRun lifecycle.

`export_run_start` records the run and queues its task after commit; the task calls
`export_run_execute`, which claims the run (`annotation.services.runs`: a redelivered task
finds it claimed and does nothing, or takes it over when its worker died) and writes to the
deterministic folder MEDIA_ROOT/exports/<run id>/ — first into `<run id>.partial`, renamed
when complete, so a download never sees half a file.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction

from annotation.errors import ApplicationError
from annotation.exporters.base import exporter_options_validate
from annotation.models import ExportRun, Project, User
from annotation.services.runs import (
    RunBeat,
    RunLostError,
    run_enqueue,
    run_execute,
    run_fail,
    run_finish,
    run_retry,
)

logger = logging.getLogger(__name__)


def export_run_dir(*, run: ExportRun) -> Path:
    return Path(settings.MEDIA_ROOT) / "exports" / f"{run.id:08d}"


def export_options_check(
    *, project: Project, fmt: str, options: dict[str, Any] | None
) -> dict[str, Any]:
    """Validate format and options for a project; returns the normalised options.

    Raises ApplicationError (field `format` or `options.<name>`).
    """
    from annotation.exporters.pipeline import export_format_check, export_sources

    exporter = export_format_check(project=project, fmt=fmt)
    opts = exporter_options_validate(exporter, options)
    export_sources(project=project, options=opts)
    return opts


@transaction.atomic
def export_run_start(
    *, project: Project, fmt: str, options: dict[str, Any] | None = None, user: User | None = None
) -> ExportRun:
    """Record an export and queue it after commit. Bad format/options: ApplicationError."""
    opts = export_options_check(project=project, fmt=fmt, options=options)
    run = ExportRun.objects.create(project=project, format=fmt, options=opts, created_by=user)
    run.path = str(Path("exports") / f"{run.id:08d}")
    run.save(update_fields=["path"])
    run_enqueue(run=run)
    return run


def export_run_execute(*, run_id: int) -> ExportRun | None:
    """The task's body: claim the run (a queued one, or a running one whose worker died) and
    write it; None when this delivery has nothing to do. Raises RunBusyError while a live
    worker holds the run."""
    return run_execute(model=ExportRun, run_id=run_id, work=_export_run_work)


def _export_run_work(run: ExportRun, beat: RunBeat) -> None:
    from annotation.exporters.pipeline import export_write

    run = ExportRun.objects.select_related("project").get(id=run.id)
    final = export_run_dir(run=run)
    partial = final.with_name(final.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        manifest = export_write(
            project=run.project,
            fmt=run.format,
            options=run.options,
            out_dir=partial,
            progress=beat.progress,
            run_id=run.id,
        )
    except (ApplicationError, OSError) as exc:
        # Expected failures (options that no longer fit the project, a full disk): the run
        # says why, without a traceback in the log.
        logger.warning("export %s failed: %s", run.id, exc)
        shutil.rmtree(partial, ignore_errors=True)
        run_fail(run=run, error=str(exc), attempt=run.attempts)
        return
    except BaseException:
        # Anything else is a bug: `run_execute` fails the run with its message and logs it.
        shutil.rmtree(partial, ignore_errors=True)
        raise
    shutil.rmtree(final, ignore_errors=True)
    partial.rename(final)
    counts = {
        **manifest["counts"],
        "files": [
            {k: f[k] for k in ("path", "split", "records", "bytes")} for f in manifest["files"]
        ],
    }
    read = manifest["counts"]["items_read"]
    if not run_finish(run=run, counts=counts, progress_done=read, progress_total=read):
        raise RunLostError(f"export run {run.id} was taken over")


def export_run_retry(*, run: ExportRun) -> ExportRun:
    """Queue a failed or cancelled export again. ApplicationError (conflict) otherwise."""
    return run_retry(run=run, reset={"counts": {}})


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
