"""The labeling form of one item, shared by the annotator's pages and review's adjudication:
what it shows (`task_context`) and what its POST means (`labels_from_post`). The project's
label kind does the kind-specific part of both."""

from __future__ import annotations

from typing import Any

from django.http import QueryDict

from annotation.kinds import label_kind_for, label_schema_validate
from annotation.kinds.base import Labels, Schema, Suggestions
from annotation.models import Assignment, Item, Project
from annotation.selectors.annotations import item_for_labeling, suggestions_for_item
from annotation.web.rendering import rich_text


def task_context(
    *,
    project: Project,
    item: Item,
    labels: Labels | None = None,
    left_index: int | None = None,
    right_index: int | None = None,
    with_suggestions: bool = True,
    schema: Schema | None = None,
) -> dict[str, Any]:
    """Everything the labeling form of one item shows.

    `labels` (normal form) pre-fills the form: the viewer's own labels (editing), or on
    review the final label's starting point (annotation.selectors.review_prefill: an
    adjudication, else the annotators' aggregate, its "provenance" shown per value); never
    another annotator's labels on the labeling pages. A model's pre-labels pre-fill it only
    in verify-the-model mode (`project.prefill`), marked as the model's. Items that
    compare pairs show `left_index` on the left; by default the two lowest candidate indexes.
    `schema` (checked) replaces the project's: the schema editor's preview.
    """
    kind = label_kind_for(project)
    if schema is None:
        schema = label_schema_validate(project.kind, project.label_schema)
    suggestions: Suggestions = {}
    if with_suggestions and project.show_suggestions:
        suggestions = suggestions_for_item(item=item)
    context = {
        "kind": project.kind,
        "schema": schema,
        "form_template": kind.templates.form,
        "prompt_html": rich_text(item.prompt),
        **kind.page_context(
            item=item,
            schema=schema,
            labels=labels or {},
            suggestions=suggestions,
            left_index=left_index,
            right_index=right_index,
        ),
    }
    if with_suggestions and project.prefill and labels is None:
        # Verify-the-model mode: the model's pre-labels, marked, to confirm or change.
        kind.prefill_page(context=context, prefill=kind.prefill(item_id=item.id, schema=schema))
    return context


def labels_from_post(
    *,
    project: Project,
    post: QueryDict,
    left_index: int | None = None,
    right_index: int | None = None,
) -> dict[str, Any]:
    """The labeling form as the services' payload; the services validate it."""
    return label_kind_for(project).parse_form(
        post=post, left_index=left_index, right_index=right_index
    )


def sides(
    project: Project, assignment: Assignment | None, item: Item
) -> tuple[int | None, int | None]:
    """Candidate indexes shown on the left and right (from the item's prefetched candidates):
    the assignment's drawn pair, or without one the two lowest indexes; (None, None) for
    kinds that do not compare pairs."""
    if not label_kind_for(project).compares_pairs:
        return None, None
    if assignment is None:
        lowest = sorted(c.index for c in item.candidates.all())
        return (lowest[0] if lowest else None), (lowest[1] if len(lowest) > 1 else None)
    by_id: dict[int | None, int] = {c.id: c.index for c in item.candidates.all()}
    return by_id.get(assignment.left_candidate_id), by_id.get(assignment.right_candidate_id)


def page_templates(project: Project) -> dict[str, str]:
    """Templates the labeling pages include for the project's kind."""
    return {"keymap_template": label_kind_for(project).templates.keymap}


def assignment_sides(project: Project, assignment: Assignment) -> tuple[int | None, int | None]:
    """`sides` for a submit, which has no item loaded: reads the candidates only for kinds
    that compare pairs."""
    if not label_kind_for(project).compares_pairs:
        return None, None
    return sides(
        project, assignment, item_for_labeling(item_id=assignment.item_id, kind=project.kind)
    )


def shows_content_note(project: Project) -> bool:
    return label_kind_for(project).content_note
