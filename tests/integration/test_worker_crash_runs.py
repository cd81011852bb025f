"""Runs whose worker dies are never left running (issue 9, part 1), with real worker processes
on Redis and PostgreSQL: an import big enough to take several seconds, its worker SIGKILLed
in the middle (after it reported progress), then

- a worker restarted: the redelivered task takes the run over and it succeeds exactly once,
  with every item present;
- only the worker's pool process killed (prefork): the worker requeues the task at once, the
  delivery finds the run's heartbeat still fresh and looks again once it is stale, then takes
  the run over;
- no worker restarted: the sweep fails the run once its attempts are used up (a manager
  retries it over REST and a new worker finishes it), or requeues it and a later worker
  finishes it.
"""

from __future__ import annotations

import json
import os
import signal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from annotation.models import ImportRun, Item, Role, WorkerHeartbeat
from annotation.services.import_runs import import_run_create
from annotation.services.runs import runs_sweep
from tests.integration.workers import (
    child_pids,
    needs_redis_and_postgres,
    queue_purge,
    wait_for,
    worker_kill,
    worker_start,
    worker_stop,
)

pytestmark = [
    pytest.mark.worker,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    needs_redis_and_postgres,
]
SETTINGS = "tests.integration.worker_settings"
N_RECORDS = 30_000  # about 5-10 s of import on the CI machine


@pytest.fixture
def fast_runs(settings):
    # The same staleness as the workers' settings, for the sweep run by the test process.
    settings.STEPWISE_RUN_STALE_SECONDS = 3
    queue_purge("default")
    yield settings
    queue_purge("default")


@pytest.fixture(scope="module")
def big_file() -> bytes:
    return "".join(
        json.dumps({
            "external_id": f"t{i}", "prompt": f"What is {i} + {i}? Explain.",
            "steps": [f"Step one: {i} + {i}", f"Step two: = {2 * i}", "So that is the answer."],
        }) + "\n"
        for i in range(N_RECORDS)
    ).encode()  # fmt: skip


def _start_import(project, data: bytes) -> ImportRun:
    return import_run_create(
        project=project, user=project.created_by, upload=SimpleUploadedFile("big.jsonl", data),
        fmt="native", dataset_name="big",
    )  # fmt: skip


def _run(run_id: int) -> ImportRun:
    return ImportRun.objects.get(id=run_id)


def _kill_mid_import(run: ImportRun, tag: str) -> dict[str, int]:
    """Start a worker, let it report real progress, SIGKILL it; returns the progress seen."""
    proc = worker_start(tag, settings_module=SETTINGS)
    seen: dict[str, int] = {}
    try:

        def progressing() -> bool:
            r = _run(run.id)
            if r.status == "running" and r.progress_done > 0:
                seen.update(done=r.progress_done, total=r.progress_total, attempts=r.attempts)
                return True
            assert r.status in ("queued", "running"), (r.status, r.error, r.errors)
            return False

        wait_for(progressing, 120, "the import to report progress")
        assert WorkerHeartbeat.objects.filter(hostname__startswith=tag).exists()
    finally:
        worker_kill(proc)
    return seen


def _assert_imported_once(run_id: int, project) -> ImportRun:
    run = _run(run_id)
    assert run.status == "succeeded", run.error
    assert run.items_created == N_RECORDS
    assert run.progress_done == run.progress_total == N_RECORDS
    items = Item.objects.filter(project=project)
    assert items.count() == N_RECORDS
    assert items.values("external_id").distinct().count() == N_RECORDS
    assert set(items.filter(external_id__in=["t0", f"t{N_RECORDS - 1}"]).values_list(
        "external_id", flat=True)) == {"t0", f"t{N_RECORDS - 1}"}  # fmt: skip
    return run


def test_sigkill_mid_import_then_restart_imports_exactly_once(fast_runs, make_project, big_file):
    project = make_project("step_labels")
    run = _start_import(project, big_file)
    seen = _kill_mid_import(run, "imp1")
    # Progress was real: part of the file read, the total extrapolated from the bytes read.
    assert 0 < seen["done"] < N_RECORDS
    assert seen["total"] >= seen["done"]
    assert seen["attempts"] == 1
    assert _run(run.id).status == "running"
    # One transaction: nothing half-written.
    assert not Item.objects.filter(project=project).exists()

    second = worker_start("imp2", settings_module=SETTINGS)
    try:
        wait_for(lambda: _run(run.id).status not in ("queued", "running"), 180, "the run to end")
    finally:
        worker_stop(second)
    done = _assert_imported_once(run.id, project)
    assert done.attempts == 2  # the dead worker's attempt, then the takeover


def test_sigkill_of_the_pool_process_only_then_the_run_is_taken_over(
    fast_runs, make_project, big_file
):
    project = make_project("step_labels")
    run = _start_import(project, big_file)
    proc = worker_start("imp7", settings_module=SETTINGS, pool="prefork")
    try:
        wait_for(lambda: _run(run.id).progress_done > 0, 120, "the import to report progress")
        children = child_pids(proc.pid)
        assert len(children) == 1, children
        os.kill(children[0], signal.SIGKILL)  # like the kernel's out-of-memory killer
        wait_for(lambda: _run(run.id).status not in ("queued", "running"), 180, "the run to end")
        assert proc.poll() is None  # the worker itself lived on
    finally:
        worker_stop(proc)
    assert _assert_imported_once(run.id, project).attempts == 2


def test_sigkill_without_restart_sweep_fails_the_run_and_rest_retry_finishes_it(
    fast_runs, make_project, big_file, api_client
):
    fast_runs.STEPWISE_RUN_MAX_ATTEMPTS = 1
    project = make_project("step_labels")
    api_client.force_authenticate(project.created_by)
    resp = api_client.post(
        f"/api/v1/projects/{project.slug}/imports/",
        {"file": SimpleUploadedFile("big.jsonl", big_file), "format": "native", "dataset": "big"},
        format="multipart",
    )
    assert resp.status_code == 201, resp.content
    run_id = resp.json()["id"]
    _kill_mid_import(_run(run_id), "imp3")

    # No worker comes back; the periodic sweep notices the silence and gives up on the run.
    def swept() -> bool:
        runs_sweep()
        return _run(run_id).status != "running"

    wait_for(swept, 30, "the sweep to end the run")
    failed = api_client.get(f"/api/v1/projects/{project.slug}/imports/{run_id}/").json()
    assert failed["status"] == "failed"
    assert failed["error"].startswith("No sign of life from its worker for")
    assert "after 1 attempt(s)" in failed["error"]
    assert not Item.objects.filter(project=project).exists()

    fast_runs.STEPWISE_RUN_MAX_ATTEMPTS = 3
    retried = api_client.post(f"/api/v1/projects/{project.slug}/imports/{run_id}/retry/")
    assert retried.status_code == 200, retried.content
    assert retried.json()["status"] == "queued"
    worker = worker_start("imp4", settings_module=SETTINGS)
    try:
        wait_for(lambda: _run(run_id).status not in ("queued", "running"), 180, "the retry")
    finally:
        worker_stop(worker)
    assert _assert_imported_once(run_id, project).attempts == 1


def test_sigkill_without_restart_sweep_requeues_and_a_later_worker_finishes(
    fast_runs, make_project, big_file, member
):
    project = make_project("step_labels")
    member(project, Role.MANAGER)
    run = _start_import(project, big_file)
    _kill_mid_import(run, "imp5")

    def swept() -> bool:
        return runs_sweep()["annotation.ImportRun"]["requeued"] == 1

    wait_for(swept, 30, "the sweep to requeue the run")
    assert _run(run.id).status == "queued"
    later = worker_start("imp6", settings_module=SETTINGS)
    try:
        wait_for(lambda: _run(run.id).status not in ("queued", "running"), 180, "the run to end")
    finally:
        worker_stop(later)
    assert _assert_imported_once(run.id, project).attempts == 2
