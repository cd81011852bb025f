"""The Celery app. Queues: `default` for imports and bookkeeping, `gpu` for model jobs."""

import os

from celery import Celery, bootsteps
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.embedded")

app = Celery("stepwise")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = (Queue("default"), Queue("gpu"))
app.conf.task_default_queue = "default"
app.autodiscover_tasks()


class HeartbeatStep(bootsteps.StartStopStep):
    """Writes this worker's heartbeat row so /healthz can tell a live worker on any broker.

    Celery's remote-control ping needs a broadcast-capable transport; the embedded
    filesystem broker has none, so liveness is recorded in the database instead.
    """

    requires = {"celery.worker.components:Timer"}

    def __init__(self, worker, **kwargs):  # noqa: ANN001, ANN003
        super().__init__(worker, **kwargs)
        self.tref = None

    def start(self, worker) -> None:  # noqa: ANN001
        from django.conf import settings

        self._beat(worker)
        interval = max(1, settings.STEPWISE_WORKER_HEARTBEAT_SECONDS // 2)
        self.tref = worker.timer.call_repeatedly(interval, self._beat, (worker,), priority=10)

    def stop(self, worker) -> None:  # noqa: ANN001
        if self.tref is not None:
            self.tref.cancel()
            self.tref = None

    @staticmethod
    def _beat(worker) -> None:  # noqa: ANN001
        from annotation.services.health import worker_heartbeat_record

        queues = (
            sorted(q.name for q in worker.app.amqp.queues.consume_from.values())
            if (worker.app.amqp.queues.consume_from)
            else ["default"]
        )
        try:
            worker_heartbeat_record(hostname=worker.hostname, queues=queues)
        except Exception:  # noqa: BLE001 - a failed heartbeat must never stop the worker
            import logging

            logging.getLogger(__name__).exception("heartbeat write failed")


app.steps["worker"].add(HeartbeatStep)
