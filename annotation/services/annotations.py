"""Submitting, editing and adjudicating labels.

A label payload is a plain dict (the same from the browser form and from REST), validated by
the project's label kind (`annotation.kinds`) into the kind's normal form, which is what the
label rows are written from and what each AnnotationRevision archives. Gold answers
(`annotation.services.gold`) go through the same kind, so every path shares its rules.

Every submission and every edit is a new AnnotationRevision; label rows show the latest.
A submit carrying a client token that was already used on that annotation changes nothing.
"""

# ruff: noqa: S608 - the SQL built here holds our models' table and column names only; every
# value goes in as a parameter.
from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Model
from django.utils import timezone

from annotation.errors import ApplicationError
from annotation.kinds import label_kind_for
from annotation.kinds.base import Labels
from annotation.models import Annotation, AnnotationRevision, Assignment, Item, User
from annotation.selectors.annotations import project_incomplete_count_forget
from annotation.services.assignments import active_time_ms
from annotation.services.stats import project_stats_changed


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
    says True (it wrote revision 1). The REST submit answers 201 for True, else 200.

    On PostgreSQL a first submit (the hot path) is one statement after the labels are
    validated (`_submit_pg`); edits, errors and other databases take the transaction below."""
    now = now or timezone.now()
    if (
        connection.vendor == "postgresql"
        and assignment.annotation_id is None
        and assignment.status == Assignment.Status.ACTIVE
        # Verify-the-model mode checks each step against the model's pre-label: the
        # transaction path does that.
        and not assignment.project.prefill
    ):
        done = _submit_pg(
            assignment=assignment, labels=labels, client_token=client_token,
            active_ms=active_ms, now=now,
        )  # fmt: skip
        if done is not None:
            return done
    return _submit_locked(
        assignment=assignment, labels=labels, client_token=client_token, active_ms=active_ms,
        now=now,
    )  # fmt: skip


@transaction.atomic
def _submit_locked(
    *,
    assignment: Assignment,
    labels: Mapping[str, Any],
    client_token: str,
    active_ms: int | None,
    now: datetime,
) -> tuple[Annotation, bool]:
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
    needed = project.overlap + item.extra_labels  # k, plus labels a manager asked for since
    if item.done_count >= needed and not item.is_gold:
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
    item.is_complete = item.done_count >= needed and not item.is_gold
    item.save(update_fields=["done_count", "is_complete"])
    if item.is_complete:
        # Now for the rest of this request (its progress counter), and again at commit in
        # case another request re-cached the count in between.
        project_incomplete_count_forget(project_id=project.id)
        transaction.on_commit(lambda: project_incomplete_count_forget(project_id=project.id))
    project_stats_changed(project_id=project.id)
    return annotation, True


# --- PostgreSQL: a first submit in one statement ------------------------------------------------


@functools.cache
def _insert_fields(model: type[Model], skip: tuple[str, ...]) -> tuple[tuple[Any, ...], ...]:
    """(field, quoted column, typed placeholder) of a model's concrete fields but the primary
    key and `skip`, worked out once per model."""
    return tuple(
        (f, f'"{f.column}"', f"%s::{f.db_type(connection)}")
        for f in model._meta.concrete_fields
        if not f.primary_key and f.name not in skip
    )


def _insert_values(
    obj: Model, *, skip: tuple[str, ...] = ()
) -> tuple[list[str], list[str], list[Any]]:
    """(columns, typed placeholders, values) of a new row's concrete fields, as `save` would
    write them (auto_now_add applied), leaving out the primary key and `skip`."""
    fields = _insert_fields(type(obj), skip)
    return (
        [c for _, c, _ in fields],
        [m for _, _, m in fields],
        [f.get_db_prep_save(f.pre_save(obj, True), connection) for f, _, _ in fields],
    )


def _submit_pg(
    *,
    assignment: Assignment,
    labels: Mapping[str, Any],
    client_token: str,
    active_ms: int | None,
    now: datetime,
) -> tuple[Annotation, bool] | None:
    """A first submit on PostgreSQL: the labels are validated against the item's parts (one
    read), then one statement locks the assignment and the item rows (NO KEY UPDATE, as the
    transaction path does), checks them, and inserts the annotation, its label rows and
    revision 1 and updates the assignment and the item's counters, all or nothing.

    None when the statement wrote nothing (submitted meanwhile, skipped, item complete) or the
    labels are invalid: the transaction path then answers exactly as before (an edit, or the
    error)."""
    project = assignment.project
    kind = label_kind_for(project)
    parts = kind.parts(item_id=assignment.item_id)
    try:
        clean = kind.validate(schema=project.label_schema, parts=parts, payload=_payload(labels))
    except ApplicationError:
        return None  # the locked path reports skipped/complete before invalid labels
    rows = kind.label_rows(
        labels=clean, parts=parts, left_candidate_id=assignment.left_candidate_id
    )
    if rows is None:
        return None
    spent = active_time_ms(assignment=assignment, client_active_ms=active_ms, now=now)
    annotation = Annotation(
        item_id=assignment.item_id,
        annotator_id=assignment.annotator_id,
        source=Annotation.Source.HUMAN,
        time_spent_ms=spent,
        **kind.annotation_fields(clean),
    )
    # The revision's labels as the database gives them back (JSON), for the response.
    stored = json.loads(json.dumps(clean))
    revision = AnnotationRevision(revision=1, labels=stored, client_token=client_token)
    a_t, i_t = Assignment._meta.db_table, Item._meta.db_table
    params: list[Any] = [assignment.id, project.overlap]
    cols, marks, values = _insert_values(annotation)
    params += values
    ctes = [
        f"a AS (SELECT id, item_id, status, annotation_id FROM {a_t} WHERE id = %s "
        "FOR NO KEY UPDATE)",
        f"i AS (SELECT id, done_count, is_gold, extra_labels FROM {i_t} "
        "WHERE id = (SELECT item_id FROM a) "
        "FOR NO KEY UPDATE)",
        "ok AS (SELECT a.id, a.item_id, i.done_count, i.is_gold, i.extra_labels "
        "FROM a JOIN i ON i.id = a.item_id"
        f" WHERE a.annotation_id IS NULL AND a.status = '{Assignment.Status.ACTIVE.value}'"
        " AND (i.done_count < %s + i.extra_labels OR i.is_gold))",
        f"ann AS (INSERT INTO {Annotation._meta.db_table} ({', '.join(cols)}) "
        f"SELECT {', '.join(marks)} FROM ok RETURNING id)",
    ]
    # Label rows, one INSERT per model, in the order `write` inserts them.
    groups: dict[type[Model], list[Model]] = {}
    for row in rows:
        groups.setdefault(type(row), []).append(row)
    for n, (model, objs) in enumerate(groups.items()):
        tuples = []
        for obj in objs:
            cols, marks, values = _insert_values(obj, skip=("annotation",))
            tuples.append(f"({', '.join(marks)})")
            params += values
        names = ", ".join(f"c{j}" for j in range(len(cols)))
        ctes.append(
            f"rows{n} AS (INSERT INTO {model._meta.db_table} (annotation_id, {', '.join(cols)}) "
            f"SELECT ann.id, v.* FROM ann CROSS JOIN (VALUES {', '.join(tuples)}) AS v({names}))"
        )
    cols, marks, values = _insert_values(revision, skip=("annotation",))
    params += values
    ctes.append(
        f"rev AS (INSERT INTO {AnnotationRevision._meta.db_table} (annotation_id, {', '.join(cols)})"
        f" SELECT ann.id, {', '.join(marks)} FROM ann RETURNING id)"
    )
    ctes.append(
        f"upd_a AS (UPDATE {a_t} SET annotation_id = ann.id, "
        f"status = '{Assignment.Status.SUBMITTED.value}', submitted_at = %s, active_ms = %s "
        f"FROM ann WHERE {a_t}.id = %s)"
    )
    params += [now, spent or 0, assignment.id]
    # Gold items stay open: every annotator may meet them.
    ctes.append(
        f"upd_i AS (UPDATE {i_t} SET done_count = ok.done_count + 1, "
        "is_complete = (ok.done_count + 1 >= %s + ok.extra_labels AND NOT ok.is_gold) "
        f"FROM ok, ann WHERE {i_t}.id = ok.item_id RETURNING {i_t}.is_complete)"
    )
    params.append(project.overlap)
    sql = (
        "WITH " + ",\n".join(ctes) + "\nSELECT (SELECT id FROM ann), (SELECT id FROM rev), "
        "(SELECT is_complete FROM upd_i)"
    )
    with connection.cursor() as cur:
        cur.execute(sql, params)
        annotation_id, revision_id, completed = cur.fetchone()
    if annotation_id is None:
        return None
    if completed:
        # As the transaction path does: the progress counter's cached count is stale now.
        project_incomplete_count_forget(project_id=project.id)
        transaction.on_commit(lambda: project_incomplete_count_forget(project_id=project.id))
    project_stats_changed(project_id=project.id)
    annotation.id = annotation_id
    annotation._state.adding = False
    annotation._state.db = connection.alias
    if "item" in assignment._state.fields_cache:
        annotation.item = assignment.item
    revision.id, revision.annotation = revision_id, annotation
    # As prefetch_related leaves it: the response reads the labels without a query.
    cached: Any = annotation.revisions.all()
    cached._result_cache = [revision]
    cached._prefetch_done = True
    annotation._prefetched_objects_cache = {"revisions": cached}  # type: ignore[attr-defined]
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
    project_stats_changed(project_id=project.id)
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
    project_stats_changed(project_id=project.id)
    return annotation
