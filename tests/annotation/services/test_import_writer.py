"""The bulk import writer takes its SQL names from the models: a model change that the
writer does not follow fails here, not in a user's import."""

from __future__ import annotations

import pytest
from django.db.models import NOT_PROVIDED

from annotation.services.import_writer import COPY_TABLES, CopyTable


def _ids(target: CopyTable) -> str:
    return target.model.__name__


@pytest.mark.parametrize("target", COPY_TABLES, ids=_ids)
def test_writer_fields_exist_on_the_model(target: CopyTable) -> None:
    columns = target.columns(with_id=True)  # FieldDoesNotExist for a renamed or dropped field
    assert columns[0] == target.model._meta.pk.column
    assert len(set(columns)) == len(columns) == len(target.fields) + 1
    assert target.table == target.model._meta.db_table


@pytest.mark.parametrize("target", COPY_TABLES, ids=_ids)
def test_every_column_left_out_has_a_database_default(target: CopyTable) -> None:
    """COPY and INSERT leave unnamed columns to the database: a new NOT NULL column with
    only a Python default would make every import fail."""
    written = set(target.columns(with_id=True))
    missing = [
        f.name
        for f in target.model._meta.concrete_fields
        if f.column not in written and not f.null and f.db_default is NOT_PROVIDED
    ]
    assert missing == [], f"{target.model.__name__}: the import writer does not fill {missing}"


def test_a_changed_column_name_changes_the_sql(monkeypatch: pytest.MonkeyPatch) -> None:
    """Column names are read from _meta when the SQL is built, never spelled out."""
    from annotation.models import Step
    from annotation.services.import_writer import STEPS

    field = Step._meta.get_field("text")
    monkeypatch.setattr(field, "column", "body")
    assert STEPS.columns(with_id=False) == ("item_id", "index", "body")
