"""The export pipeline shared by every format: options, the per-split writers (JSONL or
Parquet, both streaming), train/test split by group key, deduplication, balancing.

A format is an `Exporter` subclass with `records(ctx)`: it turns item chunks into rows (plain
dicts) and says, per row, its group key (for the split) and its label class (for counts and
balancing). Everything else — files, manifest, dataset card — is common.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from annotation.aggregation import Aggregator, FinalLabel, Vote
from annotation.errors import ApplicationError
from annotation.exporters.source import AnnotationData, ItemData
from annotation.models import Annotation, Project

# Option name -> (default, validator description). Validation is in `options_validate`.
LABEL_MODES = ("final", "per_annotator")
FILE_FORMATS = ("jsonl", "json", "parquet")
TIE_MODES = ("drop", "separate")
PAIR_MODES = ("all", "best_vs_rest")
CONVERSATION_MODES = ("auto", "standard", "conversational")
NEUTRAL_MODES = ("true", "false", "drop")
SOURCE_MODES = ("annotators", "human", "imported")
# Which labels by where they came from: all; human-verified (no model label a human did not
# check: consensus auto-labels out, pre-filled steps in, each confirmed or changed by a
# human); unassisted (also no label made on a pre-filled form).
PROVENANCE_MODES = ("all", "human_verified", "unassisted")

DEFAULT_OPTIONS: dict[str, Any] = {
    "labels": "final",
    "sources": "annotators",
    "include_consensus": False,
    "provenance": "all",
    "min_confidence": 0.0,
    "min_agreement": None,
    "test_size": 0.0,
    "seed": 0,
    "dedup": True,
    "balance": False,
    "file_format": "jsonl",
    "ties": "drop",
    "pairs": "all",
    "conversational": "auto",
    "neutral": "true",
    "mc_values": False,
    "step_tag": "ки",
    "task": "",
    "truncate_after_first_error": True,
    "exclude_finish_reasons": ["give_up", "bad_problem"],
    "row_group_size": 5_000,
}
_CHOICES = {
    "labels": LABEL_MODES,
    "sources": SOURCE_MODES,
    "provenance": PROVENANCE_MODES,
    "file_format": FILE_FORMATS,
    "ties": TIE_MODES,
    "pairs": PAIR_MODES,
    "conversational": CONVERSATION_MODES,
    "neutral": NEUTRAL_MODES,
}


def options_validate(raw: dict[str, Any] | None) -> dict[str, Any]:
    """Defaults filled and values checked; raises ApplicationError (field
    `options.<name>`)."""
    raw = dict(raw or {})
    unknown = sorted(set(raw) - set(DEFAULT_OPTIONS))
    if unknown:
        raise ApplicationError("unknown option", field=f"options.{unknown[0]}")
    opts = {**DEFAULT_OPTIONS, **raw}
    for name, choices in _CHOICES.items():
        if opts[name] not in choices:
            raise ApplicationError(f"must be one of {', '.join(choices)}", field=f"options.{name}")
    for name in (
        "include_consensus",
        "dedup",
        "balance",
        "mc_values",
        "truncate_after_first_error",
    ):
        if not isinstance(opts[name], bool):
            raise ApplicationError("must be true or false", field=f"options.{name}")
    for name, lo, hi in (("min_confidence", 0.0, 1.0), ("test_size", 0.0, 0.9)):
        v = opts[name]
        if isinstance(v, bool) or not isinstance(v, int | float) or not lo <= v <= hi:
            raise ApplicationError(f"must be a number from {lo} to {hi}", field=f"options.{name}")
    ma = opts["min_agreement"]
    if ma is not None and (
        isinstance(ma, bool) or not isinstance(ma, int | float) or not 0 <= ma <= 1
    ):
        raise ApplicationError(
            "must be null or a number from 0 to 1", field="options.min_agreement"
        )
    if isinstance(opts["seed"], bool) or not isinstance(opts["seed"], int):
        raise ApplicationError("must be an integer", field="options.seed")
    rg = opts["row_group_size"]
    if isinstance(rg, bool) or not isinstance(rg, int) or not 100 <= rg <= 1_000_000:
        raise ApplicationError(
            "must be an integer from 100 to 1000000", field="options.row_group_size"
        )
    if not isinstance(opts["step_tag"], str) or not opts["step_tag"].strip():
        raise ApplicationError("must be a non-empty string", field="options.step_tag")
    if not isinstance(opts["task"], str):
        raise ApplicationError("must be a string", field="options.task")
    efr = opts["exclude_finish_reasons"]
    if not isinstance(efr, list) or not all(isinstance(x, str) for x in efr):
        raise ApplicationError("must be a list of strings", field="options.exclude_finish_reasons")
    return opts


@dataclass(slots=True)
class Row:
    data: dict[str, Any]
    group_key: str
    # The label class of the row: "positive"/"negative" (step data), "pair"/"tie" ...
    label: str
    # Rows with split "ties" go to their own file (ties exported separately).
    split: str | None = None
    # The row's JSON line and digest when the format made them itself
    # (`serialise_parts`); else the pipeline calls `serialise`.
    line: str | None = None
    digest: int = 0


@dataclass
class ExportContext:
    project: Project
    options: dict[str, Any]
    sources: tuple[str, ...]
    annotator_names: dict[int, str]
    aggregators: dict[str, Aggregator] = field(default_factory=dict)
    # Preference formats: prompts as message lists (decided once per export).
    conversational: bool = False
    # Filled while streaming, for the manifest.
    annotators_used: Counter[int] = field(default_factory=Counter)
    final_sources: Counter[str] = field(default_factory=Counter)
    step_labels: Counter[str] = field(default_factory=Counter)
    dropped: Counter[str] = field(default_factory=Counter)
    # Read once from the options: the per-item code runs 200,000 times in a big export.
    final: bool = field(init=False)
    rater_sources: frozenset[str] = field(init=False)
    excluded_finish: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        self.final = self.options["labels"] == "final"
        keep = {Annotation.Source.HUMAN, Annotation.Source.IMPORTED}
        if self.options["include_consensus"]:
            keep.add(Annotation.Source.CONSENSUS)
        self.rater_sources = frozenset(str(s) for s in keep if s in self.sources)
        self.excluded_finish = frozenset(self.options["exclude_finish_reasons"])

    def raters(self, item: ItemData) -> list[AnnotationData]:
        """The annotations that count as annotators' votes (consensus only when included)."""
        keep = self.rater_sources
        return [a for a in item.annotations if a.source in keep]

    def adjudicated(self, item: ItemData) -> AnnotationData | None:
        """A gold answer, else the latest adjudication."""
        adjudication = None
        for a in item.annotations:
            if a.source == _GOLD:
                gold = a
                for b in item.annotations:
                    if b.source == _GOLD:
                        gold = b
                return gold
            if a.source == _ADJUDICATION:
                adjudication = a
        return adjudication

    def final_label(
        self, field_key: str, votes: list[Vote], adjudicated: float | None
    ) -> FinalLabel | None:
        agg = self.aggregators.get(field_key) or _MAJORITY
        label = agg.final(votes, adjudicated)
        if label is not None:
            self.final_sources[label.source] += 1
        return label

    def name(self, annotator_id: int) -> str:
        return self.annotator_names.get(annotator_id, str(annotator_id))


_GOLD = str(Annotation.Source.GOLD)
_ADJUDICATION = str(Annotation.Source.ADJUDICATION)


def item_agreement(values: list[list[float | None]]) -> float | None:
    """Share of agreeing annotator pairs over the units of one item (units × annotators);
    None when no unit has two values."""
    agree = pairs = 0
    for unit in values:
        vals = [v for v in unit if v is not None]
        for i in range(len(vals)):
            for j in range(i + 1, len(vals)):
                pairs += 1
                agree += vals[i] == vals[j]
    return agree / pairs if pairs else None


def split_of(group_key: str, *, seed: int, test_size: float) -> str:
    """'test' for a seeded hash share of group keys, else 'train': a group (a problem, a
    question) is always wholly in one split."""
    if test_size <= 0:
        return "train"
    digest = hashlib.blake2b(f"{seed}:{group_key}".encode(), digest_size=8).digest()
    return "test" if int.from_bytes(digest, "big") / 2**64 < test_size else "train"


def _no_default(o: Any) -> Any:
    raise TypeError(f"Object of type {o.__class__.__name__} is not JSON serializable")


def _make_dumps() -> Callable[[Any], str]:
    """`json.JSONEncoder(ensure_ascii=False).encode`, same output, less overhead per call.

    The stock `encode` builds a new C encoder (and a dict for its circular-reference check)
    on every call; rows are trees of fresh dicts and lists, never circular, so one C
    encoder serves every call. Falls back to the stock encoder where the C one is absent.
    """
    c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
    c_encode_basestring = getattr(json.encoder, "c_encode_basestring", None)
    if c_make_encoder is None or c_encode_basestring is None:
        return json.JSONEncoder(ensure_ascii=False).encode
    encoder = c_make_encoder(
        None, _no_default, c_encode_basestring, None, ": ", ", ", False, False, True
    )
    join = "".join

    def dumps(o: Any) -> str:
        if isinstance(o, str):
            return c_encode_basestring(o)
        return join(encoder(o, 0))

    return dumps


_dumps = _make_dumps()


def serialise(data: dict[str, Any], ignore: tuple[str, ...]) -> tuple[str, int]:
    """(the JSON line of the row, an 8-byte digest of the columns that make it distinct).

    One encoding serves both: the distinguishing columns are encoded once, and the ignored
    ones (id, source, ...) are appended after them.
    """
    body = {k: v for k, v in data.items() if k not in ignore}
    body_json = _dumps(body)
    digest = int.from_bytes(hashlib.blake2b(body_json.encode(), digest_size=8).digest(), "big")
    extra = {k: data[k] for k in ignore if k in data}
    if not extra:
        return body_json, digest
    tail = _dumps(extra)
    line = body_json[:-1] + ", " + tail[1:] if body else tail
    return line, digest


def serialise_parts(body: dict[str, Any], tail: dict[str, Any]) -> tuple[str, int]:
    """`serialise({**body, **tail}, ignore)` for a row whose ignored columns are exactly
    `tail`, in the order of `ignore` — without splitting the row apart again."""
    body_json = _dumps(body)
    digest = int.from_bytes(hashlib.blake2b(body_json.encode(), digest_size=8).digest(), "big")
    if not tail:
        return body_json, digest
    tail_json = _dumps(tail)
    return (body_json[:-1] + ", " + tail_json[1:] if body else tail_json), digest


_MAJORITY = Aggregator(())


class Exporter:
    """One output format. Subclasses set the class attributes and implement `records`."""

    name: ClassVar[str]
    label: ClassVar[str]
    project_kinds: ClassVar[tuple[str, ...]]
    task_categories: ClassVar[tuple[str, ...]] = ()
    tags: ClassVar[tuple[str, ...]] = ()
    # Columns that do not make two rows different for deduplication.
    dedup_ignore: ClassVar[tuple[str, ...]] = ("id", "source", "annotator", "margin")
    balanceable: ClassVar[bool] = False
    # The fields whose Dawid–Skene aggregator is fitted before streaming (final labels).
    aggregate_fields: ClassVar[tuple[str, ...]] = ()
    # `file_format` when the caller gives none, and the ones this format can be written as.
    default_file_format: ClassVar[str] = "jsonl"
    file_formats: ClassVar[tuple[str, ...]] = ("jsonl", "parquet")
    # The reader fills AnnotationData.created_at for per-annotator rows only (it costs a
    # conversion per row); a format that shows it under final labels too says so here.
    annotation_times: ClassVar[bool] = False
    # The options the web form offers for this format (`annotation.exporters.explain` says
    # what each means); REST takes every option.
    web_options: ClassVar[tuple[str, ...]] = (
        "labels", "sources", "min_confidence", "include_consensus", "test_size", "seed",
        "dedup", "file_format",
    )  # fmt: skip

    def records(self, ctx: ExportContext, items: list[ItemData]) -> Iterator[Row]:
        raise NotImplementedError

    def arrow_schema(self, ctx: ExportContext) -> Any:
        raise NotImplementedError

    def manifest_extra(self, ctx: ExportContext) -> dict[str, Any]:
        return {}

    def extra_files(self, ctx: ExportContext) -> dict[str, str]:
        """Files written beside the data once every row is out: relative name -> text."""
        return {}


def exporter_options_validate(exporter: Exporter, raw: dict[str, Any] | None) -> dict[str, Any]:
    """`options_validate` with the format's default file format, refusing one it cannot
    be written as; raises ApplicationError (field `options.<name>`)."""
    opts = options_validate({"file_format": exporter.default_file_format, **(raw or {})})
    if opts["file_format"] not in exporter.file_formats:
        raise ApplicationError(
            f"{exporter.name} is written as {' or '.join(exporter.file_formats)}",
            field="options.file_format",
        )
    return opts


class SplitWriter:
    """Files of one config, one per split, written as rows arrive (JSONL line by line; JSON
    as one array, a row per line; Parquet in row groups of `row_group_size` through
    pyarrow's ParquetWriter)."""

    def __init__(
        self, out_dir: Path, config: str, file_format: str, schema: Callable[[], Any],
        row_group_size: int,
    ) -> None:  # fmt: skip
        self.out_dir = out_dir
        self.config = config
        self.file_format = file_format
        self.schema = schema
        self.row_group_size = row_group_size
        self._files: dict[str, Any] = {}
        self._buffers: dict[str, list[dict[str, Any]]] = {}
        self.counts: Counter[str] = Counter()

    def relpath(self, split: str) -> str:
        ext = self.file_format
        return f"{self.config}/{split}-00000-of-00001.{ext}"

    def write(self, split: str, row: dict[str, Any], line: str | None = None) -> None:
        """Write one row; `line` is its JSON encoding when the caller already has it."""
        self.counts[split] += 1
        if self.file_format in ("jsonl", "json"):
            fh = self._files.get(split)
            if fh is None:
                path = self.out_dir / self.relpath(split)
                path.parent.mkdir(parents=True, exist_ok=True)
                fh = self._files[split] = open(path, "w", encoding="utf-8", buffering=1 << 20)  # noqa: SIM115
                if self.file_format == "json":
                    fh.write("[\n")
            elif self.file_format == "json":
                fh.write(",\n")
            fh.write(line if line is not None else _dumps(row))
            if self.file_format == "jsonl":
                fh.write("\n")
            return
        buf = self._buffers.setdefault(split, [])
        buf.append(row)
        if len(buf) >= self.row_group_size:
            self._flush(split)

    def _flush(self, split: str) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        buf = self._buffers.get(split)
        if not buf:
            return
        schema = self.schema()
        writer = self._files.get(split)
        if writer is None:
            path = self.out_dir / self.relpath(split)
            path.parent.mkdir(parents=True, exist_ok=True)
            writer = self._files[split] = pq.ParquetWriter(path, schema, compression="zstd")
        writer.write_table(pa.Table.from_pylist(buf, schema=schema))
        self._buffers[split] = []

    def close(self) -> dict[str, str]:
        """Close every file; returns split -> relative path."""
        if self.file_format == "parquet":
            for split in list(self._buffers):
                self._flush(split)
        for fh in self._files.values():
            if self.file_format == "json":
                fh.write("\n]\n")
            fh.close()
        return {split: self.relpath(split) for split in self._files}
