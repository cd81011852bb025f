"""Turning the API's JSON into the client's dataclasses: known fields by name, the rest kept
in `raw`, timestamps as aware datetimes. Unknown keys never break a client (the server may
add fields)."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any, TypeVar

T = TypeVar("T")


def parse_datetime(value: Any) -> datetime | None:
    if not value or not isinstance(value, str):
        return None
    text = value[:-1] + "+00:00" if value.endswith("Z") else value
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def build(cls: type[T], data: dict[str, Any], **extra: Any) -> T:
    """An instance of the dataclass `cls` from an API object: fields present in `data`
    (timestamps `*_at` parsed), `raw` set to the whole object, `extra` passed through."""
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name in extra or not f.init or f.name.startswith("_") or f.name == "raw":
            continue
        if f.name in data:
            value = data[f.name]
            kwargs[f.name] = parse_datetime(value) if f.name.endswith("_at") else value
    if any(f.name == "raw" for f in dataclasses.fields(cls)):  # type: ignore[arg-type]
        kwargs["raw"] = data
    kwargs.update(extra)
    return cls(**kwargs)
