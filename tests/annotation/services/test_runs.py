"""The shared life of background runs (annotation.services.runs): claim, beat, finish, fail,
retry and the sweep, on the real database; and every run kind ends `failed` with the
exception's message (and a log line) when its work raises."""

from __future__ import annotations

import io
import json
import logging
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from annotation.errors import ApplicationError
from annotation.models import ExportRun, ImportRun, Item, RunStatus, StatsRefresh
from annotation.selectors.stats import stats_refresh_latest
from annotation.services.exports import export_run_execute, export_run_start
from annotation.services.import_runs import import_run_create, import_run_execute
from annotation.services.imports import dataset_import
from annotation.services.runs import (
    RunBusyError,
    run_beat,
    run_claim,
    run_execute,
    run_fail,
    run_finish,
    run_retry,
    runs_sweep,
)
from annotation.services.stats import project_stats_refresh_execute, project_stats_refresh_start


def _jsonl(n: int, prefix: str = "r") -> bytes:
    return "".join(
        json.dumps({"external_id": f"{prefix}{i}", "prompt": f"q{i}", "steps": [f"s{i}"]}) + "\n"
        for i in range(n)
    ).encode()


@pytest.fixture
def import_run(make_project, django_capture_on_commit_callbacks):
    project = make_project("step_labels", slug="runs")
    with django_capture_on_commit_callbacks() as callbacks:
        run = import_run_create(
            project=project, user=None, upload=SimpleUploadedFile("a.jsonl", _jsonl(5)),
            fmt="native", dataset_name="d",
        )  # fmt: skip
    assert len(callbacks) == 1
    return run


def _age(run, seconds: float) -> None:
    """Make the run's last sign of life `seconds` old (as a dead worker leaves it)."""
    type(run).objects.filter(id=run.id).update(
        heartbeat_at=timezone.now() - timedelta(seconds=seconds)
    )
    run.refresh_from_db()


def test_claim_counts_the_attempt_and_beats(import_run):
    claimed = run_claim(model=ImportRun, run_id=import_run.id)
    assert claimed.status == RunStatus.RUNNING
    assert claimed.attempts == 1
    assert claimed.started_at is not None
    assert claimed.heartbeat_at is not None
    # Another delivery while the worker is alive: busy, and told when to look again.
    with pytest.raises(RunBusyError) as busy:
        run_claim(model=ImportRun, run_id=import_run.id)
    assert 0 < busy.value.retry_after <= 181


def test_stale_run_is_taken_over_and_the_old_claim_cannot_finish(import_run, settings):
    settings.STEPWISE_RUN_STALE_SECONDS = 60
    first = run_claim(model=ImportRun, run_id=import_run.id)
    _age(first, 61)
    second = run_claim(model=ImportRun, run_id=import_run.id)
    assert second.attempts == 2
    # The first worker was not dead after all: its beats and its result are refused.
    assert not run_beat(run=first, done=3, attempt=first.attempts)
    assert not run_finish(run=first, items_created=5)
    assert not run_fail(run=first, error="late", attempt=first.attempts)
    assert run_beat(run=second, done=3, total=5, attempt=second.attempts)
    assert run_finish(run=second, items_created=5)
    second.refresh_from_db()
    assert (second.status, second.progress_done, second.progress_total) == ("succeeded", 3, 5)
    assert second.items_created == 5
    assert run_claim(model=ImportRun, run_id=import_run.id) is None  # ended: nothing to do


def test_a_run_that_keeps_killing_its_worker_ends_failed(import_run, settings):
    settings.STEPWISE_RUN_STALE_SECONDS = 60
    settings.STEPWISE_RUN_MAX_ATTEMPTS = 2
    for attempt in (1, 2):
        run = run_claim(model=ImportRun, run_id=import_run.id)
        assert run.attempts == attempt
        _age(run, 61)
    assert run_claim(model=ImportRun, run_id=import_run.id) is None
    import_run.refresh_from_db()
    assert import_run.status == RunStatus.FAILED
    assert import_run.error.startswith("Started 2 times without finishing")
    assert "Retry" in import_run.error
    assert not Item.objects.exists()


def test_run_execute_fails_the_run_with_the_exception_message(import_run, caplog):
    def work(run, beat):
        raise RuntimeError("disk on fire")

    with caplog.at_level(logging.ERROR, logger="annotation.services.runs"):
        done = run_execute(model=ImportRun, run_id=import_run.id, work=work)
    assert done.status == RunStatus.FAILED
    assert done.error == "RuntimeError: disk on fire"
    assert done.finished_at is not None
    record = next(r for r in caplog.records if "failed with an unexpected error" in r.message)
    assert record.exc_info[0] is RuntimeError


def test_run_execute_reports_an_application_error_without_its_type(import_run):
    def work(run, beat):
        raise ApplicationError("the project changed kind", field="format")

    done = run_execute(model=ImportRun, run_id=import_run.id, work=work)
    assert (done.status, done.error) == ("failed", "format: the project changed kind")


def test_import_task_that_raises_ends_failed(import_run, monkeypatch, caplog):
    def boom(**kwargs):
        raise KeyError("parser state")

    monkeypatch.setattr("annotation.services.import_runs.dataset_import", boom)
    with caplog.at_level(logging.ERROR):
        done = import_run_execute(run_id=import_run.id)
    assert done.status == ImportRun.Status.FAILED
    assert done.error == "KeyError: 'parser state'"
    assert any(r.exc_info for r in caplog.records if r.levelno >= logging.ERROR)
    assert not Item.objects.exists()


def test_export_task_that_raises_ends_failed(make_project, monkeypatch, caplog):
    project = make_project("step_labels", slug="exp")
    assert dataset_import(
        project=project, dataset_name="d", fmt="native", stream=io.BytesIO(_jsonl(3))
    ).ok
    run = export_run_start(project=project, fmt="trl_stepwise")

    def boom(**kwargs):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr("annotation.exporters.pipeline.export_write", boom)
    with caplog.at_level(logging.ERROR):
        done = export_run_execute(run_id=run.id)
    assert done.status == ExportRun.Status.FAILED
    assert done.error == "ZeroDivisionError: division by zero"
    assert any("export run" in r.message and r.exc_info for r in caplog.records)


def test_stats_refresh_that_raises_ends_failed_and_a_new_one_may_start(
    make_project, monkeypatch, django_capture_on_commit_callbacks
):
    project = make_project("step_labels", slug="st")
    assert project_stats_refresh_start(project=project)
    refresh = stats_refresh_latest(project=project)

    def boom(**kwargs):
        raise MemoryError("agreement matrix too big")

    monkeypatch.setattr("annotation.services.stats.agreement_report", boom)
    done = project_stats_refresh_execute(refresh_id=refresh.id)
    assert done.status == StatsRefresh.Status.FAILED
    assert done.error == "MemoryError: agreement matrix too big"
    with django_capture_on_commit_callbacks() as callbacks:
        assert project_stats_refresh_start(project=project)
    assert len(callbacks) == 1


def test_retry_requeues_failed_runs_only(import_run, django_capture_on_commit_callbacks):
    with pytest.raises(ApplicationError) as not_failed:
        run_retry(run=import_run)
    assert not_failed.value.code == "conflict"
    run = run_claim(model=ImportRun, run_id=import_run.id)
    run_beat(run=run, done=2, total=5, attempt=1)
    run_fail(run=run, error="worker exploded", attempt=1)
    with django_capture_on_commit_callbacks() as callbacks:
        again = run_retry(run=run)
    assert len(callbacks) == 1
    assert (again.status, again.attempts, again.error) == ("queued", 0, "")
    assert (again.progress_done, again.started_at, again.heartbeat_at) == (0, None, None)
    done = import_run_execute(run_id=run.id)
    assert done.status == "succeeded"
    assert done.attempts == 1
    assert Item.objects.filter(project=run.project).count() == 5


def test_sweep_requeues_stale_runs_and_fails_exhausted_ones(
    make_project, settings, django_capture_on_commit_callbacks
):
    settings.STEPWISE_RUN_STALE_SECONDS = 60
    settings.STEPWISE_RUN_MAX_ATTEMPTS = 2
    project = make_project("step_labels", slug="sw")
    now = timezone.now()
    old = now - timedelta(seconds=120)

    def make(**kw):
        return ImportRun.objects.create(project=project, format="native", dataset_name="d", **kw)

    stale = make(status="running", attempts=1, heartbeat_at=old, started_at=old)
    exhausted = make(status="running", attempts=2, heartbeat_at=old, started_at=old)
    alive = make(status="running", attempts=1, heartbeat_at=now, started_at=old)
    # A run from before heartbeats existed: its start is its last sign of life.
    legacy = make(status="running", attempts=0, heartbeat_at=None, started_at=old)
    queued = make(status="queued")
    refresh = StatsRefresh.objects.create(
        project=project, status="running", attempts=1, heartbeat_at=old
    )
    with django_capture_on_commit_callbacks() as callbacks:
        counts = runs_sweep()
    assert counts["annotation.ImportRun"] == {"failed": 1, "requeued": 2}
    assert counts["annotation.StatsRefresh"] == {"failed": 0, "requeued": 1}
    assert counts["annotation.ExportRun"] == {"failed": 0, "requeued": 0}
    assert len(callbacks) == 3  # one task per requeued run
    statuses = {
        r.id: r.status
        for r in ImportRun.objects.filter(id__in=[stale.id, exhausted.id, alive.id, legacy.id, queued.id])
    }  # fmt: skip
    assert statuses == {stale.id: "queued", exhausted.id: "failed", alive.id: "running",
                        legacy.id: "queued", queued.id: "queued"}  # fmt: skip
    exhausted.refresh_from_db()
    assert "No sign of life from its worker" in exhausted.error
    assert "after 2 attempt(s)" in exhausted.error
    refresh.refresh_from_db()
    assert refresh.status == "queued"
    # Idempotent: nothing is stale any more.
    assert runs_sweep()["annotation.ImportRun"] == {"failed": 0, "requeued": 0}


@pytest.mark.django_db(transaction=True)
def test_the_beat_thread_writes_heartbeat_and_progress(make_project, settings):
    from annotation.services.runs import RunBeat

    settings.STEPWISE_RUN_HEARTBEAT_SECONDS = 0.05
    project = make_project("step_labels", slug="beat")
    run = ImportRun.objects.create(project=project, format="native", dataset_name="d")
    run = run_claim(model=ImportRun, run_id=run.id)
    first = run.heartbeat_at
    import time

    with RunBeat(run=run, attempt=run.attempts) as beat:
        beat.progress(7, 70)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            run.refresh_from_db()
            if run.progress_done == 7:
                break
            time.sleep(0.05)
    assert (run.progress_done, run.progress_total) == (7, 70)
    assert run.heartbeat_at > first
