"""Request parsers that refuse, with a 400, JSON that the database or Python cannot take.

PostgreSQL stores no NUL character in text or jsonb, so a NUL anywhere in a JSON body is
refused here with the path to it, before any view sees it; JSON nested beyond Python's
recursion limit is a parse error rather than a RecursionError.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework import parsers, serializers
from rest_framework.exceptions import ParseError


def nul_path(data: Any, root: str = "") -> str | None:
    """The path (`labels.steps[2].comment`) of the first string or key holding a NUL
    character, or None. Iterative, so any depth the JSON parser accepted is fine."""
    stack: list[tuple[str, Any]] = [(root, data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                return path or "(body)"
        elif isinstance(value, Mapping):
            for key, child in value.items():
                key = str(key)
                child_path = f"{path}.{key}" if path else key
                if "\x00" in key:
                    return child_path
                stack.append((child_path, child))
        elif isinstance(value, list | tuple):
            stack.extend((f"{path}[{i}]", child) for i, child in enumerate(value))
    return None


class JSONParser(parsers.JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply") from None
        path = nul_path(data)
        if path is not None:
            raise ParseError(f"{path}: text must not contain NUL characters (\\u0000)")
        return data


class SafeJSONField(serializers.JSONField):
    """A JSONField whose text form (a multipart or form-encoded field, or binary=True) gets
    the JSON body's checks: nesting past the recursion limit and NUL characters are a 400 on
    the field, not a crash."""

    def to_internal_value(self, data: Any) -> Any:
        try:
            value = super().to_internal_value(data)
        except RecursionError:
            raise serializers.ValidationError("JSON nested too deeply.") from None
        path = nul_path(value)
        if path is not None:
            where = f"{path}: " if path != "(body)" else ""
            raise serializers.ValidationError(f"{where}text must not contain NUL characters")
        return value
