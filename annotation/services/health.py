"""Worker heartbeats: each Celery worker writes its row (see `annotation.worker`); /healthz
reads them (`annotation.selectors.health`)."""

from __future__ import annotations

from django.utils import timezone

from annotation.models import WorkerHeartbeat


def worker_heartbeat_record(*, hostname: str, queues: list[str]) -> None:
    WorkerHeartbeat.objects.update_or_create(
        hostname=hostname,
        defaults={"queues": ",".join(queues), "last_seen": timezone.now()},
    )
