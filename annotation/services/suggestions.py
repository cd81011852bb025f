"""Writes of model pre-labels: Suggestion rows, routing priorities and consensus labels.

Every write is idempotent: suggestions are upserted on (job_id, item, method, target), a
priority is only ever raised to a value, and the consensus annotation is keyed by (item,
consensus user, source=consensus). A redelivered job chunk therefore changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db import transaction

from annotation.models import Annotation, FinishReason, Item, Step, StepLabel, Suggestion, User

CONSENSUS_USERNAME = "consensus"
_UPDATE_FIELDS = ["step", "turn", "candidate", "model_name", "score", "label", "raw"]


def user_model_get_or_create(*, username: str) -> User:
    """The account that stands for a model or the consensus; it cannot log in."""
    user, created = User.objects.get_or_create(
        username=username[:150], defaults={"kind": User.Kind.MODEL}
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


def suggestion_bulk_upsert(*, suggestions: Sequence[Suggestion], batch_size: int = 1000) -> int:
    """Insert or update suggestions on their unique key; returns how many were written."""
    if not suggestions:
        return 0
    Suggestion.objects.bulk_create(
        list(suggestions),
        batch_size=batch_size,
        update_conflicts=True,
        unique_fields=["job_id", "item", "method", "target"],
        update_fields=_UPDATE_FIELDS,
    )
    return len(suggestions)


def item_priority_raise(*, item_ids: Iterable[int], priority: int) -> int:
    """Raise the items' priority to at least `priority` (never lowers); returns rows changed."""
    ids = list(item_ids)
    if not ids:
        return 0
    # Under uncertainty routing the manager's priority is parked: raise that one too, so
    # that switching routing off keeps the raise.
    Item.objects.filter(id__in=ids, manager_priority__lt=priority).update(manager_priority=priority)
    return Item.objects.filter(id__in=ids, priority__lt=priority).update(priority=priority)


@transaction.atomic
def consensus_annotation_upsert(
    *, labels: Sequence[tuple[Item, int]], note: str = "", username: str = CONSENSUS_USERNAME
) -> int:
    """Write the consensus first-error labels as annotations by the `consensus` account with
    source=consensus (never mixed with human work, never counted in done_count).

    Step ratings follow ProcessBench: +1 before the first error, -1 at it, unlabelled after;
    all +1 for -1. Returns the number of annotations written.
    """
    if not labels:
        return 0
    user = user_model_get_or_create(username=username)
    items = [item for item, _ in labels]
    existing = {
        a.item_id: a
        for a in Annotation.objects.filter(
            item__in=items, annotator=user, source=Annotation.Source.CONSENSUS
        )
    }
    to_create, to_update = [], []
    for item, fe in labels:
        finish = FinishReason.SOLUTION if fe == -1 else FinishReason.FOUND_ERROR
        ann = existing.get(item.id)
        if ann is None:
            to_create.append(
                Annotation(
                    item=item, annotator=user, source=Annotation.Source.CONSENSUS,
                    first_error_index=fe, finish_reason=finish, note=note,
                )
            )  # fmt: skip
        elif (ann.first_error_index, ann.finish_reason, ann.note) != (fe, finish, note):
            ann.first_error_index, ann.finish_reason, ann.note = fe, finish, note
            to_update.append(ann)
    Annotation.objects.bulk_create(to_create)
    if to_update:
        Annotation.objects.bulk_update(to_update, ["first_error_index", "finish_reason", "note"])
    by_item = {
        a.item_id: a
        for a in Annotation.objects.filter(
            item__in=items, annotator=user, source=Annotation.Source.CONSENSUS
        )
    }
    steps = Step.objects.filter(item__in=items).order_by("item_id", "index")
    fe_by_item = {item.id: fe for item, fe in labels}
    rows = []
    for step in steps:
        fe = fe_by_item[step.item_id]
        rating = 1 if fe == -1 or step.index < fe else (-1 if step.index == fe else None)
        rows.append(StepLabel(annotation=by_item[step.item_id], step=step, rating=rating))
    StepLabel.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["annotation", "step"],
        update_fields=["rating"],
    )
    return len(labels)
