"""Migration 0007_project_settings moves the quality settings out of `label_schema` into
Project columns (an out-of-range value meant the default, and still does), and back."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("annotation", "0006_suggestion_prm")]
AFTER = [("annotation", "0007_project_settings")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_schema_keys_become_columns_and_back():
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes()
    try:
        old = _migrate(BEFORE)
        Project = old.get_model("annotation", "Project")
        Project.objects.create(name="a", slug="a", kind="step_labels", label_schema={
            "mode": "first_error", "gold_rate": 0.2, "gold_min_accuracy": 0.9,
            "gold_min_items": 3, "allow_consensus_labels": True})  # fmt: skip
        Project.objects.create(name="b", slug="b", kind="step_labels",
                               label_schema={"gold_rate": 7, "mode": "rate_every_step"})  # fmt: skip
        new = _migrate(AFTER)
        Project = new.get_model("annotation", "Project")
        a, b = Project.objects.get(slug="a"), Project.objects.get(slug="b")
        assert a.label_schema == {"mode": "first_error"}
        assert (a.gold_rate, a.gold_min_accuracy, a.gold_min_items) == (0.2, 0.9, 3)
        assert a.allow_consensus_labels is True
        assert b.gold_rate == pytest.approx(0.05)  # out of range: the default, as before
        assert b.label_schema == {"mode": "rate_every_step"}
        back = _migrate(BEFORE)
        a = back.get_model("annotation", "Project").objects.get(slug="a")
        assert a.label_schema["gold_rate"] == 0.2
        assert a.label_schema["allow_consensus_labels"] is True
    finally:
        _migrate(latest)
