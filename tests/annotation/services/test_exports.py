from __future__ import annotations

import io
import json

import pytest

from annotation.errors import ApplicationError
from annotation.models import ExportRun
from annotation.services.exports import (
    export_file_path,
    export_run_dir,
    export_run_execute,
    export_run_files,
    export_run_start,
)
from annotation.services.imports import dataset_import


@pytest.fixture
def pb_project(make_project):
    project = make_project("step_labels", slug="pb-mini")
    recs = [
        {"id": f"pb-{i}", "generator": "g", "problem": f"problem {i}",
         "steps": ["a", "b", "c"], "final_answer_correct": i % 2 == 0, "label": (i % 4) - 1}
        for i in range(10)
    ]  # fmt: skip
    assert dataset_import(
        project=project, dataset_name="pb", fmt="processbench",
        stream=io.BytesIO(json.dumps(recs).encode()),
    ).ok  # fmt: skip
    return project, recs


def test_export_run_lifecycle(pb_project, make_user, django_capture_on_commit_callbacks):
    project, recs = pb_project
    user = make_user()
    with django_capture_on_commit_callbacks() as callbacks:
        run = export_run_start(project=project, fmt="processbench", options={}, user=user)
    assert len(callbacks) == 1
    assert run.status == ExportRun.Status.QUEUED
    assert run.path == f"exports/{run.id:08d}"
    done = export_run_execute(run_id=run.id)
    assert done.status == ExportRun.Status.SUCCEEDED
    assert done.counts["total"] == 10
    assert done.progress_done == 10
    # A redelivered task finds the run claimed and changes nothing.
    assert export_run_execute(run_id=run.id) is None
    files = export_run_files(run=done)
    assert files == ["README.md", "manifest.json", "processbench/train-00000-of-00001.jsonl"]
    path = export_file_path(run=done, filename="processbench/train-00000-of-00001.jsonl")
    rows = [json.loads(x) for x in path.read_text().splitlines()]
    assert rows == recs
    assert export_file_path(run=done, filename="../../etc/passwd") is None
    assert export_run_dir(run=done).is_dir()
    assert not export_run_dir(run=done).with_name(f"{run.id:08d}.partial").exists()


def test_export_run_start_rejects_bad_requests(pb_project):
    project, _ = pb_project
    with pytest.raises(ApplicationError, match="format: trl_preference exports preference"):
        export_run_start(project=project, fmt="trl_preference")
    with pytest.raises(ApplicationError, match="options.test_size"):
        export_run_start(project=project, fmt="processbench", options={"test_size": 2})
    assert not ExportRun.objects.exists()


def test_export_dataset_command(pb_project, tmp_path):
    from django.core.management import call_command

    project, recs = pb_project
    out = tmp_path / "cli"
    call_command("export_dataset", "--project", project.slug, "--format", "trl_stepwise",
                 "--out", str(out), "--option", "test_size=0.5", "--option", "neutral=drop")  # fmt: skip
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["options"]["test_size"] == 0.5
    assert manifest["options"]["neutral"] == "drop"
    assert (out / "README.md").is_file()
