"""The bulk writer behind `dataset_import`: parsed items and their children in a few
statements per batch (COPY on PostgreSQL, executemany elsewhere).

Table and column names come from the models' `_meta` (`CopyTable`), never from string
literals, so renaming a field moves the SQL with it, and a new column the writer does not
fill must have a database default or allow NULL (tests/annotation/services/test_import_writer.py
checks every table), so a model change breaks a test rather than a user's import.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection, models
from django.utils import timezone

from annotation.importers.base import ParsedItem
from annotation.models import (
    Annotation,
    Candidate,
    Dataset,
    Item,
    PreferenceLabel,
    PrincipleRating,
    Project,
    Step,
    StepLabel,
    Turn,
    TurnLabel,
)
from annotation.services.import_copy import CopyPipeline
from annotation.services.item_search import SEARCH_VECTOR_OF_STAGE, search_text_of
from annotation.services.users import user_imported_get_or_create


@dataclass(frozen=True, slots=True)
class CopyTable:
    """A model and the fields the writer fills, in the order of its row tuples (without the
    primary key, which `columns(with_id=True)` puts first)."""

    model: type[models.Model]
    fields: tuple[str, ...]

    @property
    def table(self) -> str:
        return self.model._meta.db_table

    @property
    def pk_column(self) -> str:
        pk = self.model._meta.pk
        if pk is None:
            raise TypeError(f"{self.model.__name__} has no primary key")
        return pk.column

    def column(self, name: str) -> str:
        field = self.model._meta.get_field(name)
        if not isinstance(field, models.Field) or not field.column:
            raise TypeError(f"{self.model.__name__}.{name} is not a column")
        return field.column

    def columns(self, *, with_id: bool) -> tuple[str, ...]:
        cols = tuple(self.column(name) for name in self.fields)
        return (self.pk_column, *cols) if with_id else cols


ITEMS = CopyTable(
    Item,
    ("dataset", "project", "external_id", "group_key", "prompt", "reference_answer",
     "final_answer", "final_answer_correct", "generator_model", "metadata", "priority",
     "content_hash", "created_at"),
)  # fmt: skip
STEPS = CopyTable(Step, ("item", "index", "text"))
TURNS = CopyTable(Turn, ("item", "index", "speaker", "text"))
CANDIDATES = CopyTable(Candidate, ("item", "index", "text", "source_model", "metadata"))
ANNOTATIONS = CopyTable(
    Annotation,
    ("item", "annotator", "source", "first_error_index", "finish_reason", "justification",
     "note", "time_spent_ms", "created_at", "updated_at"),
)  # fmt: skip
STEP_LABELS = CopyTable(StepLabel, ("annotation", "step", "rating", "cant_judge", "comment"))
TURN_LABELS = CopyTable(TurnLabel, ("annotation", "turn", "field", "value"))
PREFERENCE_LABELS = CopyTable(
    PreferenceLabel,
    ("annotation", "candidate_a", "candidate_b", "strength", "margin", "left_candidate"),
)
PRINCIPLE_RATINGS = CopyTable(PrincipleRating, ("annotation", "principle", "candidate", "value"))
COPY_TABLES = (
    ITEMS, STEPS, TURNS, CANDIDATES, ANNOTATIONS, STEP_LABELS, TURN_LABELS, PREFERENCE_LABELS,
    PRINCIPLE_RATINGS,
)  # fmt: skip


@dataclass(slots=True)
class WriteCounts:
    items: int = 0
    steps: int = 0
    turns: int = 0
    candidates: int = 0
    annotations: int = 0


_STAGE = "stepwise_item_stage"


def _search_text(item: ParsedItem) -> str:
    return search_text_of(
        steps=item.steps,
        turns=[text for _, text in item.turns],
        candidates=[c.text for c in item.candidates],
    )


def default_group_key(item: ParsedItem) -> str:
    """The item's group key, else a hash of its normalised prompt, else its external id."""
    if item.group_key:
        return item.group_key
    if item.prompt.strip():
        norm = " ".join(item.prompt.split()).lower()
        return "p-" + hashlib.sha1(norm.encode(), usedforsecurity=False).hexdigest()[:16]
    return item.external_id


class ImportWriter:
    """Writes parsed items and their children with ids allocated up front.

    PostgreSQL: ids come from the tables' sequences and rows go in with COPY, in a thread
    beside the parser (`CopyPipeline`; the caller wraps the writes in `copy_pipeline_scope`
    inside its transaction, so every COPY ends before the transaction does). Other databases
    (SQLite): ids continue from MAX(id) — safe because the import holds the database's write
    lock for its whole transaction — and rows go in with executemany.
    """

    def __init__(self, *, project: Project, dataset: Dataset) -> None:
        self.project = project
        self.dataset = dataset
        self.postgres = connection.vendor == "postgresql"
        self._next_id: dict[str, int] = {}
        self._annotators: dict[str, int] = {}
        self._copy: CopyPipeline | None = None

    def _ids(self, target: CopyTable, n: int) -> list[int]:
        if n == 0:
            return []
        table, pk = target.table, target.pk_column
        with connection.cursor() as cur:
            if self.postgres:
                cur.execute(
                    "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                    [table, pk, n],
                )
                return [r[0] for r in cur.fetchall()]
            if table not in self._next_id:
                # Names from the models' _meta, never from input.
                cur.execute(f'SELECT COALESCE(MAX("{pk}"), 0) FROM "{table}"')  # noqa: S608
                self._next_id[table] = cur.fetchone()[0] + 1
        start = self._next_id[table]
        self._next_id[table] = start + n
        return list(range(start, start + n))

    def _ids_if(self, target: CopyTable, n: int, *, need: bool) -> Iterator[int | None]:
        """`n` ids allocated now when rows must be referenced, else None for each (the
        database assigns them)."""
        ids: list[int | None] = list(self._ids(target, n)) if need else [None] * n
        return iter(ids)

    def _insert(self, target: CopyTable, rows: Sequence[tuple[Any, ...]], *, with_id: bool) -> None:
        if not rows:
            return
        columns = target.columns(with_id=with_id)
        table = f'"{target.table}"'
        if self.postgres:
            # COPY runs in a thread while the next batch is parsed (import_copy.py).
            if self._copy is None:
                self._copy = CopyPipeline()
            self._copy.submit(table, columns, rows)
            return
        cols = ", ".join(f'"{c}"' for c in columns)
        marks = ", ".join(["%s"] * len(columns))
        with connection.cursor() as cur:
            cur.executemany(f"INSERT INTO {table} ({cols}) VALUES ({marks})", rows)  # noqa: S608

    def _insert_items_with_search(
        self, items: Sequence[tuple[Any, ...]], search_texts: Sequence[str]
    ) -> None:
        """PostgreSQL: items go through a temporary table with their steps', turns' and
        candidates' text beside them, and into annotation_item with the browser's search
        column computed in the same INSERT (no second write of every item row)."""
        if not items:
            return
        if self._copy is None:
            self._copy = CopyPipeline()
        columns = ITEMS.columns(with_id=True)
        cols = ", ".join(f'"{c}"' for c in columns)
        # Names from the models' _meta and constants, never from input.
        self._copy.submit_sql(
            f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE} ON COMMIT DROP AS "  # noqa: S608
            f"SELECT {cols}, ''::text AS search_text FROM \"{ITEMS.table}\" WITH NO DATA",
            [],
        )
        self._copy.submit(
            _STAGE,
            (*columns, "search_text"),
            [(*row, text) for row, text in zip(items, search_texts, strict=True)],
        )
        self._copy.submit_sql(
            f'INSERT INTO "{ITEMS.table}" ({cols}, search_vector) '  # noqa: S608
            f"SELECT {cols}, {SEARCH_VECTOR_OF_STAGE} FROM {_STAGE}; TRUNCATE {_STAGE}",
            [],
        )

    def _annotator_id(self, name: str) -> int:
        if name not in self._annotators:
            self._annotators[name] = user_imported_get_or_create(username=name).id
        return self._annotators[name]

    def write(self, batch: list[tuple[ParsedItem, str]]) -> WriteCounts:
        """Write a batch of (parsed item, content hash); returns what was created."""
        now: Any = timezone.now()
        if not self.postgres:
            now = connection.ops.adapt_datetimefield_value(now)
        item_ids = self._ids(ITEMS, len(batch))
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
        step_ids = self._ids_if(STEPS, n_steps, need=need_steps)
        turn_ids = self._ids_if(TURNS, n_turns, need=need_turns)
        cand_ids = self._ids_if(CANDIDATES, n_cands, need=need_cands)
        ann_ids = iter(self._ids(ANNOTATIONS, n_anns))
        items, steps, turns, cands, anns = [], [], [], [], []
        step_labels, turn_labels, prefs, principles = [], [], [], []
        dumps = json.dumps
        search_texts: list[str] = []
        for (it, digest), item_id in zip(batch, item_ids, strict=True):
            if self.postgres:
                search_texts.append(_search_text(it))
            items.append(
                (
                    item_id,
                    self.dataset.id,
                    self.project.id,
                    it.external_id,
                    default_group_key(it),
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
        if self.postgres:
            self._insert_items_with_search(items, search_texts)
        else:
            self._insert(ITEMS, items, with_id=True)
        self._insert(STEPS, steps, with_id=need_steps)
        self._insert(TURNS, turns, with_id=need_turns)
        self._insert(CANDIDATES, cands, with_id=need_cands)
        self._insert(ANNOTATIONS, anns, with_id=True)
        self._insert(STEP_LABELS, step_labels, with_id=False)
        self._insert(TURN_LABELS, turn_labels, with_id=False)
        self._insert(PREFERENCE_LABELS, prefs, with_id=False)
        self._insert(PRINCIPLE_RATINGS, principles, with_id=False)
        return WriteCounts(
            items=len(items),
            steps=len(steps),
            turns=len(turns),
            candidates=len(cands),
            annotations=len(anns),
        )
