"""Writes of imported data: `dataset_import` (the bulk writer every entry point uses) and
the ImportRun lifecycle for uploads handled by a Celery task."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from annotation.errors import ApplicationError
from annotation.importers import UnknownFormatError, importer_get
from annotation.importers.base import ImportIssue, ParsedItem, SkippedRecord
from annotation.kinds import label_kind_for
from annotation.kinds.base import LabelKind
from annotation.models import Dataset, ImportRun, Item, Project, User
from annotation.services.import_writer import ImportWriter, WriteCounts

logger = logging.getLogger(__name__)


@dataclass
class ImportResult:
    ok: bool = True
    dataset_id: int | None = None
    records_seen: int = 0
    items_created: int = 0
    items_unchanged: int = 0
    records_skipped: int = 0
    steps_created: int = 0
    turns_created: int = 0
    candidates_created: int = 0
    annotations_created: int = 0
    errors: list[ImportIssue] = field(default_factory=list)
    error_count: int = 0
    skipped: list[SkippedRecord] = field(default_factory=list)

    def add_error(self, issue: ImportIssue) -> None:
        self.ok = False
        self.error_count += 1
        if len(self.errors) < settings.STEPWISE_IMPORT_ERROR_LIMIT:
            self.errors.append(issue)

    @property
    def message(self) -> str:
        if not self.ok:
            more = self.error_count - len(self.errors)
            tail = f" (showing the first {len(self.errors)}, {more} more)" if more > 0 else ""
            return f"Rejected: {self.error_count} problem(s){tail}; nothing was written."
        if self.items_created == 0 and self.items_unchanged:
            return (
                f"Nothing to do: all {self.items_unchanged} items are already in this dataset "
                "with the same content."
            )
        parts = [f"Imported {self.items_created} items"]
        if self.items_unchanged:
            parts.append(f"{self.items_unchanged} already present and unchanged")
        if self.records_skipped:
            parts.append(f"{self.records_skipped} records skipped")
        if self.annotations_created:
            parts.append(f"{self.annotations_created} imported annotations")
        return ", ".join(parts) + "."


def _count(result: ImportResult, written: WriteCounts) -> None:
    result.items_created += written.items
    result.steps_created += written.steps
    result.turns_created += written.turns
    result.candidates_created += written.candidates
    result.annotations_created += written.annotations


class ImportRejectedError(Exception):
    """Raised inside the transaction so that it rolls back; carries the result."""

    def __init__(self, result: ImportResult) -> None:
        super().__init__(result.message)
        self.result = result


def _check_kind(item: ParsedItem, kind: LabelKind) -> ImportIssue | None:
    """An issue when the item lacks the parts its project's label kind labels."""
    if len(getattr(item, kind.part_name)) < kind.min_parts:
        return ImportIssue(item.line, kind.part_name, kind.missing_parts_message)
    return None


def import_format_check(*, project: Project, fmt: str) -> None:
    """Raise ApplicationError (field `format`) unless `fmt` is a known format for this
    project's kind."""
    importer = importer_get(fmt)
    if project.kind not in importer.project_kinds:
        raise ApplicationError(
            f"{fmt} files hold {' or '.join(importer.project_kinds)} data; "
            f"project {project.slug!r} is a {project.kind} project",
            code="wrong_kind",
            field="format",
        )


def dataset_import(
    *,
    project: Project,
    dataset_name: str,
    fmt: str,
    stream: BinaryIO,
    options: dict[str, Any] | None = None,
    user: User | None = None,
    dataset_license: str = "",
    dataset_provenance: str = "",
    progress: Callable[[int], None] | None = None,
    issue_unit: str | None = None,
) -> ImportResult:
    """Import one file into a dataset of `project` (created if missing), all or nothing.

    The file streams through the format's parser once, inside one transaction; items are
    written in batches as they come. Any problem anywhere makes the whole import roll back,
    and the result lists the problems (first STEPWISE_IMPORT_ERROR_LIMIT, with the total).
    A record whose external id is already in the dataset with the same content is counted
    as unchanged (a re-import is a no-op); with different content it is a problem.
    """
    options = options or {}
    result = ImportResult()
    try:
        importer = importer_get(fmt)
    except UnknownFormatError as exc:
        result.add_error(ImportIssue(None, "format", exc.message))
        return result
    if project.kind not in importer.project_kinds:
        result.add_error(
            ImportIssue(
                None,
                "format",
                f"{fmt} files hold {' or '.join(importer.project_kinds)} data; "
                f"project {project.slug!r} is a {project.kind} project",
            )
        )
        return result
    if not dataset_name.strip():
        result.add_error(ImportIssue(None, "dataset", "a dataset name is required"))
        return result
    try:
        with transaction.atomic():
            _import_in_transaction(
                project=project,
                dataset_name=dataset_name,
                importer_events=importer.parse(
                    stream,
                    options=options,
                    max_line_bytes=settings.STEPWISE_IMPORT_MAX_LINE_BYTES,
                ),
                fmt=fmt,
                user=user,
                dataset_license=dataset_license,
                dataset_provenance=dataset_provenance,
                result=result,
                progress=progress,
            )
    except ImportRejectedError as exc:
        return exc.result
    return result


def _import_in_transaction(
    *,
    project: Project,
    dataset_name: str,
    importer_events: Any,
    fmt: str,
    user: User | None,
    dataset_license: str,
    dataset_provenance: str,
    result: ImportResult,
    progress: Callable[[int], None] | None,
) -> None:
    dataset, _ = Dataset.objects.get_or_create(
        project=project,
        name=dataset_name,
        defaults={
            "source_format": fmt,
            "license": dataset_license,
            "provenance": dataset_provenance,
            "created_by": user,
        },
    )
    result.dataset_id = dataset.id
    existing = dict(Item.objects.filter(dataset=dataset).values_list("external_id", "content_hash"))
    seen: dict[str, int | None] = {}
    label_kind = label_kind_for(project)
    writer = ImportWriter(project=project, dataset=dataset)
    batch: list[tuple[ParsedItem, str]] = []
    batch_size = settings.STEPWISE_IMPORT_BATCH_SIZE
    for ev in importer_events:
        if isinstance(ev, ImportIssue):
            result.add_error(ev)
            continue
        if isinstance(ev, SkippedRecord):
            result.records_skipped += 1
            if len(result.skipped) < settings.STEPWISE_IMPORT_ERROR_LIMIT:
                result.skipped.append(ev)
            continue
        result.records_seen += 1
        item = ev
        if item.external_id in seen:
            first = seen[item.external_id]
            result.add_error(
                ImportIssue(
                    item.line,
                    "external_id",
                    f"duplicate id {item.external_id!r} (first used at line {first})",
                )
            )
            continue
        seen[item.external_id] = item.line
        problem = _check_kind(item, label_kind)
        if problem:
            result.add_error(problem)
            continue
        digest = item.content_hash()
        if item.external_id in existing:
            if existing[item.external_id] == digest:
                result.items_unchanged += 1
            else:
                result.add_error(
                    ImportIssue(
                        item.line,
                        "external_id",
                        f"{item.external_id!r} already exists in dataset {dataset.name!r} "
                        "with different content",
                    )
                )
            continue
        if not result.ok:
            continue  # keep scanning to report every problem, but stop writing
        batch.append((item, digest))
        if len(batch) >= batch_size:
            _count(result, writer.write(batch))
            batch = []
            if progress:
                progress(result.records_seen)
    if not result.ok:
        raise ImportRejectedError(result)
    if batch:
        _count(result, writer.write(batch))
    if progress:
        progress(result.records_seen)


# --- ImportRun: uploads processed by a task ----------------------------------------------


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
    not fit the project's kind, so the caller can answer 400 instead of queueing a doomed run.
    """
    from annotation.tasks import import_run_execute_task

    import_format_check(project=project, fmt=fmt)

    run = ImportRun.objects.create(
        project=project,
        created_by=user,
        format=fmt,
        dataset_name=dataset_name,
        original_filename=Path(upload.name or "upload").name[:255],
        options=options or {},
    )
    rel = Path("imports") / f"{run.id:08d}-{Path(upload.name or 'upload').name}"
    dest = Path(settings.MEDIA_ROOT) / rel
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest, "wb") as fh:
        for chunk in upload.chunks():
            fh.write(chunk)
    run.file = str(rel)
    run.save(update_fields=["file"])
    transaction.on_commit(lambda: import_run_execute_task.delay(run.id))
    return run


def import_run_execute(*, run_id: int) -> ImportRun | None:
    """Run a queued import once. A redelivered task finds the run claimed and does nothing."""
    claimed = ImportRun.objects.filter(id=run_id, status=ImportRun.Status.QUEUED).update(
        status=ImportRun.Status.RUNNING, started_at=timezone.now()
    )
    if not claimed:
        return None
    run = ImportRun.objects.select_related("project", "created_by").get(id=run_id)
    path = Path(settings.MEDIA_ROOT) / run.file
    try:
        with open(path, "rb") as fh:
            result = dataset_import(
                project=run.project,
                dataset_name=run.dataset_name,
                fmt=run.format,
                stream=fh,
                options=run.options,
                user=run.created_by,
            )
    except OSError as exc:
        result = ImportResult()
        result.add_error(ImportIssue(None, "file", f"cannot read the uploaded file: {exc}"))
    import_run_record_result(run=run, result=result)
    return run


def import_run_record_result(*, run: ImportRun, result: ImportResult) -> None:
    run.status = ImportRun.Status.SUCCEEDED if result.ok else ImportRun.Status.FAILED
    run.dataset_id = result.dataset_id if result.ok else None
    run.progress_done = result.records_seen
    run.items_created = result.items_created
    run.items_unchanged = result.items_unchanged
    run.records_skipped = result.records_skipped
    run.steps_created = result.steps_created
    run.turns_created = result.turns_created
    run.candidates_created = result.candidates_created
    run.annotations_created = result.annotations_created
    run.errors = [e.as_dict() for e in result.errors]
    run.error_count = result.error_count
    run.message = result.message
    run.finished_at = timezone.now()
    run.save()
