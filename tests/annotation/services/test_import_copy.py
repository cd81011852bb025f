"""The COPY thread of the import: its errors reach the importing thread, and nothing it
writes outlives a transaction that rolls back."""

from __future__ import annotations

import pytest
from django.db import DataError, IntegrityError, connection, transaction
from django.utils import timezone

from annotation.models import Dataset
from annotation.services.import_copy import CopyPipeline, copy_pipeline_scope

pytestmark = pytest.mark.postgres

COLUMNS = ("project_id", "name", "source_format", "license", "provenance", "step_split",
           "created_at")  # fmt: skip


def _row(project, name: str) -> tuple:
    return (project.id, name, "native", "", "", "{}", timezone.now())


def _copy(project, names: list[str], *, fail: bool = False) -> None:
    with transaction.atomic(), copy_pipeline_scope():
        pipeline = CopyPipeline()
        for name in names:
            pipeline.submit("annotation_dataset", COLUMNS, [_row(project, name)])
        if fail:
            raise RuntimeError("the parser found a problem")


def test_rows_are_written_and_foreign_keys_deferred_again(make_project):
    project = make_project()
    _copy(project, [f"d{i}" for i in range(20)])
    assert Dataset.objects.filter(project=project).count() == 20
    # back to Django's default: an orphan row is only checked at COMMIT ...
    with connection.cursor() as cur:
        cur.execute(
            "INSERT INTO annotation_dataset (project_id, name, source_format, license, "
            "provenance, step_split, created_at) VALUES (%s, 'orphan', 'n', '', '', '{}', now())",
            [project.id + 1000],
        )
    # ... which checking now proves
    with pytest.raises(IntegrityError), connection.cursor() as cur:
        cur.execute("SET CONSTRAINTS ALL IMMEDIATE")


def test_an_error_in_the_thread_is_raised_and_the_transaction_rolls_back(make_project):
    project = make_project()
    with pytest.raises(DataError):
        _copy(project, ["ok", "bad\x00name", "after"])
    assert not Dataset.objects.filter(project=project).exists()
    assert Dataset.objects.count() == 0  # and the connection still works


def test_a_failing_import_drops_what_is_queued(make_project):
    project = make_project()
    with pytest.raises(RuntimeError):
        _copy(project, [f"d{i}" for i in range(50)], fail=True)
    # nothing was committed, and no COPY ran after the rollback
    assert not Dataset.objects.filter(project=project).exists()
    with transaction.atomic():
        Dataset.objects.create(project=project, name="later", source_format="native")
    assert list(Dataset.objects.filter(project=project).values_list("name", flat=True)) == ["later"]
