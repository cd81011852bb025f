"""A real Celery worker on the configured broker (Redis in CI, in-memory locally) runs an
upload's import, and /healthz sees the worker's heartbeat."""

import json
import time

import pytest
from celery.contrib.testing.worker import start_worker
from django.core.files.uploadedfile import SimpleUploadedFile

from annotation.models import ImportRun, Item
from annotation.services.import_runs import import_run_create
from config.celery import app

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker():
    with start_worker(
        app, pool="solo", perform_ping_check=False, shutdown_timeout=10, queues=["default", "gpu"]
    ) as w:
        yield w


def _wait_for(run_id: int, timeout: float = 30) -> ImportRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = ImportRun.objects.get(id=run_id)
        if run.status in (ImportRun.Status.SUCCEEDED, ImportRun.Status.FAILED):
            return run
        time.sleep(0.2)
    raise AssertionError(f"import run {run_id} still {run.status} after {timeout}s")


def test_upload_is_imported_by_a_real_worker(worker, make_project, client):
    project = make_project("step_labels")
    lines = [
        {"external_id": f"w{i}", "prompt": f"What is {i}+1?", "steps": [f"{i}+1={i + 1}"]}
        for i in range(5)
    ]
    data = "".join(json.dumps(rec) + "\n" for rec in lines).encode()
    run = import_run_create(
        project=project,
        user=None,
        upload=SimpleUploadedFile("w.jsonl", data),
        fmt="native",
        dataset_name="worker-ds",
    )
    done = _wait_for(run.id)
    assert done.status == ImportRun.Status.SUCCEEDED, done.errors
    assert done.items_created == 5
    assert Item.objects.filter(project=project).count() == 5

    # the task is idempotent: delivering it again changes nothing
    from annotation.tasks import import_run_execute_task

    import_run_execute_task.delay(run.id)
    time.sleep(1.0)
    assert Item.objects.filter(project=project).count() == 5

    health = client.get("/healthz")
    body = health.json()
    assert health.status_code == 200, body
    assert body["database"]["ok"]
    assert body["broker"]["ok"]
    assert body["workers"]["ok"]
    assert any(w["hostname"] == worker.hostname for w in body["workers"]["alive"])


def test_bad_upload_fails_with_line_numbers(worker, make_project):
    project = make_project("step_labels")
    data = b'{"external_id": "a", "steps": ["x"]}\n{"external_id": "b", "steps": 7}\n'
    run = import_run_create(
        project=project, user=None, upload=SimpleUploadedFile("bad.jsonl", data),
        fmt="native", dataset_name="bad",
    )  # fmt: skip
    done = _wait_for(run.id)
    assert done.status == ImportRun.Status.FAILED
    assert done.errors == [
        {"line": 2, "field": "steps", "message": "must be a list of strings, got integer"}
    ]
    assert done.dataset_id is None
    assert not Item.objects.filter(project=project).exists()
