from __future__ import annotations

import io
import json

import pytest

from annotation.errors import ApplicationError
from annotation.models import Annotation, Item
from annotation.selectors.gold import gold_rate_for_project, project_quality_settings
from annotation.services.gold import item_gold_promote, item_gold_set, item_gold_unset
from annotation.services.imports import dataset_import


def _project(make_project, kind="step_labels"):
    project = make_project(kind, slug=f"gold-{kind.replace('_', '-')}")
    recs = [{"external_id": f"t{i}", "steps": ["a", "b", "c"],
             "annotations": [{"annotator": "r1", "first_error_index": 1}]} for i in range(3)]  # fmt: skip
    assert dataset_import(
        project=project, dataset_name="d", fmt="native",
        stream=io.BytesIO("".join(json.dumps(r) + "\n" for r in recs).encode()),
    ).ok  # fmt: skip
    return project


def test_gold_set_replace_promote_unset(make_project, make_user):
    project = _project(make_project)
    manager = make_user()
    item = Item.objects.get(project=project, external_id="t0")
    assert gold_rate_for_project(project=project) == 0.0
    gold = item_gold_set(item=item, user=manager, labels={"first_error_index": 2})
    assert gold.source == Annotation.Source.GOLD
    assert item.is_gold
    assert gold_rate_for_project(project=project) == pytest.approx(0.05)
    item_gold_set(item=item, user=manager, labels={"first_error_index": -1,
                                                   "steps": [{"index": 0, "rating": 1}]})  # fmt: skip
    assert Annotation.objects.filter(item=item, source="gold").get().first_error_index == -1
    with pytest.raises(ApplicationError, match="first_error_index"):
        item_gold_set(item=item, user=manager, labels={"first_error_index": 7})
    other = Item.objects.get(project=project, external_id="t1")
    source = Annotation.objects.get(item=other, source="imported")
    promoted = item_gold_promote(annotation=source, user=manager)
    assert promoted.first_error_index == 1
    item_gold_unset(item=item)
    assert not Item.objects.get(id=item.id).is_gold
    project.gold_rate, project.gold_min_accuracy = 0.2, 0.9
    project.save()
    s = project_quality_settings(project=project)
    assert (s.gold_rate, s.gold_min_accuracy) == (0.2, 0.9)
    assert gold_rate_for_project(project=project) == 0.2
