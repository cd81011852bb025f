"""Submitting, editing and adjudicating labels.

A label payload is a plain dict (the same from the browser form and from REST), validated by
the project's label kind (`annotation.kinds`) into the kind's normal form, which is what the
label rows are written from and what each AnnotationRevision archives. Gold answers
(`annotation.services.gold`) go through the same kind, so every path shares its rules.

Every submission and every edit is a new AnnotationRevision; label rows show the latest.
A submit carrying a client token that was already used on that annotation changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from annotation.errors import ApplicationError
from annotation.kinds import label_kind_for
from annotation.kinds.base import Labels
from annotation.models import Annotation, AnnotationRevision, Assignment, Item, User
from annotation.services.assignments import active_time_ms


def _revision_add(annotation: Annotation, labels: Labels, client_token: str) -> None:
    AnnotationRevision.objects.create(
        annotation=annotation,
        revision=annotation.revision,
        labels=labels,
        client_token=client_token,
    )


def _payload(labels: Any) -> Mapping[str, Any]:
    if not isinstance(labels, Mapping):
        raise ApplicationError("must be an object", field="labels")
    return labels


def annotation_submit(
    *,
    assignment: Assignment,
    labels: Mapping[str, Any],
    client_token: str = "",
    active_ms: int | None = None,
    now: datetime | None = None,
) -> Annotation:
    """Submit the annotator's labels for a claimed item.

    Idempotent: a repeated submit with the same `client_token` returns the saved annotation
    unchanged; a different token on an already submitted assignment is an edit (a new
    revision). Raises ApplicationError for invalid labels, a skipped assignment, or an item
    that already has its k annotations. Atomic (in `annotation_submit_created`).
    """
    return annotation_submit_created(
        assignment=assignment, labels=labels, client_token=client_token, active_ms=active_ms,
        now=now,
    )[0]  # fmt: skip


@transaction.atomic
def annotation_submit_created(
    *,
    assignment: Assignment,
    labels: Mapping[str, Any],
    client_token: str = "",
    active_ms: int | None = None,
    now: datetime | None = None,
) -> tuple[Annotation, bool]:
    """`annotation_submit`, also saying whether this call created the annotation: decided
    under the assignment's row lock, so of concurrent submits of one assignment exactly one
    says True (it wrote revision 1). The REST submit answers 201 for True, else 200."""
    now = now or timezone.now()
    assignment = (
        # NO KEY UPDATE of this row only: a plain FOR UPDATE over the join would also lock the
        # project row and block every claimer's foreign-key check on it (a deadlock).
        Assignment.objects.select_for_update(no_key=True, of=("self",))
        .select_related("project")
        .get(id=assignment.id)
    )
    project = assignment.project
    if assignment.annotation_id is not None:
        annotation = Annotation.objects.get(id=assignment.annotation_id)
        edited = annotation_edit(annotation=annotation, labels=labels, client_token=client_token)
        return edited, False
    if assignment.status == Assignment.Status.SKIPPED:
        raise ApplicationError(
            "this item was skipped; claim another", code="skipped", field="assignment"
        )
    item = Item.objects.select_for_update(no_key=True).get(id=assignment.item_id)
    if item.done_count >= project.overlap and not item.is_gold:
        raise ApplicationError(
            "it already has the annotations it needs; your lease had expired",
            code="complete",
            field="item",
        )
    kind = label_kind_for(project)
    parts = kind.parts(item_id=item.id)
    clean = kind.validate(schema=project.label_schema, parts=parts, payload=_payload(labels))
    prefill = kind.prefill(item_id=item.id, schema=project.label_schema) if project.prefill else {}
    if prefill:
        # Verify-the-model mode: every pre-filled value must be confirmed or changed.
        clean = kind.prefill_apply(labels=clean, prefill=prefill, require_confirmation=True)
    annotation = Annotation(
        prefilled=bool(prefill),
        item=item,
        annotator_id=assignment.annotator_id,
        source=Annotation.Source.HUMAN,
        time_spent_ms=active_time_ms(assignment=assignment, client_active_ms=active_ms, now=now),
        **kind.annotation_fields(clean),
    )
    annotation.save()
    assignment.annotation = annotation
    assignment.status = Assignment.Status.SUBMITTED
    assignment.submitted_at = now
    assignment.active_ms = annotation.time_spent_ms or 0
    assignment.save(update_fields=["annotation", "status", "submitted_at", "active_ms"])
    kind.write(
        annotation=annotation, labels=clean, parts=parts, replace=False,
        left_candidate_id=assignment.left_candidate_id,
    )  # fmt: skip
    _revision_add(annotation, clean, client_token)
    item.done_count += 1
    # Gold items stay open: every annotator may meet them.
    item.is_complete = item.done_count >= project.overlap and not item.is_gold
    item.save(update_fields=["done_count", "is_complete"])
    return annotation, True


@transaction.atomic
def annotation_edit(
    *, annotation: Annotation, labels: Mapping[str, Any], client_token: str = ""
) -> Annotation:
    """Change a submitted annotation; the previous state stays in its revisions."""
    annotation = (
        Annotation.objects.select_for_update().select_related("item__project").get(id=annotation.id)
    )
    if client_token and annotation.revisions.filter(client_token=client_token).exists():
        return annotation
    project = annotation.item.project
    kind = label_kind_for(project)
    parts = kind.parts(item_id=annotation.item_id)
    clean = kind.validate(schema=project.label_schema, parts=parts, payload=_payload(labels))
    # An edit keeps the provenance against the pre-labels the annotation was made with.
    clean = kind.prefill_apply(
        labels=clean, prefill=kind.prefill_of_annotation(annotation), require_confirmation=False
    )
    kind.write(annotation=annotation, labels=clean, parts=parts, replace=True)
    for name, value in kind.annotation_fields(clean).items():
        setattr(annotation, name, value)
    annotation.revision += 1
    annotation.save()
    try:
        with transaction.atomic():
            _revision_add(annotation, clean, client_token)
    except IntegrityError:
        # The same token raced in from a concurrent retry: the other request saved it.
        raise ApplicationError(
            "this submission was already saved", code="duplicate", field="client_token"
        ) from None
    return annotation


@transaction.atomic
def adjudication_submit(
    *,
    item: Item,
    reviewer: User,
    labels: Mapping[str, Any],
    note: str = "",
    client_token: str = "",
) -> Annotation:
    """Record the reviewer's final label for an item (source=adjudication); annotators' own
    labels stay as they were. A second adjudication by the same reviewer is a new revision."""
    project = item.project
    kind = label_kind_for(project)
    parts = kind.parts(item_id=item.id)
    clean = kind.validate(schema=project.label_schema, parts=parts, payload=_payload(labels))
    annotation, created = Annotation.objects.get_or_create(
        item=item,
        annotator=reviewer,
        source=Annotation.Source.ADJUDICATION,
        defaults={"note": note},
    )
    if not created:
        if client_token and annotation.revisions.filter(client_token=client_token).exists():
            return annotation
        annotation.revision += 1
    annotation.note = note
    kind.write(annotation=annotation, labels=clean, parts=parts, replace=not created)
    for name, value in kind.annotation_fields(clean).items():
        setattr(annotation, name, value)
    annotation.save()
    _revision_add(annotation, clean, client_token)
    return annotation
