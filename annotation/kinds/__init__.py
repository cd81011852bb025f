"""Label kinds: one module per project kind, one class in it owning that kind's whole path.

`label_kind_for(project)` is the one place that turns `project.kind` into behaviour: views,
services and selectors ask the kind and never branch on the project kind themselves, so the
annotation submit, edit, adjudication and gold services share one set of rules.

A new kind is a new `ProjectKind` value plus one module here with a `LabelKind` subclass
(annotation.kinds.base), registered in `LABEL_KINDS` below, and its two templates. It must
provide:

- `kind`, `part_name` / `min_parts` / `missing_parts_message` (what an importable item
  needs), `shown_parts` (the Item relations its labeling page prefetches), `templates`
  (`form`: the labeling/edit/adjudication form body, `keymap`: its keyboard help, and
  optionally `review`: what the review page adds), the flags `content_note`,
  `compares_pairs` and `splits_text`, and `demo` (its demo project);
- the label schema: `default_schema` and `schema_check`;
- labels: `parts`, `validate` (the normal form; `gold=True` for known answers),
  `annotation_fields`, `write`, `read`;
- the browser: `parse_form` (POST to payload) and `page_context` (what its form shows);
- review: `review_layout`, `review_cells`, `review_targets`, `review_signature` (and
  `review_context` for its `review` template);
- statistics: `agreement_fields` and `gold_field`;

and, outside this package, the per-format importers and exporters that accept its data,
and its keyboard handler in frontend/static/js/annotate_keys.js.
"""

from __future__ import annotations

from copy import deepcopy
from typing import TYPE_CHECKING, Any

from annotation.errors import ApplicationError
from annotation.kinds.base import LabelKind, Schema
from annotation.kinds.dialogue import DialogueCoding
from annotation.kinds.preference import PreferencePairs
from annotation.kinds.steps import StepLabels

if TYPE_CHECKING:
    from annotation.models import Project

LABEL_KINDS: dict[str, LabelKind] = {
    k.kind: k() for k in (StepLabels, DialogueCoding, PreferencePairs)
}

__all__ = [
    "LABEL_KINDS",
    "LabelKind",
    "label_kind_for",
    "label_kind_get",
    "label_schema_default",
    "label_schema_validate",
]


def label_kind_get(kind: str) -> LabelKind:
    """The label kind called `kind` (a ProjectKind value)."""
    try:
        return LABEL_KINDS[kind]
    except KeyError:
        raise ApplicationError(
            f"unknown project kind {kind!r}", code="unknown", field="kind"
        ) from None


def label_kind_for(project: Project) -> LabelKind:
    return label_kind_get(project.kind)


def label_schema_default(kind: str) -> Schema:
    """A fresh copy of the default label schema of a project kind."""
    return deepcopy(label_kind_get(kind).default_schema)


def label_schema_validate(kind: str, schema: Any) -> Schema:
    """The schema with defaults filled in, checked for the kind; raises ApplicationError
    naming the field (`label_schema.mode`).

    A schema is configuration (how the UI asks), so it lives as JSON on the project; the
    labels themselves are rows."""
    label_kind = label_kind_get(kind)
    merged = deepcopy(label_kind.default_schema)
    if schema:
        if not isinstance(schema, dict):
            raise ApplicationError("must be an object", field="label_schema")
        merged.update(schema)
    label_kind.schema_check(merged)
    return merged
