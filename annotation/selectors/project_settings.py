"""Reads of a project's settings, and what a label-schema change would affect."""

from __future__ import annotations

from typing import Any

from annotation.kinds import label_kind_for
from annotation.kinds.base import SchemaOrphan
from annotation.models import Item, Project
from annotation.project_settings import project_settings_for
from annotation.selectors.annotations import item_for_labeling


def project_settings_get(*, project: Project) -> dict[str, Any]:
    """The value of every setting that applies to the project, by setting name."""
    schema = project.label_schema or {}
    return {
        s.name: schema.get(s.schema_key) if s.schema_key else getattr(project, s.name)
        for s in project_settings_for(project)
    }


def project_schema_orphans(*, project: Project, label_schema: dict[str, Any]) -> list[SchemaOrphan]:
    """Values in use that replacing the project's schema by `label_schema` (validated) would
    remove, with how many annotations use each."""
    return label_kind_for(project).schema_orphans(
        project=project, old=project.label_schema or {}, new=label_schema
    )


def project_schema_preview_item(*, project: Project) -> Item | None:
    """The item the schema editor previews the labeling form on (the project's first), with
    everything the labeling page shows; None for a project without items."""
    first = Item.objects.filter(project=project).order_by("id").values_list("id", flat=True).first()
    return item_for_labeling(item_id=first, kind=project.kind) if first is not None else None
