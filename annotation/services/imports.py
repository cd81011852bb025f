"""Writes of imported data: `dataset_import`, the bulk writer every entry point uses (the
ImportRun lifecycle of uploads handled by a task is in `annotation.services.import_runs`)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from django.conf import settings
from django.db import connection, transaction

from annotation.errors import ApplicationError
from annotation.importers import UnknownFormatError, importer_get
from annotation.importers.base import EMPTY_FILE, ImportIssue, ParsedItem, SkippedRecord
from annotation.importers.split import StepSplit
from annotation.kinds import label_kind_for
from annotation.kinds.base import LabelKind
from annotation.models import Dataset, Item, Project, User
from annotation.services.import_checks import (
    dataset_fields_check,
    dataset_split_record,
    import_options_check,
    import_split_get,
    item_check_columns,
    item_final_answer_fill,
)
from annotation.services.import_copy import copy_pipeline_scope
from annotation.services.import_writer import ImportWriter, WriteCounts

logger = logging.getLogger(__name__)
# Imports of at least this many items refresh the item table's planner statistics.
ANALYZE_AFTER_ITEMS = 1000


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
    problem = dataset_fields_check(name=dataset_name, license=dataset_license)
    try:
        options = import_options_check(
            fmt=fmt, options=options, upload=False, project_kind=project.kind
        )
        split = import_split_get(fmt=fmt, options=options)
    except ApplicationError as exc:
        problem = problem or ImportIssue(None, exc.field or "", exc.message)
    if problem:
        result.add_error(problem)
        return result
    # Formats whose parsing depends on the project's kind (label_studio) read it here; it is
    # not a user option (import_options_check refuses it from the caller).
    options = {**options, "project_kind": project.kind}
    try:
        with transaction.atomic():
            with copy_pipeline_scope():
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
                    split=split,
                )
            _statistics_refresh(result)
    except ImportRejectedError as exc:
        return exc.result
    return result


def _statistics_refresh(result: ImportResult) -> None:
    """After a large import, ANALYZE the item table (PostgreSQL) inside the import's
    transaction, once its COPYs are done. Annotators start right after an import, before
    autovacuum's analyze: with the statistics of an emptier table the claim query sorts every
    open item (46 ms at 10,000 preference items) instead of walking item_stream_idx (0.2 ms).
    ANALYZE counts this transaction's own rows and its statistics commit with them."""
    if result.items_created >= ANALYZE_AFTER_ITEMS and connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("ANALYZE annotation_item")


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
    split: StepSplit | None = None,
) -> None:
    dataset, _ = Dataset.objects.get_or_create(
        project=project,
        name=dataset_name,
        defaults={
            "source_format": fmt,
            "license": dataset_license,
            "provenance": dataset_provenance,
            "created_by": user,
            "step_split": split.as_dict() if split else {},
        },
    )
    result.dataset_id = dataset.id
    split_problem = dataset_split_record(dataset=dataset, split=split)
    if split_problem:
        result.add_error(split_problem)
        raise ImportRejectedError(result)
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
        problem = _check_kind(item, label_kind) or item_check_columns(item)
        if problem:
            result.add_error(problem)
            continue
        digest = item.content_hash()
        item_final_answer_fill(item)  # derived from the steps, so not part of the hash
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
    if result.ok and not (result.records_seen or result.records_skipped):
        result.add_error(ImportIssue(None, "file", EMPTY_FILE))
    if not result.ok:
        raise ImportRejectedError(result)
    if batch:
        _count(result, writer.write(batch))
    if progress:
        progress(result.records_seen)
