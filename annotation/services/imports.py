"""Writes of imported data: `dataset_import` (the bulk writer every entry point uses) and
the ImportRun lifecycle for uploads handled by a Celery task."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import connection, transaction
from django.utils import timezone

from annotation.errors import ApplicationError
from annotation.importers import UnknownFormatError, importer_get
from annotation.importers.base import ImportIssue, ParsedItem, SkippedRecord
from annotation.models import Annotation, Dataset, ImportRun, Item, Project, ProjectKind, User
from annotation.services.users import user_imported_get_or_create

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


class ImportRejectedError(Exception):
    """Raised inside the transaction so that it rolls back; carries the result."""

    def __init__(self, result: ImportResult) -> None:
        super().__init__(result.message)
        self.result = result


_KIND_NEEDS = {
    ProjectKind.STEP_LABELS: ("steps", "a reasoning trace needs at least one step"),
    ProjectKind.DIALOGUE_CODING: ("turns", "a dialogue needs at least one turn"),
    ProjectKind.PREFERENCE: ("candidates", "a preference item needs at least two candidates"),
}


def _check_kind(item: ParsedItem, kind: str) -> ImportIssue | None:
    fld, message = _KIND_NEEDS[kind]
    n = len(getattr(item, fld))
    if n == 0 or (kind == ProjectKind.PREFERENCE and n < 2):
        return ImportIssue(item.line, fld, message)
    return None


def _default_group_key(item: ParsedItem) -> str:
    if item.group_key:
        return item.group_key
    if item.prompt.strip():
        norm = " ".join(item.prompt.split()).lower()
        return "p-" + hashlib.sha1(norm.encode(), usedforsecurity=False).hexdigest()[:16]
    return item.external_id


def import_format_check(*, project: Project, fmt: str) -> None:
    """Raise ValueError('format: reason') unless `fmt` is a known format for this project."""
    try:
        importer = importer_get(fmt)
    except UnknownFormatError as exc:
        raise ValueError(str(exc)) from None
    if project.kind not in importer.project_kinds:
        raise ValueError(
            f"format: {fmt} files hold {' or '.join(importer.project_kinds)} data; "
            f"project {project.slug!r} is a {project.kind} project"
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
        result.add_error(ImportIssue(None, "format", str(exc).split(": ", 1)[1]))
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
        importer.options_check(options=options, project_kind=project.kind)
    except ApplicationError as exc:
        result.add_error(ImportIssue(None, exc.field or "options", exc.message))
        return result
    options = {**options, "project_kind": project.kind}
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
    writer = _BulkWriter(project=project, dataset=dataset)
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
        problem = _check_kind(item, project.kind)
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
            writer.write(batch, result)
            batch = []
            if progress:
                progress(result.records_seen)
    if not result.ok:
        raise ImportRejectedError(result)
    if batch:
        writer.write(batch, result)
    if progress:
        progress(result.records_seen)
    if result.items_created >= ANALYZE_AFTER_ITEMS and connection.vendor == "postgresql":
        # Annotators start right after an import, before autovacuum's analyze: with the
        # statistics of an emptier table the claim query sorts every open item (46 ms at
        # 10,000 preference items) instead of walking item_stream_idx (0.2 ms). ANALYZE
        # counts this transaction's own rows and its statistics commit with them.
        with connection.cursor() as cur:
            cur.execute("ANALYZE annotation_item")


class _BulkWriter:
    """Writes parsed items and their children with ids allocated up front.

    PostgreSQL: ids come from the tables' sequences and rows go in with COPY. Other
    databases (SQLite): ids continue from MAX(id) — safe because the import holds the
    database's write lock for its whole transaction — and rows go in with executemany.
    """

    def __init__(self, *, project: Project, dataset: Dataset) -> None:
        self.project = project
        self.dataset = dataset
        self.postgres = connection.vendor == "postgresql"
        self._next_id: dict[str, int] = {}
        self._annotators: dict[str, int] = {}

    def _ids(self, table: str, n: int) -> list[int]:
        if n == 0:
            return []
        with connection.cursor() as cur:
            if self.postgres:
                cur.execute(
                    "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                    [table, n],
                )
                return [r[0] for r in cur.fetchall()]
            if table not in self._next_id:
                cur.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")  # noqa: S608 - fixed names
                self._next_id[table] = cur.fetchone()[0] + 1
        start = self._next_id[table]
        self._next_id[table] = start + n
        return list(range(start, start + n))

    def _insert(self, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
        if not rows:
            return
        cols = ", ".join(f'"{c}"' for c in columns)
        with connection.cursor() as cur:
            if self.postgres:
                with cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                marks = ", ".join(["%s"] * len(columns))
                cur.executemany(f"INSERT INTO {table} ({cols}) VALUES ({marks})", rows)  # noqa: S608

    def _annotator_id(self, name: str) -> int:
        if name not in self._annotators:
            self._annotators[name] = user_imported_get_or_create(username=name).id
        return self._annotators[name]

    def write(self, batch: list[tuple[ParsedItem, str]], result: ImportResult) -> None:
        now = timezone.now()
        if not self.postgres:
            now = connection.ops.adapt_datetimefield_value(now)
        item_ids = self._ids("annotation_item", len(batch))
        n_steps = sum(len(it.steps) for it, _ in batch)
        n_turns = sum(len(it.turns) for it, _ in batch)
        n_cands = sum(len(it.candidates) for it, _ in batch)
        n_anns = sum(len(it.annotations) for it, _ in batch)
        # Child rows need ids up front only when an imported label points at them; otherwise
        # the database assigns them during COPY (allocating 20k ids costs ~0.1 s).
        anns_of = [a for it, _ in batch for a in it.annotations]
        need_steps = any(a.step_ratings is not None for a in anns_of)
        need_turns = any(a.turn_labels for a in anns_of)
        need_cands = any(a.preferences or a.principle_ratings for a in anns_of)
        step_ids = iter(self._ids("annotation_step", n_steps) if need_steps else [None] * n_steps)
        turn_ids = iter(self._ids("annotation_turn", n_turns) if need_turns else [None] * n_turns)
        cand_ids = iter(
            self._ids("annotation_candidate", n_cands) if need_cands else [None] * n_cands
        )
        ann_ids = iter(self._ids("annotation_annotation", n_anns))
        items, steps, turns, cands, anns = [], [], [], [], []
        step_labels, turn_labels, prefs, principles = [], [], [], []
        dumps = json.dumps
        for (it, digest), item_id in zip(batch, item_ids, strict=True):
            items.append(
                (
                    item_id,
                    self.dataset.id,
                    self.project.id,
                    it.external_id,
                    _default_group_key(it),
                    it.prompt,
                    it.reference_answer,
                    it.final_answer,
                    it.final_answer_correct,
                    it.generator_model,
                    dumps(it.metadata, ensure_ascii=False) if it.metadata else "{}",
                    0,
                    digest,
                    now,
                )
            )
            sids = []
            for idx, text in enumerate(it.steps):
                sid = next(step_ids)
                sids.append(sid)
                steps.append((sid, item_id, idx, text) if need_steps else (item_id, idx, text))
            tids = []
            for idx, (speaker, text) in enumerate(it.turns):
                tid = next(turn_ids)
                tids.append(tid)
                turns.append(
                    (tid, item_id, idx, speaker, text)
                    if need_turns
                    else (item_id, idx, speaker, text)
                )
            cids = []
            for idx, c in enumerate(it.candidates):
                cid = next(cand_ids)
                cids.append(cid)
                meta = dumps(c.metadata, ensure_ascii=False) if c.metadata else "{}"
                row = (item_id, idx, c.text, c.source_model, meta)
                cands.append((cid, *row) if need_cands else row)
            for ann in it.annotations:
                aid = next(ann_ids)
                anns.append(
                    (
                        aid,
                        item_id,
                        self._annotator_id(ann.annotator),
                        Annotation.Source.IMPORTED,
                        ann.first_error_index,
                        ann.finish_reason,
                        ann.justification,
                        "",
                        None,
                        now,
                        now,
                    )
                )
                if ann.step_ratings is not None:
                    for sid, rating in zip(sids, ann.step_ratings, strict=True):
                        step_labels.append((aid, sid, rating, False, ""))
                for tl in ann.turn_labels:
                    turn_labels.append((aid, tids[tl.turn], tl.field, tl.value))
                for p in ann.preferences:
                    prefs.append((aid, cids[p.a], cids[p.b], p.strength, p.margin, None))
                for pr in ann.principle_ratings:
                    cand = cids[pr.candidate] if pr.candidate is not None else None
                    principles.append((aid, pr.principle, cand, pr.value))
        self._insert(
            "annotation_item",
            (
                "id", "dataset_id", "project_id", "external_id", "group_key", "prompt",
                "reference_answer", "final_answer", "final_answer_correct", "generator_model",
                "metadata", "priority", "content_hash", "created_at",
            ),
            items,
        )  # fmt: skip
        with_id = ("id",)
        self._insert("annotation_step", with_id * need_steps + ("item_id", "index", "text"), steps)
        self._insert(
            "annotation_turn", with_id * need_turns + ("item_id", "index", "speaker", "text"), turns
        )
        self._insert(
            "annotation_candidate",
            with_id * need_cands + ("item_id", "index", "text", "source_model", "metadata"),
            cands,
        )
        self._insert(
            "annotation_annotation",
            (
                "id", "item_id", "annotator_id", "source", "first_error_index", "finish_reason",
                "justification", "note", "time_spent_ms", "created_at", "updated_at",
            ),
            anns,
        )  # fmt: skip
        self._insert(
            "annotation_steplabel",
            ("annotation_id", "step_id", "rating", "cant_judge", "comment"),
            step_labels,
        )
        self._insert(
            "annotation_turnlabel", ("annotation_id", "turn_id", "field", "value"), turn_labels
        )
        self._insert(
            "annotation_preferencelabel",
            (
                "annotation_id",
                "candidate_a_id",
                "candidate_b_id",
                "strength",
                "margin",
                "left_candidate_id",
            ),
            prefs,
        )
        self._insert(
            "annotation_principlerating",
            ("annotation_id", "principle", "candidate_id", "value"),
            principles,
        )
        result.items_created += len(items)
        result.steps_created += len(steps)
        result.turns_created += len(turns)
        result.candidates_created += len(cands)
        result.annotations_created += len(anns)


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

    Raises ValueError('format: ...') at once for an unknown format or one that does not fit
    the project's kind, so the caller can answer 400 instead of queueing a doomed run.
    """
    from annotation.tasks import import_run_execute_task

    import_format_check(project=project, fmt=fmt)
    try:
        importer_get(fmt).options_check(options=options or {}, project_kind=project.kind)
    except ApplicationError as exc:
        raise ApplicationError(
            exc.message, code=exc.code, field=f"options.{exc.field or ''}".rstrip(".")
        ) from exc

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
