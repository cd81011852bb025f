"""Restoring a project backup (see `annotation.backup.writer` for the format).

All or nothing: every row is inserted in one transaction, and anything wrong — a newer
format, a slug that exists, a row that does not fit its model, a truncated file — raises
`ApplicationError` naming the line, and nothing is kept.

Rows are inserted in the order they were written (each model's rows in old id order), so
new ids keep the old order and everything that orders by id (exports, agreement) sees the
project as it was. Foreign keys are remapped through `IdMaps`; users are matched by
username and created (without a usable password) when missing.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from django.core.exceptions import ValidationError
from django.db import DatabaseError, IntegrityError, connection, models, transaction
from django.db.models.fields import NOT_PROVIDED

from annotation.backup.convert import Converter, field_converter
from annotation.backup.idmap import IdMaps
from annotation.backup.registry import USER_FIELDS, USER_SECTION, BackupSection, backup_section_get
from annotation.backup.writer import FORMAT_NAME, FORMAT_VERSION
from annotation.errors import ApplicationError
from annotation.models import Project, User
from annotation.services.item_search import project_search_refresh

# One line holds a batch of at most 1,000 rows (~1 MB); a single very large row may be
# bigger. Anything over this is refused rather than read into memory.
MAX_LINE_BYTES = 256 << 20
_USER_LABEL = User._meta.label_lower
_PROJECT_LABEL = Project._meta.label_lower


def _bad(message: str, **kw: Any) -> ApplicationError:
    return ApplicationError(message, code="invalid_backup", **kw)


def _open(stream: BinaryIO) -> BinaryIO:
    """The backup's bytes, gunzipped when they are gzip (by their magic number). The
    stream must be seekable (a file, an upload, BytesIO)."""
    start = stream.tell()
    magic = stream.read(4)
    stream.seek(start)
    if magic[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=stream, mode="rb")  # type: ignore[return-value]
    if magic == b"\x28\xb5\x2f\xfd":
        raise _bad("this is a zstd-compressed file; Stepwise writes and reads gzip backups")
    return stream


def _lines(stream: BinaryIO) -> Iterator[tuple[int, Any]]:
    f = _open(stream)
    n = 0
    while True:
        try:
            raw = f.readline(MAX_LINE_BYTES + 1)
        except (OSError, EOFError, zlib.error) as exc:
            raise _bad(f"line {n + 1}: the file is damaged or cut short ({exc})") from None
        if not raw:
            return
        n += 1
        if len(raw) > MAX_LINE_BYTES:
            raise _bad(f"line {n}: longer than {MAX_LINE_BYTES >> 20} MB")
        if not raw.strip():
            continue
        try:
            yield n, json.loads(raw)
        except ValueError as exc:
            raise _bad(f"line {n}: not JSON ({exc})") from None


def backup_header_check(header: Any) -> dict[str, Any]:
    """The header line, checked; raises ApplicationError for another format or a newer
    version than this server reads."""
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise _bad("line 1: not a Stepwise project backup (no backup header)")
    version = header.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise _bad("line 1: the backup header has no valid version")
    if version > FORMAT_VERSION:
        raise ApplicationError(
            f"this backup was written in backup format version {version}, newer than this "
            f"Stepwise reads (version {FORMAT_VERSION}); upgrade Stepwise to restore it",
            code="unsupported_version",
        )
    project = header.get("project")
    if not isinstance(project, dict) or not isinstance(project.get("slug"), str):
        raise _bad("line 1: the backup header names no project")
    return header


@dataclass
class _Plan:
    """How to turn one batch's rows (of given fields) into INSERT parameters."""

    fields: list[models.Field]  # the model fields inserted, in order
    positions: list[int | None]  # for each: its column in the row, None = default
    defaults: list[Any]  # for each: the (converted) default when it is not in the row
    converters: list[Converter]
    pk_position: int


class _Restore:
    def __init__(self, header: dict[str, Any], slug: str | None) -> None:
        self.header = header
        self.slug = slug
        self.maps = IdMaps()
        self.project: Project | None = None
        self.counts: dict[str, int] = {}
        self.ended = False
        self._plans: dict[tuple[str, tuple[str, ...]], _Plan] = {}

    # --- one line ---------------------------------------------------------------------

    def line(self, n: int, obj: Any) -> None:
        if self.ended:
            raise _bad(f"line {n}: data after the end marker")
        if not isinstance(obj, dict):
            raise _bad(f"line {n}: expected an object")
        if obj.get("end") is True:
            self._end(n, obj)
            return
        label, fields, rows = obj.get("model"), obj.get("fields"), obj.get("rows")
        if (
            not isinstance(label, str)
            or not isinstance(fields, list)
            or not all(isinstance(f, str) for f in fields)
            or not isinstance(rows, list)
        ):
            raise _bad(f"line {n}: expected model, fields and rows")
        for row in rows:
            if not isinstance(row, list) or len(row) != len(fields):
                raise _bad(f"line {n}: a {label} row does not have {len(fields)} values")
        try:
            if label == USER_SECTION:
                self._users(fields, rows)
            else:
                section = backup_section_get(label)
                if section is None:
                    raise _bad(f"unknown section {label!r}")
                self._rows(section, fields, rows)
        except ApplicationError as exc:
            if exc.field == "slug":  # about the slug asked for, not about the file
                raise
            raise ApplicationError(
                f"line {n} ({label}): {exc.message}", code=exc.code, field=exc.field,
                details={"line": n, "model": label},
            ) from None  # fmt: skip
        self.counts[label] = self.counts.get(label, 0) + len(rows)

    def _end(self, n: int, obj: dict[str, Any]) -> None:
        expected = obj.get("counts")
        if not isinstance(expected, dict):
            raise _bad(f"line {n}: the end marker has no counts")
        for label, count in expected.items():
            if self.counts.get(label, 0) != count:
                raise _bad(
                    f"line {n}: the backup announces {count} {label} rows but holds "
                    f"{self.counts.get(label, 0)}"
                )
        self.ended = True

    # --- users ------------------------------------------------------------------------

    def _users(self, fields: list[str], rows: list[list[Any]]) -> None:
        if "id" not in fields or "username" not in fields:
            raise _bad("user rows need id and username")
        unknown = set(fields) - {"id", *USER_FIELDS}
        if unknown:
            raise _bad(f"unknown user field {sorted(unknown)[0]!r}")
        users = self.maps.map(_USER_LABEL)
        for row in rows:
            values = dict(zip(fields, row, strict=True))
            old = values.pop("id")
            if not isinstance(old, int):
                raise _bad("a user id is not an integer")
            user = User.objects.filter(username=values["username"]).first()
            if user is None:
                user = User(**{k: v for k, v in values.items() if v is not None})
                try:
                    user.full_clean(exclude=["password"])
                except ValidationError as exc:
                    raise _bad(f"user {values['username']!r}: {_message(exc)}") from None
                user.set_unusable_password()
                user.save()
            users.add(old, user.id)

    # --- section rows -----------------------------------------------------------------

    def _plan(self, section: BackupSection, fields: list[str]) -> _Plan:
        key = (section.label, tuple(fields))
        plan = self._plans.get(key)
        if plan is not None:
            return plan
        meta = section.model._meta
        by_att = {f.attname: f for f in meta.concrete_fields}
        unknown = [f for f in fields if f not in by_att]
        if unknown:
            raise _bad(f"field {unknown[0]!r} is unknown to this version of Stepwise")
        pk = meta.pk.attname
        if pk not in fields:
            raise _bad(f"rows have no {pk}")
        insert: list[models.Field] = []
        positions: list[int | None] = []
        defaults: list[Any] = []
        for f in meta.concrete_fields:
            if f.attname == pk:
                continue
            if f.attname in fields and f.attname not in section.fields_left_out:
                insert.append(f)
                positions.append(fields.index(f.attname))
                defaults.append(None)
            elif f.has_default():
                insert.append(f)
                positions.append(None)
                defaults.append(f.get_db_prep_save(f.get_default(), connection))
            elif f.db_default is not NOT_PROVIDED:
                continue  # the database fills it
            elif f.null:
                insert.append(f)
                positions.append(None)
                defaults.append(None)
            else:
                raise _bad(f"rows lack field {f.attname!r}, which has no default")
        converters = [
            field_converter(f, self.maps, section.soft_refs.get(f.attname)) for f in insert
        ]
        plan = _Plan(insert, positions, defaults, converters, fields.index(pk))
        self._plans[key] = plan
        return plan

    def _rows(self, section: BackupSection, fields: list[str], rows: list[list[Any]]) -> None:
        plan = self._plan(section, fields)
        is_project = section.model is Project
        if is_project and (self.project is not None or len(rows) != 1):
            raise _bad("a backup holds exactly one project")
        if not is_project and self.project is None:
            raise _bad("rows before the project")
        olds, params_rows = [], []
        # Rows whose values a hook rewrites (or the project's slug) go through a dict; the
        # rest straight from the row to the converters.
        by_name = section.transform is not None or is_project
        layout = list(zip(plan.converters, plan.positions, plan.defaults, strict=True))
        for row in rows:
            old = row[plan.pk_position]
            if type(old) is not int:
                raise _bad("an id is not an integer")
            try:
                if by_name:
                    params = self._by_name(section, plan, row, is_project)
                else:
                    params = [
                        default if pos is None else convert(row[pos])
                        for convert, pos, default in layout
                    ]
            except ApplicationError as exc:
                if exc.field == "slug":
                    raise
                raise _bad(f"row {old}: {exc.message}") from None
            olds.append(old)
            params_rows.append(params)
        new_ids = _insert(section.model, plan.fields, params_rows)
        id_map = self.maps.map(section.label)
        for old, new in zip(olds, new_ids, strict=True):
            id_map.add(old, new)
        if is_project:
            self.project = Project.objects.get(pk=new_ids[0])

    def _by_name(
        self, section: BackupSection, plan: _Plan, row: list[Any], is_project: bool
    ) -> list[Any]:
        values = {
            f.attname: (None if pos is None else row[pos])
            for f, pos in zip(plan.fields, plan.positions, strict=True)
        }
        if section.transform is not None:
            section.transform(values, self.maps)
        if is_project:
            values["slug"] = self._project_slug(values.get("slug"))
        out = []
        for f, convert, pos, default in zip(
            plan.fields, plan.converters, plan.positions, plan.defaults, strict=True
        ):
            value = values[f.attname]
            # Not in the file and not set by the hook: the field's default.
            out.append(default if pos is None and value is None else convert(value))
        return out

    def _project_slug(self, slug: Any) -> str:
        slug = self.slug or slug
        field = Project._meta.get_field("slug")
        try:
            slug = field.clean(slug, None)
        except ValidationError as exc:
            raise ApplicationError(_message(exc), field="slug", code="invalid") from None
        if Project.objects.filter(slug=slug).exists():
            raise ApplicationError(
                # As for a new project: the message does not say whether a project holds
                # the slug (the caller may not be allowed to see it).
                f"the slug {slug!r} is not available; restore the backup under another slug",
                field="slug",
                code="conflict",
            )
        return slug


def _message(exc: ValidationError) -> str:
    return "; ".join(exc.messages)


def _insert(
    model: type[models.Model], fields: list[models.Field], rows: list[list[Any]]
) -> list[int]:
    """Insert the rows (already converted) in order under new, increasing ids; returns the
    ids. PostgreSQL: ids from the table's sequence, rows by COPY. SQLite (one writer, so the
    ids after the largest are free): executemany."""
    if not rows:
        return []
    qn = connection.ops.quote_name
    table, pk = model._meta.db_table, model._meta.pk.column
    cols = ", ".join(qn(c) for c in [pk, *(f.column for f in fields)])
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            import psycopg

            cur.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                [table, pk, len(rows)],
            )
            ids = sorted(r[0] for r in cur.fetchall())
            try:
                with cur.copy(f"COPY {qn(table)} ({cols}) FROM STDIN") as copy:
                    for new_id, row in zip(ids, rows, strict=True):
                        copy.write_row((new_id, *row))
            except (psycopg.Error, DatabaseError) as exc:
                raise _bad(f"rows break a database rule: {_first_line(exc)}") from None
            return ids
        cur.execute(
            f"SELECT MAX(COALESCE((SELECT MAX({qn(pk)}) FROM {qn(table)}), 0), "  # noqa: S608
            "COALESCE((SELECT seq FROM sqlite_sequence WHERE name = %s), 0))",
            [table],
        )
        start = cur.fetchone()[0] + 1
        ids = list(range(start, start + len(rows)))
        marks = ", ".join(["%s"] * (len(fields) + 1))
        try:
            cur.executemany(
                f"INSERT INTO {qn(table)} ({cols}) VALUES ({marks})",  # noqa: S608
                [(new_id, *row) for new_id, row in zip(ids, rows, strict=True)],
            )
        except (IntegrityError, DatabaseError) as exc:
            raise _bad(f"rows break a database rule: {_first_line(exc)}") from None
        return ids


def _first_line(exc: Exception) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0]


def restore(*, stream: BinaryIO, slug: str | None = None) -> Project:
    """Restore the backup read from `stream` as a new project (under `slug` if given);
    one transaction, so a failure leaves nothing behind."""
    lines = _lines(stream)
    first = next(lines, None)
    if first is None:
        raise _bad("the file is empty")
    state = _Restore(backup_header_check(first[1]), slug)
    with transaction.atomic():
        for n, obj in lines:
            state.line(n, obj)
        if not state.ended:
            raise _bad("the backup ends before its end marker: the file is cut short")
        if state.project is None:
            raise _bad("the backup holds no project")
        project_search_refresh(project_id=state.project.id)
    return state.project
