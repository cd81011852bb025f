"""A large import leaves the item table's planner statistics fresh, so the task stream's
claim query walks its index from the first claim on (not only after autovacuum runs)."""

from __future__ import annotations

import io
import json

import pytest
from django.db import connection

from annotation.services import imports
from annotation.services.imports import dataset_import

pytestmark = pytest.mark.postgres


def _analyze_count() -> int:
    with connection.cursor() as cur:
        cur.execute("SELECT pg_stat_clear_snapshot()")
        cur.execute(
            "SELECT analyze_count FROM pg_stat_user_tables WHERE relname = 'annotation_item'"
        )
        return cur.fetchone()[0]


def _records(n: int, prefix: str) -> io.BytesIO:
    lines = (
        json.dumps({"external_id": f"{prefix}{i}", "prompt": "p",
                    "candidates": [{"text": "a"}, {"text": "b"}]})
        for i in range(n)
    )  # fmt: skip
    return io.BytesIO("\n".join(lines).encode())


def test_large_import_analyzes_the_item_table(make_project, monkeypatch):
    monkeypatch.setattr(imports, "ANALYZE_AFTER_ITEMS", 20)
    project = make_project("preference")
    before = _analyze_count()
    small = dataset_import(project=project, dataset_name="d", fmt="native", stream=_records(5, "s"))
    assert small.ok
    assert _analyze_count() == before
    big = dataset_import(project=project, dataset_name="d", fmt="native", stream=_records(25, "b"))
    assert big.items_created == 25
    assert _analyze_count() == before + 1
