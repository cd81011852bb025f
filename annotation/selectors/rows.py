"""Model instances from rows of hand-written SQL (the hot paths that skip the ORM's query
compiler), converted as the ORM would convert them."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, TypeVar

from django.db import connection
from django.db.models import Model

M = TypeVar("M", bound=Model)


@functools.cache
def _plan(model: type[Model], vendor: str) -> tuple[list[str], list[tuple[int, list[Any], Any]]]:
    fields = model._meta.concrete_fields
    names = [f.attname for f in fields]
    converters = []
    for i, f in enumerate(fields):
        col = f.get_col(model._meta.db_table)
        funcs = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
        if funcs:
            converters.append((i, funcs, col))
    return names, converters


def model_columns(model: type[Model], alias: str) -> str:
    """The model's concrete columns as `alias."column", ...`, in `model_from_row`'s order."""
    return ", ".join(f'{alias}."{f.column}"' for f in model._meta.concrete_fields)


def model_from_row(model: type[M], values: Sequence[Any]) -> M:
    """An instance of `model` from its concrete columns in order (`model_columns`)."""
    names, converters = _plan(model, connection.vendor)
    row = list(values)
    for i, funcs, col in converters:
        for func in funcs:
            row[i] = func(row[i], col, connection)
    return model.from_db(connection.alias, names, row)
