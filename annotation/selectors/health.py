"""The health report behind /healthz: database, broker, and live workers (by heartbeat)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

from annotation.models import WorkerHeartbeat


def health_report() -> tuple[bool, dict[str, Any]]:
    """(healthy, report). Healthy means the database and broker answer and a worker is alive."""
    report: dict[str, Any] = {}
    try:
        with connection.cursor() as cur:
            cur.execute("SELECT 1")
            cur.fetchone()
        report["database"] = {"ok": True, "vendor": connection.vendor}
    except Exception as exc:  # noqa: BLE001 - any failure is the thing being reported
        report["database"] = {"ok": False, "error": str(exc)}

    from config.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
            transport = conn.transport_cls
        report["broker"] = {"ok": True, "transport": str(transport)}
    except Exception as exc:  # noqa: BLE001
        report["broker"] = {"ok": False, "error": str(exc)}

    workers: list[dict[str, Any]] = []
    if report["database"]["ok"]:
        fresh = timezone.now() - timedelta(seconds=settings.STEPWISE_WORKER_HEARTBEAT_SECONDS)
        for hb in WorkerHeartbeat.objects.filter(last_seen__gte=fresh).order_by("hostname"):
            workers.append(
                {"hostname": hb.hostname, "queues": hb.queues.split(","), "last_seen": hb.last_seen}
            )
    report["workers"] = {"ok": bool(workers), "alive": workers}
    healthy = report["database"]["ok"] and report["broker"]["ok"] and bool(workers)
    report["status"] = "ok" if healthy else "degraded"
    return healthy, report
