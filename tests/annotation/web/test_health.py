from datetime import timedelta

from django.utils import timezone

from annotation.models import WorkerHeartbeat


def test_healthz_reports_no_worker_as_degraded(client, db):
    resp = client.get("/healthz")
    assert resp.status_code == 503
    body = resp.json()
    assert body["database"]["ok"] is True
    assert body["broker"]["ok"] is True
    assert body["workers"] == {"ok": False, "alive": []}
    assert body["status"] == "degraded"


def test_healthz_ignores_stale_heartbeats(client, db, settings):
    WorkerHeartbeat.objects.create(
        hostname="old@host", queues="default", last_seen=timezone.now() - timedelta(minutes=5)
    )
    WorkerHeartbeat.objects.create(
        hostname="new@host", queues="default,gpu", last_seen=timezone.now()
    )
    body = client.get("/healthz").json()
    assert [w["hostname"] for w in body["workers"]["alive"]] == ["new@host"]
    assert body["workers"]["alive"][0]["queues"] == ["default", "gpu"]
