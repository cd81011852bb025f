"""A real Celery worker (in this process, on the configured broker: Redis in CI, in-memory
locally) runs imports, exports and dashboard refreshes; a task whose work raises ends its run
`failed` with the exception's message and a log line, never `running`, and Retry (web for an
import, REST for an export, the dashboard's refresh for statistics) runs it again."""

from __future__ import annotations

import importlib
import io
import json
import logging
import os
import time

import pytest
from celery.contrib.testing.worker import start_worker
from django.core.files.uploadedfile import SimpleUploadedFile

from annotation.models import ExportRun, ImportRun, Item, Role, StatsRefresh
from annotation.selectors.stats import project_stats_get, stats_refresh_latest
from annotation.services.exports import export_run_start
from annotation.services.import_runs import import_run_create
from annotation.services.imports import dataset_import
from annotation.services.stats import project_stats_refresh_start
from config.celery import app

pytestmark = [
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "").startswith(("postgres", "pgsql")),
        reason="an in-process Celery worker needs PostgreSQL: on the in-memory SQLite test "
        "database its thread and the test share one connection and SQLite reports the table "
        "as locked (set DATABASE_URL, as CI does)",
    ),
]

DATA = "".join(
    json.dumps({"external_id": f"w{i}", "prompt": f"q{i}", "steps": [f"{i}+1={i + 1}"]}) + "\n"
    for i in range(6)
).encode()


@pytest.fixture
def worker():
    with start_worker(
        app, pool="solo", perform_ping_check=False, shutdown_timeout=10, queues=["default"]
    ) as w:
        yield w


def _wait_end(model, run_id: int, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = model.objects.get(id=run_id)
        if run.status not in ("queued", "running"):
            return run
        time.sleep(0.1)
    raise AssertionError(f"{model.__name__} {run_id} still {run.status} after {timeout}s")


def test_import_task_that_raises_fails_then_web_retry_succeeds(
    worker, make_project, client, monkeypatch, caplog
):
    project = make_project("step_labels")
    real = importlib.import_module("annotation.services.import_runs")
    original = real.dataset_import

    def broken(**kwargs):
        raise RuntimeError("the importer hit a bug")

    monkeypatch.setattr(real, "dataset_import", broken)
    with caplog.at_level(logging.ERROR, logger="annotation.services.runs"):
        run = import_run_create(
            project=project, user=project.created_by, upload=SimpleUploadedFile("w.jsonl", DATA),
            fmt="native", dataset_name="w",
        )  # fmt: skip
        failed = _wait_end(ImportRun, run.id)
    assert failed.status == "failed"
    assert failed.error == "RuntimeError: the importer hit a bug"
    assert failed.attempts == 1
    assert any("import run" in r.message and r.exc_info for r in caplog.records)

    client.force_login(project.created_by)
    page = client.get(f"/projects/{project.slug}/").content.decode()
    assert "RuntimeError: the importer hit a bug" in page
    assert f"/projects/{project.slug}/imports/{run.id}/retry/" in page

    monkeypatch.setattr(real, "dataset_import", original)  # the bug is fixed
    resp = client.post(f"/projects/{project.slug}/imports/{run.id}/retry/")
    assert resp.status_code == 302
    done = _wait_end(ImportRun, run.id)
    assert done.status == "succeeded", done.error
    assert (done.items_created, done.attempts, done.error) == (6, 1, "")
    assert Item.objects.filter(project=project).count() == 6


def test_export_task_that_raises_fails_then_rest_retry_succeeds(
    worker, make_project, member, api_client, monkeypatch
):
    project = make_project("step_labels")
    assert dataset_import(
        project=project, dataset_name="d", fmt="native", stream=io.BytesIO(DATA)
    ).ok
    researcher = member(project, Role.RESEARCHER)
    pipeline = importlib.import_module("annotation.exporters.pipeline")
    original = pipeline.export_write

    def broken(**kwargs):
        raise TypeError("unsupported operand type(s) for +: 'int' and 'str'")

    monkeypatch.setattr(pipeline, "export_write", broken)
    run = export_run_start(project=project, fmt="trl_stepwise", user=researcher)
    failed = _wait_end(ExportRun, run.id)
    assert failed.status == "failed"
    assert failed.error == "TypeError: unsupported operand type(s) for +: 'int' and 'str'"

    monkeypatch.setattr(pipeline, "export_write", original)
    api_client.force_authenticate(researcher)
    resp = api_client.post(f"/api/v1/projects/{project.slug}/exports/{run.id}/retry/")
    assert resp.status_code == 200, resp.content
    done = _wait_end(ExportRun, run.id)
    assert done.status == "succeeded", done.error
    assert done.counts["items_read"] == 6
    assert done.progress_done == done.progress_total == 6


def test_stats_refresh_task_that_raises_fails_then_refresh_again_succeeds(
    worker, make_project, client, monkeypatch
):
    project = make_project("step_labels")
    assert dataset_import(
        project=project, dataset_name="d", fmt="native", stream=io.BytesIO(DATA)
    ).ok
    stats = importlib.import_module("annotation.services.stats")
    original = stats.agreement_report

    def broken(**kwargs):
        raise ValueError("zero-size array to reduction operation maximum")

    monkeypatch.setattr(stats, "agreement_report", broken)
    assert project_stats_refresh_start(project=project)
    failed = _wait_end(StatsRefresh, stats_refresh_latest(project=project).id)
    assert failed.status == "failed"
    assert failed.error == "ValueError: zero-size array to reduction operation maximum"

    client.force_login(project.created_by)
    page = client.get(f"/projects/{project.slug}/dashboard/").content.decode()
    assert "The last refresh failed: ValueError: zero-size array" in page

    monkeypatch.setattr(stats, "agreement_report", original)
    resp = client.post(f"/projects/{project.slug}/dashboard/refresh/")
    assert resp.status_code == 302
    done = _wait_end(StatsRefresh, stats_refresh_latest(project=project).id)
    assert done.status == "succeeded", done.error
    assert done.id != failed.id
    assert project_stats_get(project=project)["progress"]["total"]["items"] == 6


def test_the_worker_heartbeat_starts_and_stops_with_the_worker():
    import threading

    from annotation.models import WorkerHeartbeat

    def beating() -> list[str]:
        return [t.name for t in threading.enumerate() if t.name.startswith("worker-heartbeat-")]

    with start_worker(app, pool="solo", perform_ping_check=False, queues=["default"]) as w:
        deadline = time.monotonic() + 10
        while not WorkerHeartbeat.objects.filter(hostname=w.hostname).exists():
            assert time.monotonic() < deadline, "no heartbeat row"
            time.sleep(0.1)
        assert beating() == [f"worker-heartbeat-{w.hostname}"]
        assert WorkerHeartbeat.objects.get(hostname=w.hostname).queues == "default"
    assert beating() == []  # stopped with the worker, also on a cold shutdown
