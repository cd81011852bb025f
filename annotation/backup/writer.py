"""Writing a project backup: one gzip-compressed JSONL stream.

    {"format": "stepwise-project-backup", "version": 1, "project": {...}, ...}   header
    {"model": "user", "fields": ["id", "username", ...], "rows": [[...], ...]}    batches
    {"model": "annotation.item", "fields": ["id", "dataset_id", ...], "rows": [...]}
    ...
    {"end": true, "counts": {"annotation.item": 400, ...}}                       end marker

Sections come in dependency order, each model's rows in id order, in batches of at most
`BATCH_ROWS` rows (or about `BATCH_BYTES` of JSON). Fields are named per batch, so a backup
restores into a later version whose models gained fields (they take their defaults). The
end marker with per-model counts lets a restore refuse a truncated file.

Memory stays flat: rows are read with a server-side cursor and written batch by batch; on
PostgreSQL the whole backup reads one snapshot (REPEATABLE READ) when it owns its
transaction.
"""

from __future__ import annotations

import datetime as dt
import decimal
import gzip
import io
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO

from django.db import connection, transaction
from django.utils import timezone

from annotation.backup.registry import (
    USER_FIELDS,
    USER_SECTION,
    BackupSection,
    backup_sections,
)
from annotation.models import Project, User

FORMAT_NAME = "stepwise-project-backup"
FORMAT_VERSION = 1
BATCH_ROWS = 1000
BATCH_BYTES = 1 << 20
FETCH_ROWS = 5000
COMPRESS_LEVEL = 6


def _encode(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    raise TypeError(f"cannot back up a value of type {type(value).__name__}")


_dumps = json.JSONEncoder(ensure_ascii=False, default=_encode, separators=(",", ":")).encode


def section_fields(section: BackupSection) -> list[str]:
    """The attnames written for a section: every concrete field but those it leaves out,
    id first."""
    meta = section.model._meta
    pk = meta.pk.attname
    skip = {pk, *section.fields_left_out}
    return [pk] + [f.attname for f in meta.concrete_fields if f.attname not in skip]


def _section_rows(section: BackupSection, project: Project, fields: list[str]) -> Iterator[Any]:
    manager = section.model._base_manager
    qs = (
        manager.filter(pk=project.pk)
        if not section.project_path
        else manager.filter(**{section.project_path: project})
    )
    return qs.order_by("pk").values_list(*fields).iterator(chunk_size=FETCH_ROWS)


def _referenced_user_ids(project: Project, sections: list[BackupSection]) -> set[int]:
    ids: set[int] = set()
    for section in sections:
        for f in section.model._meta.concrete_fields:
            if f.is_relation and f.related_model is User:
                manager = section.model._base_manager
                qs = (
                    manager.filter(pk=project.pk)
                    if not section.project_path
                    else manager.filter(**{section.project_path: project})
                )
                # order_by(): a model's default ordering would join DISTINCT (every row).
                ids.update(
                    qs.exclude(**{f.attname: None})
                    .order_by()
                    .values_list(f.attname, flat=True)
                    .distinct()
                )
    return ids


def _lines(project: Project) -> Iterator[str]:
    """The backup's lines (JSON text, newline-terminated), in order."""
    from annotation.exporters.pipeline import code_version

    sections = backup_sections()
    yield (
        _dumps(
            {
                "format": FORMAT_NAME,
                "version": FORMAT_VERSION,
                "created_at": timezone.now().isoformat(timespec="seconds"),
                "code_version": code_version(),
                "database": connection.vendor,
                "project": {"slug": project.slug, "name": project.name, "kind": project.kind},
                "sections": [USER_SECTION] + [s.label for s in sections],
            }
        )
        + "\n"
    )
    counts: dict[str, int] = {}
    user_fields = ["id", *USER_FIELDS]
    users = (
        User.objects.filter(id__in=_referenced_user_ids(project, sections))
        .order_by("id")
        .values_list(*user_fields)
    )
    yield from _batches(USER_SECTION, user_fields, users.iterator(), counts)
    for section in sections:
        fields = section_fields(section)
        rows = _section_rows(section, project, fields)
        yield from _batches(section.label, fields, rows, counts)
    yield _dumps({"end": True, "counts": counts}) + "\n"


def _batches(
    label: str, fields: list[str], rows: Iterator[Any], counts: dict[str, int]
) -> Iterator[str]:
    head = _dumps({"model": label, "fields": fields})[:-1] + ',"rows":['
    batch: list[str] = []
    size = 0
    n = 0
    for row in rows:
        encoded = _dumps(row)
        batch.append(encoded)
        size += len(encoded)
        n += 1
        if len(batch) >= BATCH_ROWS or size >= BATCH_BYTES:
            yield head + ",".join(batch) + "]}\n"
            batch, size = [], 0
    if batch:
        yield head + ",".join(batch) + "]}\n"
    counts[label] = n


def backup_chunks(*, project: Project) -> Iterator[bytes]:
    """The gzip-compressed backup of `project`, as a stream of byte chunks (for a
    download); reads one snapshot on PostgreSQL when not inside a transaction already."""
    buffer = io.BytesIO()
    with _snapshot(), gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=COMPRESS_LEVEL,
                                    mtime=0) as gz:  # fmt: skip
        for line in _lines(project):
            gz.write(line.encode())
            if buffer.tell() >= BATCH_BYTES:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue()


def backup_write(*, project: Project, out: BinaryIO) -> int:
    """Write the backup of `project` to `out`; returns the bytes written."""
    written = 0
    for chunk in backup_chunks(project=project):
        out.write(chunk)
        written += len(chunk)
    return written


@contextmanager
def _snapshot() -> Iterator[None]:
    """One transaction for the whole backup; REPEATABLE READ on PostgreSQL, so every
    section sees the same moment. Inside a caller's transaction, that one is used."""
    if connection.in_atomic_block:
        yield
        return
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cur:
                cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        yield
