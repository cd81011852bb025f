import io
import json

import pytest

from annotation.errors import ApplicationError
from annotation.models import (
    Annotation,
    AnnotationRevision,
    PreferenceLabel,
    PrincipleRating,
    StepLabel,
    TurnLabel,
)
from annotation.selectors.annotations import annotation_labels
from annotation.services.annotations import (
    adjudication_submit,
    annotation_edit,
    annotation_submit,
)
from annotation.services.assignments import assignment_claim_next
from annotation.services.imports import dataset_import


def _import(project, rec):
    data = (json.dumps(rec) + "\n").encode()
    assert dataset_import(
        project=project, dataset_name="d", fmt="native", stream=io.BytesIO(data)
    ).ok


@pytest.fixture
def trace_project(make_project):
    project = make_project("step_labels", overlap=2)
    _import(project, {"external_id": "t", "prompt": "2+2?", "steps": ["2+2=5", "so 5", "done"]})
    return project


def test_rate_every_step_submit_writes_rows_and_revision(trace_project, member):
    a = member(trace_project)
    asg = assignment_claim_next(project=trace_project, annotator=a)
    labels = {"steps": [{"index": 0, "rating": -1, "comment": "2+2 is 4"}, {"index": 1, "rating": 0},
                        {"index": 2, "cant_judge": True}], "finish_reason": "found_error"}  # fmt: skip
    ann = annotation_submit(assignment=asg, labels=labels, client_token="t1", active_ms=4200)
    rows = list(
        StepLabel.objects.filter(annotation=ann)
        .order_by("step__index")
        .values_list("rating", "cant_judge", "comment")
    )
    assert rows == [(-1, False, "2+2 is 4"), (0, False, ""), (None, True, "")]
    assert ann.first_error_index == 0
    assert ann.finish_reason == "found_error"
    assert ann.revisions.count() == 1
    assert 0 <= ann.time_spent_ms <= 4200


def test_double_submit_changes_nothing(trace_project, member):
    a = member(trace_project)
    asg = assignment_claim_next(project=trace_project, annotator=a)
    labels = {"steps": [{"index": i, "rating": 1} for i in range(3)], "finish_reason": "solution"}
    first = annotation_submit(assignment=asg, labels=labels, client_token="same")
    again = annotation_submit(assignment=asg, labels=labels, client_token="same")
    assert first.id == again.id
    assert Annotation.objects.filter(source="human").count() == 1
    assert AnnotationRevision.objects.count() == 1
    asg.item.refresh_from_db()
    assert asg.item.done_count == 1


def test_edit_keeps_previous_revision(trace_project, member):
    a = member(trace_project)
    asg = assignment_claim_next(project=trace_project, annotator=a)
    v1 = {"steps": [{"index": i, "rating": 1} for i in range(3)], "finish_reason": "solution"}
    ann = annotation_submit(assignment=asg, labels=v1, client_token="a")
    v2 = {"steps": [{"index": 0, "rating": -1}, {"index": 1, "rating": 1}, {"index": 2, "rating": 1}],
          "finish_reason": "found_error"}  # fmt: skip
    ann = annotation_edit(annotation=ann, labels=v2, client_token="b")
    assert ann.revision == 2
    revs = list(ann.revisions.order_by("revision"))
    assert [r.labels["first_error_index"] for r in revs] == [-1, 0]
    assert annotation_labels(ann)["first_error_index"] == 0
    assert StepLabel.objects.filter(annotation=ann, rating=-1).count() == 1
    asg.item.refresh_from_db()
    assert asg.item.done_count == 1  # an edit is not a second annotation


def test_first_error_mode_leaves_later_steps_unlabeled(make_project, member):
    project = make_project("step_labels", label_schema={"mode": "first_error"})
    _import(project, {"external_id": "t", "prompt": "p", "steps": ["a", "b", "c", "d"]})
    asg = assignment_claim_next(project=project, annotator=member(project))
    ann = annotation_submit(assignment=asg, labels={"first_error_index": 1}, client_token="x")
    ratings = list(
        StepLabel.objects.filter(annotation=ann)
        .order_by("step__index")
        .values_list("rating", flat=True)
    )
    assert ratings == [1, -1, None, None]
    assert ann.finish_reason == "found_error"


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ({"steps": [{"index": 0, "rating": 1}], "finish_reason": "solution"}, "rate every step"),
        ({"steps": [{"index": 0, "rating": 2}], "finish_reason": "solution"}, r"steps\[0\].rating"),
        ({"steps": [{"index": 7, "rating": 1}], "finish_reason": "solution"}, r"steps\[0\].index"),
        ({"steps": [], "finish_reason": "maybe"}, "finish_reason"),
    ],
)
def test_invalid_step_labels_name_the_field(trace_project, member, labels, message):
    asg = assignment_claim_next(project=trace_project, annotator=member(trace_project))
    with pytest.raises(ApplicationError, match=message):
        annotation_submit(assignment=asg, labels=labels, client_token="x")
    assert not Annotation.objects.filter(source="human").exists()


def test_dialogue_codes_checked_against_role(make_project, member):
    project = make_project("dialogue_coding")
    _import(project, {"external_id": "d", "turns": [{"speaker": "therapist", "text": "How are you?"},
                                                   {"speaker": "client", "text": "I want to change."}]})  # fmt: skip
    asg = assignment_claim_next(project=project, annotator=member(project))
    with pytest.raises(ApplicationError, match="codes client turns"):
        annotation_submit(
            assignment=asg,
            labels={"turns": [{"index": 0, "field": "client_talk_type", "value": "change"}]},
        )
    ann = annotation_submit(assignment=asg, labels={"turns": [
        {"index": 0, "field": "main_therapist_behaviour", "value": "question"},
        {"index": 1, "field": "client_talk_type", "value": "change"}]}, client_token="ok")  # fmt: skip
    assert set(TurnLabel.objects.filter(annotation=ann).values_list("field", "value")) == {
        ("main_therapist_behaviour", "question"), ("client_talk_type", "change")}  # fmt: skip


def test_preference_stored_relative_to_candidates(make_project, member):
    project = make_project("preference", label_schema={"principles": ["empathy", "clarity"]})
    _import(
        project,
        {"external_id": "p", "prompt": "I feel low.", "candidates": [{"text": "A"}, {"text": "B"}]},
    )
    asg = assignment_claim_next(project=project, annotator=member(project))
    labels = {"candidate_a": 0, "candidate_b": 1, "strength": 2, "justification": "B reflects the feeling better than A.",
              "principles": [{"principle": "empathy", "candidate": 0, "value": 2},
                             {"principle": "empathy", "candidate": 1, "value": 5}]}  # fmt: skip
    ann = annotation_submit(assignment=asg, labels=labels, client_token="p1")
    pref = PreferenceLabel.objects.get(annotation=ann)
    assert (pref.candidate_a.index, pref.candidate_b.index, pref.strength) == (0, 1, 2)
    assert pref.left_candidate_id == asg.left_candidate_id
    assert PrincipleRating.objects.filter(annotation=ann).count() == 2
    with pytest.raises(ApplicationError, match="justification"):
        annotation_edit(annotation=ann, labels={**labels, "justification": "short"})


def test_adjudication_keeps_annotator_labels(trace_project, member):
    from annotation.models import Role

    a1, a2 = member(trace_project), member(trace_project)
    reviewer = member(trace_project, Role.REVIEWER)
    for a, first in ((a1, 0), (a2, 1)):
        asg = assignment_claim_next(project=trace_project, annotator=a)
        steps = [{"index": i, "rating": -1 if i == first else 1} for i in range(3)]
        annotation_submit(
            assignment=asg,
            labels={"steps": steps, "finish_reason": "found_error"},
            client_token=str(a.id),
        )
    item = asg.item
    final = adjudication_submit(item=item, reviewer=reviewer, note="step 1 is right",
                                labels={"steps": [{"index": 0, "rating": -1}, {"index": 1, "rating": 1},
                                                  {"index": 2, "rating": 1}], "finish_reason": "found_error"})  # fmt: skip
    assert final.source == "adjudication"
    assert final.first_error_index == 0
    assert sorted(
        Annotation.objects.filter(item=item, source="human").values_list(
            "first_error_index", flat=True
        )
    ) == [0, 1]
