"""Crash recovery with a real worker process: SIGKILL the worker in the middle of a job,
start a new one, and the job finishes with no duplicate and no missing suggestion.

Needs Redis (the broker that keeps unacknowledged messages of a dead worker) and PostgreSQL
(the worker subprocess must see the test's database)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.db import connection
from django.db.models import Count

from annotation.models import Suggestion
from config.celery import app
from labeling_jobs.models import JobChunk, JobStatus, LabelingJob
from labeling_jobs.services import labeling_job_create

pytestmark = [
    pytest.mark.worker,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not os.environ.get("CELERY_BROKER_URL", "").startswith("redis://")
        or not os.environ.get("DATABASE_URL", "").startswith(("postgres", "pgsql")),
        reason="crash recovery needs CELERY_BROKER_URL=redis://... and DATABASE_URL=postgres://... "
        "(a worker subprocess shares the broker and the test database)",
    ),
]
ROOT = Path(__file__).resolve().parents[2]


def _start_worker(tag: str) -> subprocess.Popen:
    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.labeling_jobs.worker_settings",
        "DATABASE_URL": f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}",
        "PYTHONPATH": str(ROOT),
    }
    cmd = [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "gpu", "--pool", "solo",
           "--prefetch-multiplier", "1", "-n", f"{tag}-{uuid.uuid4().hex[:6]}@%h",
           "--without-mingle", "--without-gossip", "--loglevel", "WARNING"]  # fmt: skip
    return subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip


def _stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def _wait(predicate, timeout: float, what: str) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def test_sigkill_mid_job_then_restart_finishes_without_duplicates(step_project, tiny_model_dir):
    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge("gpu")
    project = step_project(n=12)
    job = labeling_job_create(
        project=project, kind="mc_estimate", model_name=tiny_model_dir, chunk_size=2,
        params={"n_rollouts": 8, "max_new_tokens": 160},
    )  # fmt: skip
    chunks = JobChunk.objects.filter(job=job)
    first = _start_worker("crash1")
    try:
        _wait(lambda: chunks.filter(status="done").exists() and chunks.filter(status="running").exists(),
              120, "one chunk done and the next one running")  # fmt: skip
        running = chunks.get(status="running")
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        _stop(first, signal.SIGKILL)
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING
    assert job.progress_done < job.progress_total

    second = _start_worker("crash2")
    try:
        # The new worker restores the dead worker's unacknowledged message (visibility timeout).
        _wait(lambda: chunks.filter(id=running.id, attempts=2).exists(), 120, "redelivery")
        _wait(
            lambda: LabelingJob.objects.get(id=job.id).status not in ("queued", "running"),
            180,
            "the job to end",
        )

    finally:
        _stop(second)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.progress_done == job.progress_total == 12
    running.refresh_from_db()
    assert running.status == "done"
    assert running.attempts == 2
    assert set(chunks.values_list("status", flat=True)) == {"done"}
    rows = Suggestion.objects.filter(job_id=job.id)
    dup = rows.values("item", "method", "target").annotate(n=Count("id")).filter(n__gt=1)
    assert not dup.exists()
    # every item with a reference answer has one verdict and one row per step; nothing missing
    expected = 0
    for item in project.items.prefetch_related("steps"):
        if item.reference_answer:
            expected += 1 + item.steps.count()
            assert rows.filter(item=item, target="item").count() == 1
    assert rows.count() == expected
    assert job.skipped == {"no reference answer": 3}
