"""Migration 0003_background_runs keeps the data: the dashboard's refresh state (a ProjectStat
row "state" until now) becomes a StatsRefresh run, failed imports get their message as their
error, and going back restores the state rows."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("annotation", "0002_project_gold_count")]
AFTER = [("annotation", "0003_background_runs")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_refresh_state_rows_become_runs_and_back():
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes()
    try:
        old = _migrate(BEFORE)
        Project = old.get_model("annotation", "Project")
        ProjectStat = old.get_model("annotation", "ProjectStat")
        ImportRun = old.get_model("annotation", "ImportRun")
        at = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
        done, failed, busy = (
            Project.objects.create(name=s, slug=s, kind="step_labels") for s in ("a", "b", "c")
        )
        ProjectStat.objects.create(
            project=done, key="agreement", value={"fields": []}, computed_at=at
        )
        ProjectStat.objects.create(
            project=done, key="state", computed_at=at,
            value={"status": "done", "requested_at": "2026-05-01T11:59:00+00:00",
                   "computed_at": "2026-05-01T12:00:00+00:00", "seconds": 2.5},
        )  # fmt: skip
        ProjectStat.objects.create(
            project=failed, key="state", computed_at=at,
            value={"status": "failed", "error": "MemoryError: too big"},
        )  # fmt: skip
        ProjectStat.objects.create(
            project=busy, key="state", computed_at=at,
            value={"status": "running", "requested_at": "2026-05-01T11:00:00+00:00"},
        )  # fmt: skip
        ImportRun.objects.create(
            project=done, dataset_name="d", format="native", status="failed",
            message="Rejected: 2 problem(s); nothing was written.",
        )  # fmt: skip
        ImportRun.objects.create(
            project=done, dataset_name="d", format="native", status="succeeded", progress_done=7
        )

        new = _migrate(AFTER)
        StatsRefresh = new.get_model("annotation", "StatsRefresh")
        Stat = new.get_model("annotation", "ProjectStat")
        Run = new.get_model("annotation", "ImportRun")
        assert not Stat.objects.filter(key="state").exists()
        assert Stat.objects.filter(key="agreement").count() == 1
        by_project = {r.project.slug: r for r in StatsRefresh.objects.select_related("project")}
        assert {s: r.status for s, r in by_project.items()} == {
            "a": "succeeded", "b": "failed", "c": "running",
        }  # fmt: skip
        ok = by_project["a"]
        assert ok.finished_at == at
        assert (ok.finished_at - ok.started_at).total_seconds() == 2.5
        assert ok.created_at == datetime(2026, 5, 1, 11, 59, tzinfo=UTC)
        assert by_project["b"].error == "MemoryError: too big"
        assert by_project["c"].heartbeat_at == at  # stale now: the sweep takes it from here
        assert Run.objects.get(status="failed").error.startswith("Rejected: 2 problem(s)")
        assert Run.objects.get(status="succeeded").progress_total == 7

        back = _migrate(BEFORE)
        states = {
            s.project.slug: s.value
            for s in back.get_model("annotation", "ProjectStat")
            .objects.filter(key="state")
            .select_related("project")
        }
        assert states["a"]["status"] == "done"
        assert states["a"]["seconds"] == 2.5
        assert states["b"] == {
            "status": "failed", "requested_at": states["b"]["requested_at"], "error": "MemoryError: too big",
        }  # fmt: skip
        assert states["c"]["status"] == "running"
    finally:
        _migrate(latest)
