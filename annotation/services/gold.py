"""Gold items: an item with a known answer, stored as its one `source=gold` annotation.

Gold answers feed each annotator's accuracy (dashboard statistics) and outrank every other
label in the exports' final labels. A gold answer is a label payload of the project's kind,
checked and written by the same label kind as annotators' labels (`annotation.kinds`), with
`gold=True`: every value obeys the same rules, but an answer need not do an annotator's duties
(rating every step, a justification).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import transaction

from annotation.errors import ApplicationError
from annotation.kinds import label_kind_for
from annotation.models import Annotation, Item, Project, User
from annotation.selectors.annotations import annotation_labels
from annotation.services.stats import project_stats_changed


@transaction.atomic
def item_gold_set(*, item: Item, user: User, labels: Mapping[str, Any]) -> Annotation:
    """Make `item` gold with the known answer `labels` (replacing an earlier gold answer).

    Raises ApplicationError naming the field for a payload that does not fit the item.
    """
    if not isinstance(labels, Mapping):
        raise ApplicationError("must be an object", field="labels")
    project = item.project
    kind = label_kind_for(project)
    parts = kind.parts(item_id=item.id)
    clean = kind.validate(schema=project.label_schema, parts=parts, payload=labels, gold=True)
    Annotation.objects.filter(item=item, source=Annotation.Source.GOLD).delete()
    annotation = Annotation.objects.create(
        item=item, annotator=user, source=Annotation.Source.GOLD, **kind.annotation_fields(clean)
    )
    kind.write(annotation=annotation, labels=clean, parts=parts, replace=False)
    Item.objects.filter(id=item.id).update(is_gold=True)
    item.is_gold = True
    _gold_count_refresh(item.project_id)
    return annotation


@transaction.atomic
def item_gold_promote(*, annotation: Annotation, user: User) -> Annotation:
    """Make the item of `annotation` (typically an adjudication) gold with its labels."""
    return item_gold_set(item=annotation.item, user=user, labels=annotation_labels(annotation))


@transaction.atomic
def item_gold_unset(*, item: Item) -> None:
    Annotation.objects.filter(item=item, source=Annotation.Source.GOLD).delete()
    Item.objects.filter(id=item.id).update(is_gold=False)
    item.is_gold = False
    _gold_count_refresh(item.project_id)


def _gold_count_refresh(project_id: int) -> None:
    Project.objects.filter(id=project_id).update(
        gold_count=Item.objects.filter(project_id=project_id, is_gold=True).count()
    )
    project_stats_changed(project_id=project_id)
