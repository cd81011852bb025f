"""The exporters' SQL reader against the ORM reader it replaced: the same items, and exports
byte for byte the same, on the demo projects (labeled by two annotators, reviewed, with gold,
flags and suggestions) and on the real ProcessBench file."""

from __future__ import annotations

import gc
import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from annotation.exporters import EXPORTERS, pipeline
from annotation.exporters.itemdata import ItemData
from annotation.exporters.pipeline import export_write, gc_paused
from annotation.exporters.source import iter_items
from annotation.models import Project
from annotation.services.imports import dataset_import
from tests.annotation.exporters import orm_reader
from tests.conftest import shared_file
from tests.labeled_projects import demo_labeled, processbench_labeled

ALL_SOURCES = ("human", "imported", "adjudication", "gold")
SOURCE_SETS = [ALL_SOURCES, ("human",), ("imported", "consensus", "gold")]

STEP_OPTIONS: list[dict[str, Any]] = [
    {},
    {"labels": "per_annotator"},
    {"mc_values": True, "test_size": 0.3, "seed": 2},
    {"neutral": "false", "truncate_after_first_error": False},
    {"neutral": "drop", "min_confidence": 0.6, "balance": True},
    {"sources": "human", "min_agreement": 0.5},
    {"labels": "per_annotator", "sources": "imported", "dedup": False},
    {"file_format": "parquet"},
]
PREFERENCE_OPTIONS: list[dict[str, Any]] = [
    {},
    {"labels": "per_annotator"},
    {"ties": "separate", "pairs": "best_vs_rest"},
    {"conversational": "conversational", "test_size": 0.3},
    {"min_agreement": 0.5, "sources": "human"},
    {"file_format": "parquet"},
]


def _norm(item: ItemData) -> tuple[Any, ...]:
    anns = tuple(
        (a.id, a.annotator_id, a.source, a.first_error_index, a.finish_reason,
         a.justification, a.time_spent_ms, a.created_at, sorted(a.ratings.items()),
         a.turn_labels, a.preferences, a.principles)
        for a in item.annotations
    )  # fmt: skip
    return (
        item.id, item.external_id, item.group_key, item.prompt, item.reference_answer,
        item.final_answer, item.final_answer_correct, item.generator_model, item.metadata,
        item.dataset_id, item.is_gold, item.steps, item.step_ids, item.turns, item.candidates,
        item.candidate_models, anns, sorted(item.mc_values.items()),
    )  # fmt: skip


def _read(reader: Any, project: Project, **kw: Any) -> list[tuple[Any, ...]]:
    out = []
    for chunk in reader(project=project, **kw):
        out.extend(_norm(it) for it in chunk)
    return out


@pytest.fixture
def labeled(db) -> list[Project]:
    projects = demo_labeled()
    projects.append(processbench_labeled(shared_file("processbench_gsm8k.json")))
    return projects


def test_sql_reader_reads_what_the_orm_reader_read(labeled):
    kinds = set()
    for project in labeled:
        kinds.add(project.kind)
        for sources in SOURCE_SETS:
            for chunk_size in (3, 5000):
                kw = {"sources": sources, "chunk_size": chunk_size, "with_mc": True}
                sql = _read(iter_items, project, **kw)
                orm = _read(orm_reader.iter_items, project, **kw)
                assert sql == orm, (project.slug, sources, chunk_size)
        assert len(sql) == project.items.count()
    assert kinds == {"step_labels", "dialogue_coding", "preference"}
    pb = labeled[-1]
    items = _read(iter_items, pb, sources=ALL_SOURCES, with_mc=True)
    # The data exercises what matters: several raters per item, MC values, rated steps.
    assert max(len(i[16]) for i in items) >= 3
    assert sum(1 for i in items if i[17]) == 40
    # Without timestamps the reader leaves them out; everything else is the same.
    bare = _read(iter_items, pb, sources=ALL_SOURCES, with_mc=True, with_times=False)
    assert [i[:16] for i in bare] == [i[:16] for i in items]
    assert all(a[7] is None for i in bare for a in i[16])


def _export_files(out: Path) -> dict[str, bytes]:
    """Every file of an export, the times of its making blanked (the manifest's and card's
    creation time, and when agreement was computed inline)."""
    manifest = json.loads((out / "manifest.json").read_text())
    times = [manifest["created_at"], manifest["agreement"].get("computed_at")]
    files = {}
    for path in sorted(out.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            for t in filter(None, times):
                data = data.replace(t.encode(), b"<time>")
            files[str(path.relative_to(out))] = data
    return files


def _orm_iter_items(**kw: Any) -> Any:
    kw.pop("with_times", None)
    kw.pop("prefetch", None)
    return orm_reader.iter_items(**kw)


def test_exports_are_byte_identical_to_the_orm_path(labeled, tmp_path, monkeypatch):
    compared: dict[str, int] = {}
    for fmt, cls in sorted(EXPORTERS.items()):
        projects = [p for p in labeled if p.kind in cls.project_kinds]
        options = STEP_OPTIONS if "step_labels" in cls.project_kinds else PREFERENCE_OPTIONS
        for project in projects:
            for n, opts in enumerate(options):
                if opts.get("file_format", cls.default_file_format) not in cls.file_formats:
                    continue
                sql_out = tmp_path / f"{fmt}-{project.slug}-{n}-sql"
                orm_out = tmp_path / f"{fmt}-{project.slug}-{n}-orm"
                manifest = export_write(project=project, fmt=fmt, options=opts, out_dir=sql_out)
                with monkeypatch.context() as m:
                    m.setattr(pipeline, "iter_items", _orm_iter_items)
                    export_write(project=project, fmt=fmt, options=opts, out_dir=orm_out)
                sql_files, orm_files = _export_files(sql_out), _export_files(orm_out)
                assert sql_files.keys() == orm_files.keys()
                for name in sql_files:
                    assert sql_files[name] == orm_files[name], (fmt, project.slug, opts, name)
                compared[fmt] = compared.get(fmt, 0) + manifest["counts"]["total"]
    # Every format wrote records on this data (nothing compared empty files only).
    assert set(compared) == set(EXPORTERS)
    assert all(compared.values()), compared


@pytest.mark.django_db(transaction=True)
def test_prefetching_reader_outside_a_transaction_writes_the_same(make_project, tmp_path):
    """Outside a transaction the next chunk is read by a thread on its own connection."""
    project = make_project("step_labels", slug="prefetch")
    records = [
        {"external_id": f"t{i}", "prompt": f"Problem {i}", "group_key": f"g{i // 3}",
         "steps": [f"step {s} of {i}" for s in range(4)],
         "annotations": [{"annotator": "rater", "step_ratings": [1, 1, -1 if i % 2 else 1, 1]}]}
        for i in range(25)
    ]  # fmt: skip
    data = "".join(json.dumps(r) + "\n" for r in records).encode()
    assert dataset_import(
        project=project, dataset_name="d", fmt="native", stream=io.BytesIO(data)
    ).ok
    assert not connection.in_atomic_block
    chunks = [
        [i.external_id for i in c]
        for c in iter_items(project=project, sources=ALL_SOURCES, chunk_size=4)
    ]
    assert [len(c) for c in chunks] == [4, 4, 4, 4, 4, 4, 1]
    assert [x for c in chunks for x in c] == [f"t{i}" for i in range(25)]
    pipeline_chunk = pipeline.CHUNK_ITEMS
    try:
        pipeline.CHUNK_ITEMS = 4
        threaded = export_write(
            project=project, fmt="trl_stepwise", options={}, out_dir=tmp_path / "a"
        )
    finally:
        pipeline.CHUNK_ITEMS = pipeline_chunk
    with transaction.atomic():  # inside a transaction the reader stays on this connection
        export_write(project=project, fmt="trl_stepwise", options={}, out_dir=tmp_path / "b")
    assert threaded["counts"]["total"] == 25
    assert _export_files(tmp_path / "a") == _export_files(tmp_path / "b")


def test_statements_per_export_do_not_grow_with_items(import_native, tmp_path):
    def records(n: int) -> list[dict[str, Any]]:
        return [
            {"external_id": f"t{i}", "prompt": "p", "steps": ["a", "b"],
             "annotations": [{"annotator": "r", "step_ratings": [1, -1]}]}
            for i in range(n)
        ]  # fmt: skip

    small = import_native("step_labels", records(3), slug="small")
    big = import_native("step_labels", records(60), slug="big")
    counts = []
    for project in (small, big):
        with CaptureQueriesContext(connection) as ctx:
            export_write(
                project=project, fmt="trl_stepwise", options={"mc_values": True},
                out_dir=tmp_path / project.slug,
            )  # fmt: skip
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1]


def test_gc_paused_restores_the_collector():
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_serialise_parts_is_serialise_for_trl_stepwise_rows():
    from annotation.exporters.base import serialise, serialise_parts
    from annotation.exporters.steps import TrlStepwiseExporter

    ignore = TrlStepwiseExporter.dedup_ignore
    for body in (
        {"prompt": 'p \u00e9\n"q"', "completions": ["a", "b\\"], "labels": [True, False]},
        {"prompt": "", "completions": [], "labels": [], "mc_values": [0.125, None]},
        {},
    ):
        tail = {"id": "t-1", "source": "single"}
        assert serialise_parts(body, tail) == serialise({**body, **tail}, ignore)
        assert serialise_parts(body, {}) == serialise(body, ignore)
