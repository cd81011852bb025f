"""`run_embedded` runs the sweep of background runs on a timer (Celery beat does in
production): due only every STEPWISE_RUN_SWEEP_SECONDS, and it requeues a run whose worker
stopped beating."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from annotation.management.commands.run_embedded import sweep_if_due
from annotation.models import ImportRun


def test_sweep_runs_on_its_timer(make_project, settings, django_capture_on_commit_callbacks):
    settings.STEPWISE_RUN_SWEEP_SECONDS = 60
    settings.STEPWISE_RUN_STALE_SECONDS = 60
    project = make_project()
    old = timezone.now() - timedelta(seconds=300)
    run = ImportRun.objects.create(
        project=project, format="native", dataset_name="d", status="running", attempts=1,
        heartbeat_at=old, started_at=old,
    )  # fmt: skip
    assert sweep_if_due(last=1000.0, now=1030.0) == 1000.0  # not due yet: nothing read
    run.refresh_from_db()
    assert run.status == "running"
    with django_capture_on_commit_callbacks() as callbacks:
        assert sweep_if_due(last=1000.0, now=1061.0) == 1061.0
    run.refresh_from_db()
    assert run.status == "queued"
    assert len(callbacks) == 1
