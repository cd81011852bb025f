"""A stand-in for the `default` Celery worker in browser tests: a thread that runs every
queued export and statistics refresh with the same service the task calls, so a page sees
its runs start, finish and show their results. (tests/integration runs real workers.)"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from django.db import close_old_connections

from annotation.models import ExportRun, StatsRefresh
from annotation.services.exports import export_run_execute
from annotation.services.stats import project_stats_refresh_execute


@pytest.fixture
def run_worker(live_server) -> Iterator[list[tuple[str, int]]]:
    """Start the thread; yields the (kind, id) of every run it executed."""
    done: list[tuple[str, int]] = []
    stop = threading.Event()

    def work() -> None:
        while not stop.is_set():
            try:
                for run_id in ExportRun.objects.filter(status="queued").values_list(
                    "id", flat=True
                ):
                    export_run_execute(run_id=run_id)
                    done.append(("export", run_id))
                for run_id in StatsRefresh.objects.filter(status="queued").values_list(
                    "id", flat=True
                ):
                    project_stats_refresh_execute(refresh_id=run_id)
                    done.append(("stats", run_id))
            finally:
                close_old_connections()
            stop.wait(0.3)

    thread = threading.Thread(target=work, name="test-worker", daemon=True)
    thread.start()
    yield done
    stop.set()
    thread.join(timeout=30)
