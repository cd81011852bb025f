"""Writes of suggestions, priorities and consensus labels are idempotent."""

import pytest

from annotation.models import Annotation, Dataset, Item, Step, StepLabel, Suggestion, User
from annotation.selectors.suggestions import suggestion_hints_for_item, suggestion_item_verdicts
from annotation.services.suggestions import (
    consensus_annotation_upsert,
    item_priority_raise,
    suggestion_bulk_upsert,
    user_model_get_or_create,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def item(make_project):
    project = make_project("step_labels")
    ds = Dataset.objects.create(project=project, name="d", source_format="native")
    it = Item.objects.create(dataset=ds, project=project, external_id="a", content_hash="h")
    Step.objects.bulk_create(Step(item=it, index=i, text=f"s{i}") for i in range(3))
    return it


def test_bulk_upsert_updates_on_the_unique_key(item):
    rows = [
        Suggestion(item=item, job_id=7, method="mc", target=f"step:{i}", model_name="m", score=0.5)
        for i in range(3)
    ]
    assert suggestion_bulk_upsert(suggestions=rows) == 3
    again = [
        Suggestion(
            item=item,
            job_id=7,
            method="mc",
            target=f"step:{i}",
            model_name="m",
            score=1.0,
            label="1",
        )
        for i in range(3)
    ]
    suggestion_bulk_upsert(suggestions=again)
    assert Suggestion.objects.count() == 3
    assert set(Suggestion.objects.values_list("score", "label")) == {(1.0, "1")}
    other_job = [Suggestion(item=item, job_id=8, method="mc", target="step:0", model_name="m")]
    suggestion_bulk_upsert(suggestions=other_job)
    assert Suggestion.objects.count() == 4
    assert suggestion_bulk_upsert(suggestions=[]) == 0


def test_priority_is_only_raised(item):
    assert item_priority_raise(item_ids=[item.id], priority=10) == 1
    assert item_priority_raise(item_ids=[item.id], priority=10) == 0
    assert item_priority_raise(item_ids=[item.id], priority=5) == 0
    item.refresh_from_db()
    assert item.priority == 10


def test_consensus_annotation_is_a_model_user_and_idempotent(item):
    assert consensus_annotation_upsert(labels=[(item, 1)], note="job 1") == 1
    consensus_annotation_upsert(labels=[(item, 1)], note="job 1")
    ann = Annotation.objects.get()
    assert ann.source == Annotation.Source.CONSENSUS
    assert ann.annotator.username == "consensus"
    assert ann.annotator.kind == User.Kind.MODEL
    assert not ann.annotator.has_usable_password()
    ratings = list(
        StepLabel.objects.filter(annotation=ann)
        .order_by("step__index")
        .values_list("rating", flat=True)
    )
    assert ratings == [1, -1, None]
    assert ann.finish_reason == "found_error"
    consensus_annotation_upsert(labels=[(item, -1)], note="job 2")
    ann.refresh_from_db()
    assert ann.first_error_index == -1
    assert Annotation.objects.count() == 1
    assert list(StepLabel.objects.filter(annotation=ann).values_list("rating", flat=True)) == [
        1,
        1,
        1,
    ]
    item.refresh_from_db()
    assert item.done_count == 0


def test_selectors(item):
    user_model_get_or_create(username="m")
    suggestion_bulk_upsert(suggestions=[
        Suggestion(item=item, job_id=1, method="judge", target="item", model_name="m", label="2"),
        Suggestion(item=item, job_id=2, method="judge", target="item", model_name="m", label=""),
    ])  # fmt: skip
    assert suggestion_item_verdicts(item_ids=[item.id], job_id=1, methods=["judge"]) == {item.id: 2}
    assert suggestion_item_verdicts(item_ids=[item.id], job_id=2, methods=["judge"]) == {
        item.id: None
    }
    hints = suggestion_hints_for_item(item=item)
    assert len(hints) == 1
    assert hints[0].job_id == 2
    item.project.show_suggestions = False
    item.project.save()
    assert suggestion_hints_for_item(item=item) == []
