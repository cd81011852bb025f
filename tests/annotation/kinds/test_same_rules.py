"""Gold answers and annotators' labels go through the same label kind: the same invalid
payload gets the same error on both paths, and both read numeric strings the same way."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from annotation.errors import ApplicationError
from annotation.models import Annotation, Item, StepLabel, TurnLabel
from annotation.services.annotations import annotation_submit
from annotation.services.assignments import assignment_claim_next
from annotation.services.gold import item_gold_set
from annotation.services.imports import dataset_import

RECORDS = {
    "step_labels": {"external_id": "t", "steps": ["2+2=4", "so 4", "done"]},
    "dialogue_coding": {"external_id": "d", "turns": [
        {"speaker": "therapist", "text": "How are you?"},
        {"speaker": "client", "text": "I want to change."}]},
    "preference": {"external_id": "p", "prompt": "I feel low.",
                   "candidates": [{"text": "A"}, {"text": "B"}, {"text": "C"}]},
}  # fmt: skip
GOOD_JUSTIFICATION = "B reflects the feeling better than A does."

INVALID: dict[str, list[Any]] = {
    "step_labels": [
        [],
        {"steps": [{"index": 0, "rating": "3"}]},
        {"steps": [{"index": 0, "rating": 2}]},
        {"steps": [{"index": 0, "rating": "x"}]},
        {"steps": [{"index": 0, "rating": True}]},
        {"steps": [{"index": 7, "rating": 1}]},
        {"steps": [{"rating": 1}]},
        {"steps": ["wrong"]},
        {"first_error_index": 3},
        {"first_error_index": "first"},
        {"first_error_index": 1, "finish_reason": "maybe"},
    ],
    "dialogue_coding": [
        {"turns": [{"index": 0, "field": "client_talk_type", "value": "change"}]},
        {"turns": [{"index": 0, "field": "mood", "value": "calm"}]},
        {"turns": [{"index": 0, "field": "main_therapist_behaviour", "value": "hug"}]},
        {"turns": [{"index": 5, "field": "main_therapist_behaviour", "value": "question"}]},
        {"turns": [{"index": "zero", "field": "main_therapist_behaviour", "value": "question"}]},
        {"turns": ["question"]},
        {"turns": []},
    ],
    "preference": [
        {"candidate_a": 0, "candidate_b": 0, "strength": 1},
        {"candidate_a": 0, "candidate_b": 9, "strength": 1},
        {"candidate_a": 0, "candidate_b": 1, "strength": 4},
        {"candidate_a": 0, "candidate_b": 1, "strength": "much"},
        {"candidate_a": 0, "candidate_b": 1},
        {"candidate_a": 0, "candidate_b": 1, "strength": -2,
         "principles": [{"principle": "humour", "candidate": 0, "value": 3}]},
        {"candidate_a": 0, "candidate_b": 1, "strength": -2,
         "principles": [{"principle": "empathy", "candidate": 0, "value": 9}]},
        {"candidate_a": 0, "candidate_b": 1, "strength": -2,
         "principles": [{"principle": "empathy", "candidate": 2, "value": 3}]},
        {"candidate_a": 0, "candidate_b": 1, "strength": -2, "principles": ["empathy"]},
    ],
}  # fmt: skip
CASES = [(kind, payload) for kind, payloads in INVALID.items() for payload in payloads]


def _setup(make_project, member, kind: str) -> tuple[Any, Any, Item]:
    project = make_project(kind)
    data = (json.dumps(RECORDS[kind]) + "\n").encode()
    assert dataset_import(
        project=project, dataset_name="d", fmt="native", stream=io.BytesIO(data)
    ).ok
    assignment = assignment_claim_next(project=project, annotator=member(project))
    return project, assignment, Item.objects.get(project=project)


def _error(call) -> tuple[str | None, str, str]:
    with pytest.raises(ApplicationError) as info:
        call()
    return info.value.field, info.value.code, info.value.message


@pytest.mark.parametrize(
    ("kind", "payload"), CASES, ids=[f"{k}-{i}" for i, (k, _) in enumerate(CASES)]
)
def test_gold_and_submit_refuse_the_same_payloads_alike(
    make_project, member, make_user, kind, payload
):
    if isinstance(payload, dict) and kind == "preference":
        payload = {**payload, "justification": GOOD_JUSTIFICATION}
    _, assignment, item = _setup(make_project, member, kind)
    submitted = _error(lambda: annotation_submit(assignment=assignment, labels=payload))
    gold = _error(lambda: item_gold_set(item=item, user=make_user(), labels=payload))
    assert submitted == gold
    assert submitted[0]  # every refusal names its field
    assert not Annotation.objects.filter(item=item).exists()


def test_numeric_strings_are_read_alike(make_project, member, make_user):
    """The form posts strings: "1" is a rating on both paths (gold refused it before)."""
    _, assignment, item = _setup(make_project, member, "step_labels")
    labels = {"steps": [{"index": i, "rating": "1"} for i in range(3)]}
    ann = annotation_submit(assignment=assignment, labels=labels)
    gold = item_gold_set(item=item, user=make_user(), labels=labels)
    for a in (ann, gold):
        assert list(StepLabel.objects.filter(annotation=a).values_list("rating", flat=True)) == [
            1,
            1,
            1,
        ]
        assert a.first_error_index == -1


def test_gold_turn_codes_follow_the_schema(make_project, member, make_user):
    _, _, item = _setup(make_project, member, "dialogue_coding")
    gold = item_gold_set(item=item, user=make_user(), labels={"turns": [
        {"index": "1", "field": "client_talk_type", "value": "change"}]})  # fmt: skip
    assert list(TurnLabel.objects.filter(annotation=gold).values_list("field", "value")) == [
        ("client_talk_type", "change")
    ]


def test_gold_needs_no_annotator_duties(make_project, member, make_user):
    """A known answer need not rate every step nor carry a justification, but must say what
    it knows."""
    _, _, item = _setup(make_project, member, "step_labels")
    gold = item_gold_set(item=item, user=make_user(), labels={"first_error_index": 1})
    assert (gold.first_error_index, gold.finish_reason) == (1, "found_error")
    with pytest.raises(ApplicationError, match="a gold answer needs"):
        item_gold_set(item=item, user=make_user(), labels={"steps": []})
    _, _, pair = _setup(make_project, member, "preference")
    gold = item_gold_set(
        item=pair, user=make_user(), labels={"candidate_a": 0, "candidate_b": 2, "strength": 3}
    )
    assert gold.preference_labels.get().candidate_b.index == 2
