"""Project backup and restore on the demo projects (every kind of row) and the real
ProcessBench file: a restore into a fresh database gives the same agreement figures and
byte-identical exports; every field of every backed-up model round-trips."""

from __future__ import annotations

import gzip
import io
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from annotation.backup.registry import (
    USER_FIELDS,
    USER_FIELDS_LEFT_OUT,
    backup_excluded,
    backup_sections,
)
from annotation.errors import ApplicationError
from annotation.models import Item, Project, User
from annotation.services.backups import project_restore
from tests.annotation.backup.helpers import backup_bytes, figures, project_rows
from tests.conftest import shared_file
from tests.labeled_projects import demo_labeled, processbench_labeled


@pytest.fixture
def labeled(db) -> list[Project]:
    projects = demo_labeled()
    projects.append(processbench_labeled(shared_file("processbench_gsm8k.json")))
    return projects


def test_restore_into_a_fresh_database_gives_the_same_agreement_and_exports(labeled, tmp_path):
    before = {p.slug: figures(p, tmp_path / "before") for p in labeled}
    backups = {p.slug: backup_bytes(p) for p in labeled}
    rows_before = {p.slug: project_rows(p) for p in labeled}
    # A fresh database: no project, no user left (ids of new rows will all differ).
    Project.objects.all().delete()
    User.objects.all().delete()
    for slug, data in backups.items():
        project = project_restore(stream=io.BytesIO(data))
        assert project.slug == slug
    for slug in backups:
        project = Project.objects.get(slug=slug)
        assert figures(project, tmp_path / "after") == before[slug], slug
        assert project_rows(project) == rows_before[slug], slug
    # Users came back by username, without a usable password.
    assert User.objects.filter(username="annotator1").exists()
    assert not any(u.has_usable_password() for u in User.objects.all())
    # The exports compared hold real records of every format exported.
    pb = before["pb-gsm8k"]
    assert b"processbench-experts" in pb["prm800k-1"]["prm800k/train-00000-of-00001.jsonl"]


def test_every_field_of_every_section_round_trips(labeled):
    covered = set()
    for project in labeled:
        data = backup_bytes(project)
        restored = project_restore(stream=io.BytesIO(data), slug=f"{project.slug}-copy")
        original_rows, restored_rows = project_rows(project), project_rows(restored)
        assert restored_rows == original_rows, project.slug
        covered |= {label for label, rows in original_rows.items() if rows}
    # The test data has rows in every section, so a field added to any backed-up model is
    # compared here (and fails here if the backup does not carry it).
    assert covered == {s.label for s in backup_sections()}


def test_every_model_is_backed_up_or_left_out_with_a_reason():
    from django.apps import apps

    sections = {s.label for s in backup_sections()}
    excluded = backup_excluded()
    for app in ("annotation", "labeling_jobs"):
        for model in apps.get_app_config(app).get_models():
            label = model._meta.label_lower
            if model is User:
                continue
            assert (label in sections) != (label in excluded), (
                f"{label}: add a backup section (annotation.backup.registry) or leave it out "
                "with a reason (backup_exclude)"
            )
    assert all(reason.strip() for reason in excluded.values())
    # Columns of a backed-up model that are left out name a real field and say why.
    for section in backup_sections():
        names = {f.attname for f in section.model._meta.concrete_fields}
        for name, reason in section.fields_left_out.items():
            assert name in names, f"{section.label}.{name} is not a field"
            assert reason.strip(), f"{section.label}.{name}: give the reason"
    user_fields = {f.attname for f in User._meta.concrete_fields} - {"id"}
    assert user_fields == set(USER_FIELDS) | set(USER_FIELDS_LEFT_OUT), (
        "User gained a field: back it up (USER_FIELDS) or say why not (USER_FIELDS_LEFT_OUT)"
    )
    # Jobs are registered by labeling_jobs itself, after the items their JSON refers to.
    order = [s.label for s in backup_sections()]
    assert order.index("labeling_jobs.labelingjob") > order.index("annotation.item")
    assert order.index("annotation.suggestion") > order.index("labeling_jobs.labelingjob")


def test_annotation_never_imports_labeling_jobs():
    import ast
    from pathlib import Path

    import annotation

    root = Path(annotation.__file__).parent
    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            assert not any(n.split(".")[0] == "labeling_jobs" for n in names), path


def _lines(data: bytes) -> list[dict]:
    return [json.loads(line) for line in gzip.decompress(data).splitlines()]


def _pack(lines: list[dict]) -> bytes:
    return gzip.compress("".join(json.dumps(x) + "\n" for x in lines).encode())


@pytest.fixture
def small_backup(import_native) -> tuple[Project, bytes]:
    records = [
        {"external_id": f"t{i}", "prompt": f"p{i}", "steps": ["a", "b"],
         "annotations": [{"annotator": "rater", "step_ratings": [1, -1]}]}
        for i in range(5)
    ]  # fmt: skip
    project = import_native("step_labels", records, slug="small")
    return project, backup_bytes(project)


def _nothing_written(before: tuple[int, int]) -> bool:
    return (Project.objects.count(), Item.objects.count()) == before


def test_restore_refuses_what_it_cannot_restore_and_writes_nothing(small_backup):
    project, data = small_backup
    before = (Project.objects.count(), Item.objects.count())
    lines = _lines(data)

    with pytest.raises(
        ApplicationError, match="is not available; restore the backup under another slug"
    ):
        project_restore(stream=io.BytesIO(data))
    newer = [{**lines[0], "version": 99}, *lines[1:]]
    with pytest.raises(ApplicationError, match="format version 99, newer than") as exc:
        project_restore(stream=io.BytesIO(_pack(newer)), slug="x")
    assert exc.value.code == "unsupported_version"
    with pytest.raises(ApplicationError, match="cut short|damaged"):
        project_restore(stream=io.BytesIO(data[: len(data) // 2]), slug="x")
    with pytest.raises(ApplicationError, match="ends before its end marker"):
        project_restore(stream=io.BytesIO(_pack(lines[:-1])), slug="x")
    with pytest.raises(ApplicationError, match="not a Stepwise project backup"):
        project_restore(stream=io.BytesIO(b'{"external_id": "x"}\n'), slug="x")
    with pytest.raises(ApplicationError, match="valid “slug”") as exc:
        project_restore(stream=io.BytesIO(data), slug="Not a slug!")
    assert exc.value.field == "slug"
    # A bad value deep in the file: everything before it is rolled back.
    broken = json.loads(json.dumps(lines))
    item_line = next(n for n, x in enumerate(broken) if x.get("model") == "annotation.item")
    fields = broken[item_line]["fields"]
    broken[item_line]["rows"][-1][fields.index("done_count")] = "many"
    with pytest.raises(ApplicationError, match=rf"line {item_line + 1} \(annotation.item\)"):
        project_restore(stream=io.BytesIO(_pack(broken)), slug="x")
    # Rows that break a database rule (two steps at the same index of an item).
    twice = json.loads(json.dumps(lines))
    steps = next(x for x in twice if x.get("model") == "annotation.step")
    extra = list(steps["rows"][-1])
    extra[steps["fields"].index("id")] += 1000
    steps["rows"].append(extra)
    twice[-1]["counts"]["annotation.step"] += 1
    with pytest.raises(ApplicationError, match=r"\(annotation.step\): rows break a database"):
        project_restore(stream=io.BytesIO(_pack(twice)), slug="x")
    unknown = [*lines[:-1], {"model": "annotation.nothing", "fields": ["id"], "rows": [[1]]}]
    with pytest.raises(ApplicationError, match="unknown section"):
        project_restore(stream=io.BytesIO(_pack(unknown)), slug="x")
    miscounted = [*lines[:-1], {"end": True, "counts": {"annotation.item": 6}}]
    with pytest.raises(ApplicationError, match="announces 6 annotation.item rows but holds 5"):
        project_restore(stream=io.BytesIO(_pack(miscounted)), slug="x")
    assert _nothing_written(before)
    # The same file, uncompressed, restores under a new slug.
    plain = gzip.decompress(data)
    copy = project_restore(stream=io.BytesIO(plain), slug="small-copy")
    assert copy.items.count() == project.items.count() == 5


def test_restore_of_an_older_backup_fills_new_fields_with_defaults(small_backup):
    """A backup written before a model gained a field restores: the field takes its default."""
    _, data = small_backup
    lines = _lines(data)
    for line in lines:
        if line.get("model") == "annotation.item":
            k = line["fields"].index("priority")
            line["fields"].pop(k)
            for row in line["rows"]:
                row.pop(k)
    copy = project_restore(stream=io.BytesIO(_pack(lines)), slug="older")
    assert list(copy.items.values_list("priority", flat=True)) == [0] * 5


def test_active_labeling_jobs_come_back_cancelled(small_backup):
    from labeling_jobs.models import JobChunk, JobStatus, LabelingJob

    project, _ = small_backup
    items = list(project.items.order_by("id"))
    started = timezone.now() - timedelta(minutes=5)
    job = LabelingJob.objects.create(
        project=project, kind="mc_estimate", backend="none", status=JobStatus.RUNNING,
        scope={"item_ids": [items[1].id, items[3].id]}, params={"n_rollouts": 4},
        started_at=started, heartbeat_at=timezone.now(), attempts=2, progress_done=1,
        progress_total=2,
    )  # fmt: skip
    JobChunk.objects.create(job=job, index=0, item_ids=[items[1].id, items[3].id])
    data = backup_bytes(project)
    written = next(x for x in _lines(data) if x.get("model") == "labeling_jobs.labelingjob")
    assert "heartbeat_at" not in written["fields"]
    assert {"started_at", "attempts", "progress_done", "error"} <= set(written["fields"])
    copy = project_restore(stream=io.BytesIO(data), slug="jobs-copy")
    restored = LabelingJob.objects.get(project=copy)
    assert restored.status == JobStatus.CANCELLED
    assert "Restored from a backup while running" in restored.error
    # The run's history comes back; the original worker's heartbeat does not.
    assert restored.heartbeat_at is None
    assert restored.started_at == started
    assert (restored.attempts, restored.progress_done, restored.progress_total) == (2, 1, 2)
    new_items = list(copy.items.order_by("id"))
    assert restored.scope["item_ids"] == [new_items[1].id, new_items[3].id]
    assert restored.params == {"n_rollouts": 4}
    chunk = JobChunk.objects.get(job=restored)
    assert chunk.status == JobChunk.Status.CANCELLED
    assert chunk.item_ids == [new_items[1].id, new_items[3].id]
