"""The portable reader (PostgreSQL and SQLite): per chunk, the items by keyset, then each
child table by a range of its indexed parent column, as plain tuples from the driver.

Child rows are selected by the id range of their parents (steps by item ids, step labels
by step ids), the leading column of an index, so each read is one index range scan; rows
of another project's items inside a range are skipped here. (A join through the
annotations lets PostgreSQL's planner pick a sequential scan of the labels per chunk.)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC
from typing import Any

from django.db import connection

from annotation.exporters.itemdata import AnnotationData, ItemData
from annotation.models import (
    Annotation,
    Candidate,
    Item,
    PreferenceLabel,
    PrincipleRating,
    Project,
    ProjectKind,
    Step,
    StepLabel,
    Suggestion,
    SuggestionMethod,
    Turn,
    TurnLabel,
)


def _t(model: Any) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _c(model: Any, name: str) -> str:
    return connection.ops.quote_name(model._meta.get_field(name).column)


class _Sql:
    """The statements of one read, with table and column names from the models."""

    def __init__(self, n_sources: int, with_times: bool, unassisted: bool = False) -> None:
        marks = ", ".join(["%s"] * n_sources)
        it, st, tu, ca, an = _t(Item), _t(Step), _t(Turn), _t(Candidate), _t(Annotation)
        meta = f"CAST({_c(Item, 'metadata')} AS TEXT)"
        # Timestamps cost a Python-level conversion per row; only per-annotator rows show them.
        created = _c(Annotation, "created_at") if with_times else "NULL"
        self.items = (
            f"SELECT id, {_c(Item, 'external_id')}, {_c(Item, 'group_key')}, "
            f"{_c(Item, 'prompt')}, {_c(Item, 'reference_answer')}, {_c(Item, 'final_answer')}, "
            f"{_c(Item, 'final_answer_correct')}, {_c(Item, 'generator_model')}, {meta}, "
            f"{_c(Item, 'dataset')}, {_c(Item, 'is_gold')} FROM {it} "
            f"WHERE {_c(Item, 'project')} = %s AND id > %s ORDER BY id LIMIT %s"
        )
        in_items = "BETWEEN %s AND %s"
        self.steps = (
            f"SELECT {_c(Step, 'item')}, {_c(Step, 'index')}, {_c(Step, 'text')}, id FROM {st} "
            f"WHERE {_c(Step, 'item')} {in_items} ORDER BY {_c(Step, 'item')}, {_c(Step, 'index')}"
        )
        self.turns = (
            f"SELECT {_c(Turn, 'item')}, {_c(Turn, 'speaker')}, {_c(Turn, 'text')}, id, "
            f"{_c(Turn, 'index')} FROM {tu} WHERE {_c(Turn, 'item')} {in_items} "
            f"ORDER BY {_c(Turn, 'item')}, {_c(Turn, 'index')}"
        )
        self.candidates = (
            f"SELECT {_c(Candidate, 'item')}, {_c(Candidate, 'index')}, {_c(Candidate, 'text')}, "
            f"{_c(Candidate, 'source_model')}, id FROM {ca} "
            f"WHERE {_c(Candidate, 'item')} {in_items} "
            f"ORDER BY {_c(Candidate, 'item')}, {_c(Candidate, 'index')}"
        )
        self.annotations = (
            f"SELECT id, {_c(Annotation, 'item')}, {_c(Annotation, 'annotator')}, "
            f"{_c(Annotation, 'source')}, {_c(Annotation, 'first_error_index')}, "
            f"{_c(Annotation, 'finish_reason')}, {_c(Annotation, 'justification')}, "
            f"{_c(Annotation, 'time_spent_ms')}, {created} FROM {an} "
            f"WHERE {_c(Annotation, 'item')} {in_items} AND {_c(Annotation, 'source')} IN ({marks}) "
            + (f"AND NOT {_c(Annotation, 'prefilled')} " if unassisted else "")
            + f"ORDER BY {_c(Annotation, 'item')}, id"
        )
        # Labels by the id range of the chunk's parts (an index range scan on their FK):
        # a join through the annotations lets the planner pick a sequential scan per chunk.
        self.step_labels = (
            f"SELECT {_c(StepLabel, 'annotation')}, {_c(StepLabel, 'step')}, "
            f"{_c(StepLabel, 'rating')}, {_c(StepLabel, 'cant_judge')} FROM {_t(StepLabel)} "
            f"WHERE {_c(StepLabel, 'step')} BETWEEN %s AND %s"
        )
        self.turn_labels = (
            f"SELECT {_c(TurnLabel, 'annotation')}, {_c(TurnLabel, 'turn')}, "
            f"{_c(TurnLabel, 'field')}, {_c(TurnLabel, 'value')}, id FROM {_t(TurnLabel)} "
            f"WHERE {_c(TurnLabel, 'turn')} BETWEEN %s AND %s"
        )
        self.preference_labels = (
            f"SELECT {_c(PreferenceLabel, 'annotation')}, {_c(PreferenceLabel, 'candidate_a')}, "
            f"{_c(PreferenceLabel, 'candidate_b')}, {_c(PreferenceLabel, 'strength')}, "
            f"{_c(PreferenceLabel, 'margin')}, {_c(PreferenceLabel, 'left_candidate')} "
            f"FROM {_t(PreferenceLabel)} "
            f"WHERE {_c(PreferenceLabel, 'candidate_a')} BETWEEN %s AND %s ORDER BY id"
        )
        self.principles = (
            f"SELECT {_c(PrincipleRating, 'annotation')}, {_c(PrincipleRating, 'principle')}, "
            f"{_c(PrincipleRating, 'candidate')}, {_c(PrincipleRating, 'value')} "
            f"FROM {_t(PrincipleRating)} WHERE {_c(PrincipleRating, 'annotation')} IN "
            f"(SELECT id FROM {an} WHERE {_c(Annotation, 'item')} {in_items}) ORDER BY id"
        )
        self.mc = (
            f"SELECT {_c(Suggestion, 'step')}, {_c(Suggestion, 'score')} FROM {_t(Suggestion)} "
            f"WHERE {_c(Suggestion, 'step')} BETWEEN %s AND %s AND {_c(Suggestion, 'method')} = %s "
            f"AND {_c(Suggestion, 'score')} IS NOT NULL ORDER BY id"
        )


def read_chunks_flat(
    project: Project,
    sources: Sequence[str],
    chunk_size: int,
    with_mc: bool,
    with_times: bool,
    unassisted: bool = False,
) -> Iterator[list[ItemData]]:
    sql = _Sql(len(sources), with_times, unassisted)
    kind = project.kind
    # SQLite returns timestamps without a zone (the ORM adds UTC in a converter).
    naive = connection.vendor == "sqlite"
    last = 0
    with connection.cursor() as cur:
        while True:
            cur.execute(sql.items, [project.id, last, chunk_size])
            rows = cur.fetchall()
            if not rows:
                return
            lo, last = rows[0][0], rows[-1][0]
            items = {r[0]: ItemData(*r) for r in rows}
            if kind == ProjectKind.STEP_LABELS:
                anns = _read_steps(cur, sql, items, lo, last, sources, with_mc)
            elif kind == ProjectKind.DIALOGUE_CODING:
                anns = _read_dialogues(cur, sql, items, lo, last, sources)
            else:
                anns = _read_preferences(cur, sql, items, lo, last, sources)
            if naive:
                for ann in anns.values():
                    if ann.created_at is not None and ann.created_at.tzinfo is None:
                        ann.created_at = ann.created_at.replace(tzinfo=UTC)
            yield list(items.values())


def _annotations(
    cur: Any, sql: _Sql, items: dict[int, ItemData], lo: int, hi: int, sources: Sequence[str]
) -> dict[int, AnnotationData]:
    anns: dict[int, AnnotationData] = {}
    cur.execute(sql.annotations, [lo, hi, *sources])
    for row in cur.fetchall():
        it = items.get(row[1])
        if it is not None:
            ann = AnnotationData(row[0], *row[2:])
            anns[row[0]] = ann
            it.annotations.append(ann)
    return anns


def _read_steps(
    cur: Any,
    sql: _Sql,
    items: dict[int, ItemData],
    lo: int,
    hi: int,
    sources: Sequence[str],
    with_mc: bool,
) -> dict[int, AnnotationData]:
    cur.execute(sql.steps, [lo, hi])
    # step id -> (item, step index)
    where: dict[int, tuple[ItemData, int]] = {}
    current, it = None, None
    for item_id, index, text, sid in cur.fetchall():
        if item_id != current:
            current, it = item_id, items.get(item_id)
        if it is not None:
            it.steps.append(text)
            it.step_ids.append(sid)
            where[sid] = (it, index)
    anns = _annotations(cur, sql, items, lo, hi, sources)
    if not where:
        return anns
    step_lo, step_hi = min(where), max(where)
    if anns:
        cur.execute(sql.step_labels, [step_lo, step_hi])
        for ann_id, sid, rating, cant in cur.fetchall():
            ann = anns.get(ann_id)
            if ann is not None and sid in where:
                ann.ratings[where[sid][1]] = (rating, bool(cant))
    if with_mc:
        cur.execute(sql.mc, [step_lo, step_hi, SuggestionMethod.MC.value])
        scores: dict[int, list[float]] = {}
        for sid, score in cur.fetchall():
            if sid in where:
                scores.setdefault(sid, []).append(score)
        for sid, values in scores.items():
            it = where[sid][0]
            # MC values are keyed by the step's position in the item's list.
            it.mc_values[it.step_ids.index(sid)] = sum(values) / len(values)
    return anns


def _read_turns(
    cur: Any, sql: _Sql, items: dict[int, ItemData], lo: int, hi: int
) -> dict[int, int]:
    """Fill each item's turns; returns turn id -> turn index for the chunk's turns."""
    cur.execute(sql.turns, [lo, hi])
    turn_index: dict[int, int] = {}
    for item_id, speaker, text, tid, index in cur.fetchall():
        it = items.get(item_id)
        if it is not None:
            it.turns.append((speaker, text))
            turn_index[tid] = index
    return turn_index


def _read_dialogues(
    cur: Any, sql: _Sql, items: dict[int, ItemData], lo: int, hi: int, sources: Sequence[str]
) -> dict[int, AnnotationData]:
    turn_index = _read_turns(cur, sql, items, lo, hi)
    anns = _annotations(cur, sql, items, lo, hi, sources)
    if not anns or not turn_index:
        return anns
    cur.execute(sql.turn_labels, [min(turn_index), max(turn_index)])
    rows = [
        (ann_id, turn_index[tid], fld, value, pk)
        for ann_id, tid, fld, value, pk in cur.fetchall()
        if ann_id in anns and tid in turn_index
    ]
    rows.sort(key=lambda r: (r[0], r[1], r[4]))
    for ann_id, index, fld, value, _ in rows:
        anns[ann_id].turn_labels.append((index, fld, value))
    return anns


def _read_preferences(
    cur: Any, sql: _Sql, items: dict[int, ItemData], lo: int, hi: int, sources: Sequence[str]
) -> dict[int, AnnotationData]:
    _read_turns(cur, sql, items, lo, hi)
    cur.execute(sql.candidates, [lo, hi])
    cand_index: dict[int, int] = {}
    for item_id, index, text, model, cid in cur.fetchall():
        it = items.get(item_id)
        if it is not None:
            it.candidates.append(text)
            it.candidate_models.append(model)
            cand_index[cid] = index
    anns = _annotations(cur, sql, items, lo, hi, sources)
    if not anns or not cand_index:
        return anns
    cur.execute(sql.preference_labels, [min(cand_index), max(cand_index)])
    for ann_id, a, b, strength, margin, left in cur.fetchall():
        ann = anns.get(ann_id)
        if ann is not None and a in cand_index:
            ann.preferences.append(
                (cand_index[a], cand_index[b], strength, margin, cand_index.get(left))
            )
    cur.execute(sql.principles, [lo, hi])
    for ann_id, principle, cand, value in cur.fetchall():
        ann = anns.get(ann_id)
        if ann is not None:
            ann.principles.append(
                (principle, cand_index.get(cand) if cand is not None else None, value)
            )
    return anns
