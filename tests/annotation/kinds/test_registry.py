"""The label-kind registry: one kind per project kind, each complete."""

from __future__ import annotations

import pytest
from django.template.loader import get_template

from annotation.errors import ApplicationError
from annotation.kinds import (
    LABEL_KINDS,
    label_kind_get,
    label_schema_default,
    label_schema_validate,
)
from annotation.kinds.base import LabelKind
from annotation.models import ProjectKind


def test_every_project_kind_has_a_label_kind() -> None:
    assert set(LABEL_KINDS) == set(ProjectKind.values)
    for value, kind in LABEL_KINDS.items():
        assert isinstance(kind, LabelKind)
        assert kind.kind == value


@pytest.mark.parametrize("kind", list(LABEL_KINDS.values()), ids=list(LABEL_KINDS))
def test_a_kind_provides_templates_schema_and_demo(kind: LabelKind) -> None:
    get_template(kind.templates.form)
    get_template(kind.templates.keymap)
    schema = label_schema_validate(kind.kind, None)
    assert schema == label_schema_default(kind.kind)
    assert schema is not kind.default_schema  # a copy: callers may change it
    assert kind.part_name in kind.shown_parts
    assert {"slug", "name", "file", "dataset", "instructions", "overlap"} <= set(kind.demo)


def test_unknown_kind_and_bad_schema_name_the_field() -> None:
    with pytest.raises(ApplicationError) as info:
        label_kind_get("essay_grading")
    assert (info.value.field, info.value.code) == ("kind", "unknown")
    with pytest.raises(ApplicationError) as info:
        label_schema_validate("step_labels", {"mode": "vibes"})
    assert info.value.field == "label_schema.mode"
    with pytest.raises(ApplicationError) as info:
        label_schema_validate(
            "dialogue_coding", {"fields": [{"name": "x", "role": "client", "choices": []}]}
        )
    assert info.value.field == "label_schema.fields[0].choices"
    with pytest.raises(ApplicationError) as info:
        label_schema_validate("preference", ["not", "an", "object"])
    assert info.value.field == "label_schema"
