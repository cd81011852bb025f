"""Real Celery worker subprocesses for crash tests: started on the test's broker (Redis) and
database (PostgreSQL), killed with a signal like an out-of-memory kill or a node going away."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]

needs_redis_and_postgres = pytest.mark.skipif(
    not os.environ.get("CELERY_BROKER_URL", "").startswith("redis://")
    or not os.environ.get("DATABASE_URL", "").startswith(("postgres", "pgsql")),
    reason="crash recovery needs CELERY_BROKER_URL=redis://... and DATABASE_URL=postgres://... "
    "(a worker subprocess shares the broker and the test database)",
)


def worker_start(
    tag: str, *, queues: str = "default", settings_module: str, pool: str = "solo"
) -> subprocess.Popen:
    """A worker process in its own process group, on the test database; `pool` prefork runs
    tasks in one child process."""
    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": settings_module,
        "DATABASE_URL": f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}",
        "PYTHONPATH": str(ROOT),
        "STEPWISE_TEST_MEDIA_ROOT": str(settings.MEDIA_ROOT),
    }
    cmd = [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", queues, "--pool", pool,
           "--concurrency", "1", "--prefetch-multiplier", "1", "-n", f"{tag}-{uuid.uuid4().hex[:6]}@%h",
           "--without-mingle", "--without-gossip", "--loglevel", "WARNING"]  # fmt: skip
    return subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip


def worker_kill(proc: subprocess.Popen) -> None:
    """SIGKILL the worker's whole process group: no cleanup, no acknowledgement."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


def child_pids(pid: int) -> list[int]:
    """Processes whose parent is `pid` (from /proc)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def worker_stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def wait_for(predicate: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def queue_purge(name: str) -> None:
    from config.celery import app

    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge(name)
