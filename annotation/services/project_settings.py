"""Writes of a project's settings and label schema (the settings page, REST and CLI).

Every value is checked against its declaration in `annotation.project_settings`; a label
schema is checked by the project's label kind and refused when it would orphan labels
already written.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.db.models import F

from annotation.dispatch import enqueue_on_commit
from annotation.errors import ApplicationError
from annotation.kinds import label_schema_validate
from annotation.kinds.base import Schema
from annotation.models import Item, Project
from annotation.project_settings import SETTINGS_BY_NAME, ProjectSetting
from annotation.selectors.project_settings import project_schema_orphans
from annotation.services.model_loop import ROUTING_SENDER


def setting_value_clean(setting: ProjectSetting, value: Any) -> Any:
    """`value` as the setting stores it; ApplicationError naming the setting otherwise."""
    name, kind = setting.name, setting.type
    if kind in ("text", "textarea", "markdown"):
        if not isinstance(value, str):
            raise ApplicationError("must be text", field=name)
        if "\x00" in value:
            raise ApplicationError("must not contain NUL characters", field=name)
        # Browsers post textareas with CRLF line ends; store one kind.
        value = value.replace("\r\n", "\n")
        if setting.max_length is not None and len(value) > setting.max_length:
            raise ApplicationError(f"at most {setting.max_length} characters", field=name)
        if setting.required and not value.strip():
            raise ApplicationError("may not be empty", field=name)
        return value.strip() if kind == "text" else value
    if kind == "bool":
        if not isinstance(value, bool):
            raise ApplicationError("must be true or false", field=name)
        return value
    if kind == "choice":
        allowed = [c for c, _ in setting.choices]
        if value not in allowed:
            raise ApplicationError(f"must be one of {', '.join(allowed)}", field=name)
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ApplicationError("must be a number", field=name)
    if kind == "int" and not (isinstance(value, int) or float(value).is_integer()):
        raise ApplicationError("must be a whole number", field=name)
    if not math.isfinite(value):
        raise ApplicationError("must be a finite number", field=name)
    lo, hi = setting.minimum, setting.maximum
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ApplicationError(f"must be between {lo:g} and {hi:g}", field=name)
    return int(value) if kind == "int" else float(value)


# Settings that used to be keys of the label schema (before 0007_project_settings); a schema
# that still carries them sets the project's columns instead.
LEGACY_SCHEMA_KEYS = ("gold_rate", "gold_min_accuracy", "gold_min_items", "allow_consensus_labels")


def schema_settings_split(label_schema: Any) -> tuple[Any, dict[str, Any]]:
    """(the schema without the legacy setting keys, those settings checked)."""
    if not isinstance(label_schema, dict) or not any(k in label_schema for k in LEGACY_SCHEMA_KEYS):
        return label_schema, {}
    schema = dict(label_schema)
    values = {}
    for key in LEGACY_SCHEMA_KEYS:
        if key in schema:
            value = schema.pop(key)
            values[key] = setting_value_clean(SETTINGS_BY_NAME[key], value)
    return schema, values


def _has_nul(value: Any) -> bool:
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            if "\x00" in v:
                return True
        elif isinstance(v, dict):
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
    return False


def _schema_checked(project: Project, label_schema: Any) -> Schema:
    """The schema validated by the kind; ApplicationError (409) when labels already written
    use values it removes, saying how many annotations and which values."""
    schema = label_schema_validate(project.kind, label_schema)
    if _has_nul(schema):  # PostgreSQL's jsonb stores no NUL character
        raise ApplicationError("must not contain NUL characters", field="label_schema")
    orphans = project_schema_orphans(project=project, label_schema=schema)
    if orphans:
        total = ", ".join(
            f"{o.what} ({o.annotations} annotation{'s' if o.annotations != 1 else ''})"
            for o in orphans
        )
        raise ApplicationError(
            f"This schema removes values that existing annotations use: {total}. "
            "Keep those values (you may rename their display names) or delete the labels first.",
            code="conflict",
            field="label_schema",
            details=[{"what": o.what, "annotations": o.annotations} for o in orphans],
        )
    return schema


@transaction.atomic
def project_settings_update(*, project: Project, values: Mapping[str, Any]) -> Project:
    """Change some of the project's settings (`PROJECT_SETTINGS` names); all or nothing.

    A setting that lives in the label schema (the step mode) goes through the kind's schema
    validation. Unknown names, settings that do not apply to the project's kind and invalid
    values raise ApplicationError naming the setting.
    """
    locked = Project.objects.select_for_update().get(pk=project.pk)
    old_routing = locked.routing
    changed: set[str] = set()
    schema = dict(locked.label_schema or {})
    for name, raw in values.items():
        setting = SETTINGS_BY_NAME.get(name)
        if setting is None:
            raise ApplicationError("no such setting", code="unknown", field=name)
        if not setting.applies_to(locked):
            raise ApplicationError("does not apply to this project's kind", field=name)
        value = setting_value_clean(setting, raw)
        if setting.schema_key:
            schema[setting.schema_key] = value
            changed.add("label_schema")
        else:
            setattr(locked, name, value)
            changed.add(name)
    if "label_schema" in changed:
        locked.label_schema = _schema_checked(locked, schema)
    if changed:
        locked.save(update_fields=sorted(changed))
    if "overlap" in changed:
        items_completeness_sync(project=locked)
    if locked.routing != old_routing:
        # As project_model_loop_update: the re-rank (or the managers' priorities put back) is
        # a task after commit, never work in the request.
        enqueue_on_commit(ROUTING_SENDER, [locked.id])
    return locked


def items_completeness_sync(*, project: Project) -> int:
    """After a change of overlap k: mark items complete exactly when they have k human
    annotations (gold items never are), so a raised k sends done items back to the queue and
    a lowered one stops asking for more. Returns the number of items changed."""
    items = Item.objects.filter(project=project, is_gold=False)
    # An item a manager sent back for more labels needs k plus its extra labels.
    needed = project.overlap + F("extra_labels")
    reopened = items.filter(is_complete=True, done_count__lt=needed).update(is_complete=False)
    closed = items.filter(is_complete=False, done_count__gte=needed).update(is_complete=True)
    return reopened + closed


@transaction.atomic
def project_schema_set(*, project: Project, label_schema: Any) -> Project:
    """Replace the project's label schema: filled with the kind's defaults, checked by the
    kind, and refused (409) when it would orphan existing labels."""
    locked = Project.objects.select_for_update().get(pk=project.pk)
    label_schema, legacy = schema_settings_split(label_schema)
    locked.label_schema = _schema_checked(locked, label_schema)
    for key, value in legacy.items():
        setattr(locked, key, value)
    locked.save(update_fields=["label_schema", *legacy])
    return locked
