"""Shared pieces of the importers: parsed records, problems, and streaming readers.

Importers are pure: they turn bytes into `ParsedItem`s, `ImportIssue`s (a problem with a line
or row number and a field) and `SkippedRecord`s (valid input we deliberately do not import,
with the reason). They never touch the database; `annotation.services.imports` writes.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO, ClassVar

from annotation.importers.values import MAX_DEPTH, JsonReader, ValueProblem, first_nul


@dataclass(slots=True)
class ImportIssue:
    line: int | None
    field: str
    message: str
    # What `line` counts: "line" (JSONL), "row" (CSV record) or "record" (JSON array).
    unit: str = "line"

    def as_dict(self) -> dict[str, Any]:
        return {self.unit: self.line, "field": self.field, "message": self.message}

    def __str__(self) -> str:
        where = f"{self.unit} {self.line}" if self.line is not None else "file"
        if self.field and self.field != where:
            return f"{where}: {self.field}: {self.message}"
        return f"{where}: {self.message}"


@dataclass(slots=True)
class SkippedRecord:
    line: int | None
    reason: str


class RecordError(Exception):
    """A problem in one record; the reader adds the line number."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class FatalRecordError(RecordError):
    """A problem in one record that would repeat on every later one (a split pattern that
    runs out of time): the reader reports it and stops reading the file."""


@dataclass(slots=True)
class ParsedCandidate:
    text: str
    source_model: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class ParsedTurnLabel:
    turn: int
    field: str
    value: str


@dataclass(slots=True)
class ParsedPreference:
    """strength -3..+3: negative = candidate a better, positive = b better."""

    a: int
    b: int
    strength: int
    margin: float | None = None


@dataclass(slots=True)
class ParsedPrincipleRating:
    principle: str
    candidate: int | None
    value: int


@dataclass(slots=True)
class ParsedAnnotation:
    """Labels that came with the file, credited to an imported annotator named `annotator`."""

    annotator: str
    first_error_index: int | None = None
    finish_reason: str = ""
    # One entry per step: -1/0/+1, or None for unlabeled.
    step_ratings: list[int | None] | None = None
    turn_labels: list[ParsedTurnLabel] = field(default_factory=list)
    preferences: list[ParsedPreference] = field(default_factory=list)
    principle_ratings: list[ParsedPrincipleRating] = field(default_factory=list)
    justification: str = ""


@dataclass(slots=True)
class ParsedItem:
    line: int | None
    external_id: str
    prompt: str = ""
    group_key: str = ""
    reference_answer: str = ""
    final_answer: str = ""
    final_answer_correct: bool | None = None
    generator_model: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    steps: list[str] = field(default_factory=list)
    turns: list[tuple[str, str]] = field(default_factory=list)
    candidates: list[ParsedCandidate] = field(default_factory=list)
    annotations: list[ParsedAnnotation] = field(default_factory=list)

    def content_hash(self) -> str:
        """sha256 over everything imported except the line number.

        Each part is length-prefixed, so the encoding is unambiguous without serialising the
        whole record as JSON (dataclasses.asdict + json.dumps was half of the import time).
        """
        dumps = json.dumps
        parts: list[str] = [
            self.external_id,
            self.prompt,
            self.group_key,
            self.reference_answer,
            self.final_answer,
            repr(self.final_answer_correct),
            self.generator_model,
            dumps(self.metadata, sort_keys=True, default=str) if self.metadata else "",
            str(len(self.steps)),
            *self.steps,
            str(len(self.turns)),
        ]
        for speaker, text in self.turns:
            parts += (speaker, text)
        parts.append(str(len(self.candidates)))
        for c in self.candidates:
            meta = dumps(c.metadata, sort_keys=True, default=str) if c.metadata else ""
            parts += (c.text, c.source_model, meta)
        for a in self.annotations:
            parts.append(
                repr(
                    (
                        a.annotator,
                        a.first_error_index,
                        a.finish_reason,
                        a.step_ratings,
                        [(t.turn, t.field, t.value) for t in a.turn_labels],
                        [(p.a, p.b, p.strength, p.margin) for p in a.preferences],
                        [(r.principle, r.candidate, r.value) for r in a.principle_ratings],
                        a.justification,
                    )
                )
            )
        blob = "\x1f".join([f"{len(p)}:{p}" for p in parts])
        return hashlib.sha256(blob.encode()).hexdigest()


ParseEvent = ParsedItem | ImportIssue | SkippedRecord

# The one message for a file without a single record, whatever its format and entry point.
EMPTY_FILE = "the file is empty: it holds no records"


class Importer:
    """One external format. Subclasses set the class attributes and implement `parse`."""

    name: ClassVar[str]
    label: ClassVar[str]
    project_kinds: ClassVar[tuple[str, ...]]
    extensions: ClassVar[tuple[str, ...]] = ()
    # Options the format takes (name -> help). Those in `path_options` name a file on the
    # server and are taken from the command line only, never from an upload.
    options_help: ClassVar[dict[str, str]] = {}
    path_options: ClassVar[tuple[str, ...]] = ()
    # Formats that cut reasoning text into steps take the `split` option (annotation.
    # importers.split); this is their default. None: the format takes no split.
    split_default: ClassVar[str | None] = None

    def options_check(self, *, options: dict[str, Any], project_kind: str | None) -> None:
        """Check option values for a project of `project_kind` before any file is read
        (an upload is refused at once); raises ApplicationError. Most formats need not."""

    def parse(
        self, stream: BinaryIO, *, options: dict[str, Any], max_line_bytes: int
    ) -> Iterator[ParseEvent]:
        raise NotImplementedError


# --- readers ------------------------------------------------------------------------------


def _decode_problem(exc: UnicodeDecodeError) -> str:
    bad = exc.object[exc.start : exc.start + 1]
    return f"not valid UTF-8 (byte 0x{bad.hex()} at column {exc.start + 1})"


def iter_jsonl(stream: BinaryIO, *, max_line_bytes: int) -> Iterator[tuple[int, Any] | ImportIssue]:
    """Yield (line number, decoded JSON value) per non-blank line, or an ImportIssue.

    Reads one bounded line at a time, so a multi-gigabyte line never lands in memory.
    """
    lineno = 0
    reader = JsonReader()
    while True:
        raw = stream.readline(max_line_bytes + 1)
        if not raw:
            return
        lineno += 1
        if len(raw) > max_line_bytes and not raw.endswith(b"\n"):
            # Drain the rest of the oversized line.
            while True:
                rest = stream.readline(1 << 20)
                if not rest or rest.endswith(b"\n"):
                    break
            yield ImportIssue(
                lineno, "", f"line is longer than the limit of {max_line_bytes} bytes"
            )
            continue
        if lineno == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield ImportIssue(lineno, "", _decode_problem(exc))
            continue
        try:
            yield lineno, reader.decode(text)
        except json.JSONDecodeError as exc:
            yield ImportIssue(lineno, "", f"invalid JSON: {exc.msg} at column {exc.colno}")
        except ValueProblem as exc:
            yield ImportIssue(lineno, exc.path, exc.message)


def parse_jsonl_records(
    stream: BinaryIO,
    *,
    max_line_bytes: int,
    parse_record: Callable[[Any, int], ParseEvent | list[ParseEvent]],
) -> Iterator[ParseEvent]:
    """The JSONL importers' loop: decode each line, parse it into one or more events, and
    turn a RecordError into an ImportIssue carrying the line number."""
    for ev in iter_jsonl(stream, max_line_bytes=max_line_bytes):
        if isinstance(ev, ImportIssue):
            yield ev
            continue
        line, obj = ev
        try:
            out = parse_record(obj, line)
        except RecordError as exc:
            yield ImportIssue(line, exc.field, exc.message)
            if isinstance(exc, FatalRecordError):
                return
            continue
        except RecursionError:  # a value nested just under the decoder's own limit
            yield ImportIssue(line, "", f"is nested more than {MAX_DEPTH} levels deep")
            continue
        if isinstance(out, list):
            yield from out
        else:
            yield out


def read_json_document(stream: BinaryIO, *, max_bytes: int) -> Any | ImportIssue:
    """Decode a whole JSON document (for formats that ship one JSON array)."""
    raw = stream.read(max_bytes + 1)
    if len(raw) > max_bytes:
        return ImportIssue(None, "", f"file is larger than the limit of {max_bytes} bytes")
    if raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8) :]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1)
        bad = raw[exc.start : exc.start + 1]
        return ImportIssue(line, "", f"not valid UTF-8 (byte 0x{bad.hex()} at column {col + 1})")
    if not text.strip():
        return ImportIssue(None, "file", EMPTY_FILE)
    try:
        return JsonReader().decode(text)
    except json.JSONDecodeError as exc:
        return ImportIssue(exc.lineno, "", f"invalid JSON: {exc.msg} at column {exc.colno}")
    except ValueProblem as exc:
        # "[12].metadata.x" -> record 13, field "metadata.x"
        head, sep, rest = exc.path.partition("]")
        if exc.path.startswith("[") and sep and head[1:].isdigit():
            return ImportIssue(int(head[1:]) + 1, rest.lstrip("."), exc.message, "record")
        return ImportIssue(None, exc.path, exc.message)


def iter_csv(
    stream: BinaryIO, *, required: Iterable[str], max_line_bytes: int
) -> Iterator[tuple[int, dict[str, str]] | ImportIssue]:
    """Yield (row number, row) for each CSV data row; row 1 is the header.

    A missing column stops the file with one issue; a non-UTF-8 row is reported with its row
    number and reading goes on with the next row.
    """
    text = _Utf8LineReader(stream, max_line_bytes=max_line_bytes)
    reader = csv.reader(text)
    try:
        header = next(reader)
        while not any(h.strip() for h in header):  # blank lines before the header
            header = next(reader)
    except StopIteration:
        yield ImportIssue(None, "file", EMPTY_FILE, "row")
        return
    except _LineProblem as exc:
        yield ImportIssue(exc.line, "", exc.message, "row")
        return
    header = [h.strip() for h in header]
    missing = [c for c in required if c not in header]
    if missing:
        yield ImportIssue(1, ", ".join(missing), "missing column(s) in the header row", "row")
        return
    rowno = 1
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except _LineProblem as exc:
            rowno += 1
            yield ImportIssue(rowno, "", exc.message, "row")
            continue
        except csv.Error as exc:
            rowno += 1
            yield ImportIssue(rowno, "", f"malformed CSV: {exc}", "row")
            continue
        rowno += 1
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(header):
            yield ImportIssue(
                rowno, "", f"has {len(values)} fields, the header has {len(header)}", "row"
            )
            continue
        if text.nul_seen:
            text.nul_seen = False
            problem = first_nul(header, values)
            if problem:
                yield ImportIssue(rowno, problem.path, problem.message, "row")
                continue
        yield rowno, dict(zip(header, values, strict=True))


class _LineProblem(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


class _Utf8LineReader(io.TextIOBase):
    """Iterates decoded physical lines for csv.reader, raising _LineProblem for a bad line.

    A quoted CSV field may span several physical lines, so row numbers reported by iter_csv
    count CSV records (as spreadsheet users see them), not physical lines.
    """

    def __init__(self, stream: BinaryIO, *, max_line_bytes: int) -> None:
        self._stream = stream
        self._max = max_line_bytes
        self._physical = 0
        # Set when a line holds a NUL byte; iter_csv names the column and resets it.
        self.nul_seen = False

    def __iter__(self) -> _Utf8LineReader:  # type: ignore[override]  # an iterator of str
        return self

    def __next__(self) -> str:  # type: ignore[override]  # text, not the stub's bytes
        raw = self._stream.readline(self._max + 1)
        if not raw:
            raise StopIteration
        self._physical += 1
        if self._physical == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]
        if len(raw) > self._max and not raw.endswith(b"\n"):
            while True:
                rest = self._stream.readline(1 << 20)
                if not rest or rest.endswith(b"\n"):
                    break
            raise _LineProblem(
                self._physical, f"line is longer than the limit of {self._max} bytes"
            )
        if b"\x00" in raw:
            self.nul_seen = True
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _LineProblem(self._physical, _decode_problem(exc)) from None


# --- field helpers (raise RecordError naming the field) ------------------------------------


def req_str(
    obj: dict[str, Any], key: str, *, path: str | None = None, allow_empty: bool = False
) -> str:
    name = path or key
    if key not in obj or obj[key] is None:
        raise RecordError(name, "is required")
    value = obj[key]
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise RecordError(name, f"must be a string, got {type_name(value)}")
    value = str(value)
    if not allow_empty and not value.strip():
        raise RecordError(name, "must not be empty")
    return value


def opt_str(obj: dict[str, Any], key: str, *, path: str | None = None) -> str:
    if obj.get(key) is None:
        return ""
    value = obj[key]
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise RecordError(path or key, f"must be a string, got {type_name(value)}")
    return str(value)


def opt_bool(obj: dict[str, Any], key: str, *, path: str | None = None) -> bool | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise RecordError(path or key, f"must be true, false or null, got {type_name(value)}")
    return value


def req_int(obj: dict[str, Any], key: str, *, path: str | None = None) -> int:
    name = path or key
    if key not in obj or obj[key] is None:
        raise RecordError(name, "is required")
    value = obj[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise RecordError(name, f"must be an integer, got {type_name(value)}")
    return value


def req_str_list(obj: dict[str, Any], key: str, *, path: str | None = None) -> list[str]:
    """A non-empty list of non-empty strings."""
    name = path or key
    if key not in obj or obj[key] is None:
        raise RecordError(name, "is required")
    value = obj[key]
    if not isinstance(value, list):
        raise RecordError(name, f"must be a list of strings, got {type_name(value)}")
    if not value:
        raise RecordError(name, "must not be empty")
    out = []
    for i, v in enumerate(value):
        if not isinstance(v, str):
            raise RecordError(f"{name}[{i}]", f"must be a string, got {type_name(v)}")
        if not v.strip():
            raise RecordError(f"{name}[{i}]", "must not be empty")
        out.append(v)
    return out


def req_object(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RecordError(name, f"must be an object, got {type_name(value)}")
    return value


_TYPE_NAMES = {type(None): "null", bool: "boolean", int: "integer", float: "number",
               str: "string", list: "list", dict: "object"}  # fmt: skip


def type_name(value: Any) -> str:
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def gsm8k_final_answer(text: str) -> str:
    """The answer after the last `####` (GSM8K), else after a last-line `A:`; '' if neither.

    Spaces, thousands commas and a leading `$` are stripped, as GSM8K graders do.
    """
    answer = ""
    if "####" in text:
        answer = text.rsplit("####", 1)[1]
    else:
        last = text.strip().splitlines()[-1] if text.strip() else ""
        if last.startswith("A:"):
            answer = last[2:]
    return answer.strip().replace(",", "").lstrip("$").strip()
