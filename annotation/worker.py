"""The worker heartbeat behind /healthz, as a Celery bootstep the annotation app installs.

`AnnotationConfig.ready()` adds the step to the Celery app's worker blueprint. In a worker,
Celery's Django fixup sets Django up (and so runs `ready()`) when the worker loads its task
modules, before it builds the blueprint; so `config/` needs no app code. The step writes the
worker's WorkerHeartbeat row from a thread every half STEPWISE_WORKER_HEARTBEAT_SECONDS — a
thread rather than the worker's timer, which a solo pool blocks while a task runs — and stops
with the worker, warm or cold. Celery's remote-control ping needs a broadcast-capable
transport, which the embedded filesystem broker lacks, so liveness is kept in the database.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from celery import Celery, bootsteps
from django.conf import settings
from django.db import connection

from annotation.services.health import worker_heartbeat_record

logger = logging.getLogger(__name__)


def _queues(worker: Any) -> list[str]:
    consume_from = worker.app.amqp.queues.consume_from
    return sorted(q.name for q in consume_from.values()) if consume_from else ["default"]


def _beat_loop(hostname: str, queues: list[str], stop: threading.Event) -> None:
    interval = max(1.0, settings.STEPWISE_WORKER_HEARTBEAT_SECONDS / 2)
    while not stop.is_set():
        try:
            worker_heartbeat_record(hostname=hostname, queues=queues)
        except Exception:  # noqa: BLE001 - a failed heartbeat must never stop the worker
            logger.exception("worker heartbeat of %s not written", hostname)
        finally:
            # A fresh connection per beat: nothing of this thread's is shared with the pool
            # processes the worker forks.
            connection.close()
        stop.wait(interval)


class WorkerHeartbeatStep(bootsteps.StartStopStep):
    """Writes this worker's heartbeat row while the worker runs."""

    def __init__(self, worker: Any, **kwargs: Any) -> None:
        super().__init__(worker, **kwargs)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, worker: Any) -> None:
        self._stop.clear()
        self._thread = threading.Thread(
            target=_beat_loop,
            args=(worker.hostname, _queues(worker), self._stop),
            name=f"worker-heartbeat-{worker.hostname}",
            daemon=True,
        )
        self._thread.start()

    def stop(self, worker: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def terminate(self, worker: Any) -> None:  # a cold shutdown
        self.stop(worker)


def worker_heartbeat_install(app: Celery) -> None:
    """Add the heartbeat to every worker `app` starts from now on (idempotent)."""
    app.steps["worker"].add(WorkerHeartbeatStep)
