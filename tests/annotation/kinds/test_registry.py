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
    if kind.templates.review:
        get_template(kind.templates.review)
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


def test_steps_review_context_groups_imported_alternatives() -> None:
    from annotation.models import Item

    item = Item(
        metadata={
            "alternatives": [
                {"step": 2, "completion": 1, "text": "x = <b>2</b>", "rating": -1},
                {"step": 0, "completion": 0, "text": "first", "rating": None},
                {"step": 2, "completion": 3, "text": "x = 3", "rating": 1, "flagged": True},
                {"step": "2", "text": "not an index"},
                "not an object",
            ]
        }
    )
    extra = label_kind_get("step_labels").review_context(item=item)
    groups = extra["alternatives"]
    assert [g["step"] for g in groups] == [1, 3]
    assert [(o["rating"], o["css"]) for o in groups[1]["options"]] == [
        ("−1", "r-wrong"),
        ("+1", "r-right"),
    ]
    assert groups[0]["options"][0]["rating"] == "unrated"
    assert "<b>" not in str(groups[1]["options"][0]["html"])  # escaped, not rendered
    assert label_kind_get("step_labels").review_context(item=Item(metadata={})) == {}
    # Other kinds show nothing extra, even with the same metadata (the preference kind
    # shows its candidates by number instead: tests/annotation/web/test_review_prefill.py).
    assert label_kind_get("dialogue_coding").review_context(item=item) == {}
