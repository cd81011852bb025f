"""From a value in a backup file to a parameter of the restoring INSERT: one converter per
field, built once per batch layout.

Every value is checked as the model would check it (`to_python`, the field's validators,
its choices) and foreign keys are remapped. Most values are plain strings, integers and
booleans that already have the right type; for those a converter checks type, length,
range and choices inline, which is what the validators would do, without the calls.
Anything else takes the general path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator, MaxValueValidator, MinValueValidator
from django.db import connection, models

from annotation.backup.idmap import IdMaps
from annotation.backup.registry import related_label
from annotation.errors import ApplicationError

Converter = Callable[[Any], Any]

_TEXT = (models.CharField, models.TextField)
_INT = (
    models.IntegerField, models.BigIntegerField, models.SmallIntegerField,
    models.PositiveIntegerField, models.PositiveSmallIntegerField,
    models.PositiveBigIntegerField,
)  # fmt: skip
# Fields whose Python value is already the database parameter (no adaptation).
_PLAIN = (*_TEXT, *_INT, models.BooleanField, models.FloatField)


def _bad(message: str) -> ApplicationError:
    return ApplicationError(message, code="invalid_backup")


def _general(f: models.Field) -> Converter:
    choices = {c[0] for c in f.flatchoices} if f.choices else None
    prep = type(f) not in _PLAIN

    def convert(value: Any) -> Any:
        try:
            value = f.to_python(value)
            if value is not None:
                f.run_validators(value)
        except ValidationError as exc:
            raise _bad(f"{f.attname}: {'; '.join(exc.messages)}") from None
        if choices is not None and value not in (None, "") and value not in choices:
            raise _bad(f"{f.attname}: {value!r} is not one of its choices")
        return f.get_db_prep_save(value, connection) if prep else value

    return convert


def _text(f: models.Field, general: Converter) -> Converter | None:
    if type(f) not in _TEXT or not all(isinstance(v, MaxLengthValidator) for v in f.validators):
        return None
    limit = f.max_length
    choices = frozenset(c[0] for c in f.flatchoices) | {""} if f.choices else None

    def convert(value: Any) -> Any:
        if (
            type(value) is str
            and (limit is None or len(value) <= limit)
            and (choices is None or value in choices)
        ):
            return value
        return general(value)

    return convert


def _integer(f: models.Field, general: Converter) -> Converter | None:
    if type(f) not in _INT or f.choices:
        return None
    lo, hi = -(2**63), 2**63 - 1
    for v in f.validators:
        if isinstance(v, MinValueValidator):
            lo = max(lo, v.limit_value)
        elif isinstance(v, MaxValueValidator):
            hi = min(hi, v.limit_value)
        else:
            return None

    def convert(value: Any) -> Any:
        if type(value) is int and lo <= value <= hi:
            return value
        return general(value)

    return convert


def field_converter(f: models.Field, maps: IdMaps, soft_ref: str | None) -> Converter:
    """The converter of one field; foreign keys (and a soft reference, an integer column
    that holds another model's id) are remapped through `maps`."""
    if f.is_relation:
        label = related_label(f)

        def remap(value: Any) -> Any:
            if value is None:
                return None
            if type(value) is not int:
                raise _bad(f"{f.attname}: not an id")
            return maps.require(label, value)

        return remap
    general = _general(f)
    if soft_ref is not None:

        def soft(value: Any) -> Any:
            # A soft reference to a row that is not in the backup keeps its value.
            if type(value) is int and maps.has(soft_ref):
                value = maps.get(soft_ref, value) or value
            return general(value)

        return soft
    fast = _text(f, general) or _integer(f, general)
    if fast is not None:
        return fast
    if type(f) is models.BooleanField:
        return lambda value: value if type(value) is bool else general(value)
    if type(f) is models.FloatField:
        return lambda value: value if type(value) is float else general(value)
    return general
