"""Verify-the-model mode (project.prefill): the newest step pre-label is what the page shows
and what a submit is checked against; every pre-filled step must be confirmed or changed;
each step keeps its provenance, the model's value and confidence; edits keep them."""

from __future__ import annotations

import io
import json

import pytest

from annotation.errors import ApplicationError
from annotation.kinds import label_kind_for
from annotation.models import Item, StepLabel, Suggestion
from annotation.selectors.annotations import annotation_labels, item_for_labeling
from annotation.services.annotations import annotation_edit, annotation_submit
from annotation.services.assignments import assignment_claim_next
from annotation.services.imports import dataset_import
from annotation.web.labeling import task_context

pytestmark = pytest.mark.django_db


@pytest.fixture
def prefilled(make_project):
    project = make_project("step_labels", overlap=2)
    rec = {"external_id": "t", "prompt": "2+2?", "steps": ["2+2=5", "so 5", "done"]}
    assert dataset_import(
        project=project, dataset_name="d", fmt="native",
        stream=io.BytesIO((json.dumps(rec) + "\n").encode()),
    ).ok  # fmt: skip
    project.prefill = True
    project.save()
    item = Item.objects.get(project=project)
    steps = {s.index: s for s in item.steps.all()}

    def sug(job_id, method, index, score, label):
        Suggestion.objects.create(
            item=item, step=steps[index], target=f"step:{index}", method=method,
            model_name="m", job_id=job_id, score=score, label=label,
        )  # fmt: skip

    # An older MC job and a newer PRM job: the PRM's labels win where both exist.
    sug(1, "mc", 0, 1.0, "1")
    sug(1, "mc", 2, 0.0, "0")
    sug(2, "prm", 0, 0.2, "-")
    sug(2, "prm", 1, 0.9, "+")
    return project, item


def test_prefill_is_the_newest_pre_label_per_step(prefilled):
    project, item = prefilled
    got = label_kind_for(project).prefill(item_id=item.id, schema=project.label_schema)
    assert {i: (p.value, p.method) for i, p in got.items()} == {
        0: (-1, "prm"), 1: (1, "prm"), 2: (-1, "mc"),
    }  # fmt: skip
    assert got[0].confidence == pytest.approx(0.8)
    assert got[1].confidence == pytest.approx(0.9)
    ctx = task_context(project=project, item=item_for_labeling(item_id=item.id, kind=project.kind))
    assert ctx["prefilled"] is True
    assert [s.rating for s in ctx["steps"]] == [-1, 1, -1]
    assert ctx["steps"][0].prefill_text == "Model (PRM P(correct), 0.80): −1"
    # Off by default: nothing is pre-filled.
    project.prefill = False
    ctx = task_context(project=project, item=item_for_labeling(item_id=item.id, kind=project.kind))
    assert "prefilled" not in ctx
    assert [s.rating for s in ctx["steps"]] == [None, None, None]


def test_submit_requires_every_prefilled_step_confirmed_or_changed(prefilled, member):
    project, item = prefilled
    a = member(project)
    asg = assignment_claim_next(project=project, annotator=a)
    unconfirmed = {"steps": [{"index": 0, "rating": -1, "confirmed": True},
                             {"index": 1, "rating": 1}, {"index": 2, "rating": -1}]}  # fmt: skip
    with pytest.raises(ApplicationError, match=r"unconfirmed: 2, 3") as err:
        annotation_submit(assignment=asg, labels=unconfirmed)
    assert err.value.code == "unconfirmed"
    assert not StepLabel.objects.exists()
    ok = {"steps": [{"index": 0, "rating": -1, "confirmed": True},
                    {"index": 1, "rating": -1},  # changed: needs no confirmation
                    {"index": 2, "rating": -1, "confirmed": True}]}  # fmt: skip
    ann = annotation_submit(assignment=asg, labels=ok)
    rows = list(
        StepLabel.objects.filter(annotation=ann)
        .order_by("step__index")
        .values_list("rating", "provenance", "model_value", "model_confidence", "model_method")
    )
    assert rows == [
        (-1, "model_confirmed", -1, pytest.approx(0.8), "prm"),
        (-1, "model_changed", 1, pytest.approx(0.9), "prm"),
        (-1, "model_confirmed", -1, pytest.approx(1.0), "mc"),
    ]
    # The revision's normal form carries the provenance; "confirmed" is not kept.
    labels = annotation_labels(ann)
    assert labels["steps"][1]["provenance"] == "model_changed"
    assert "confirmed" not in labels["steps"][0]
    # An edit keeps the pre-labels: step 2 back to the model's value is now confirmed.
    again = {"steps": [{"index": 0, "rating": 1}, {"index": 1, "rating": 1},
                       {"index": 2, "rating": -1}]}  # fmt: skip
    annotation_edit(annotation=ann, labels=again)
    rows = list(
        StepLabel.objects.filter(annotation=ann)
        .order_by("step__index")
        .values_list("rating", "provenance", "model_value")
    )
    assert rows == [(1, "model_changed", -1), (1, "model_confirmed", 1),
                    (-1, "model_confirmed", -1)]  # fmt: skip


def test_giving_up_drops_unconfirmed_prefills(prefilled, member):
    project, _ = prefilled
    asg = assignment_claim_next(project=project, annotator=member(project))
    labels = {"steps": [{"index": 0, "rating": -1}, {"index": 1, "rating": 1},
                        {"index": 2, "rating": 1}], "finish_reason": "give_up"}  # fmt: skip
    ann = annotation_submit(assignment=asg, labels=labels)
    rows = list(
        StepLabel.objects.filter(annotation=ann)
        .order_by("step__index")
        .values_list("rating", "provenance")
    )
    assert rows == [(None, "human"), (None, "human"), (1, "model_changed")]


def test_without_prefill_steps_are_human(prefilled, member):
    project, _ = prefilled
    project.prefill = False
    project.save()
    asg = assignment_claim_next(project=project, annotator=member(project))
    ann = annotation_submit(
        assignment=asg, labels={"steps": [{"index": i, "rating": 1} for i in range(3)]}
    )
    assert set(
        StepLabel.objects.filter(annotation=ann).values_list("provenance", "model_value")
    ) == {("human", None)}
    assert "provenance" not in annotation_labels(ann)["steps"][0]


def test_web_form_confirm_boxes(prefilled):
    from django.http import QueryDict

    project, _ = prefilled
    post = QueryDict("rating-0=-1&confirm-0=1&rating-1=1&rating-2=-1&confirm-2=on")
    got = label_kind_for(project).parse_form(post=post, left_index=None, right_index=None)
    assert [s.get("confirmed") for s in got["steps"]] == [True, None, True]


def test_rest_next_shows_prefill_and_submit_needs_confirmation(prefilled, member):
    from rest_framework.test import APIClient

    project, item = prefilled
    client = APIClient()
    client.force_authenticate(member(project))
    base = f"/api/v1/projects/{project.slug}/assignments/"
    nxt = client.post(base + "next/", {}, format="json").json()
    assert nxt["prefill"] == {
        "0": {"value": -1, "confidence": pytest.approx(0.8), "method": "prm"},
        "1": {"value": 1, "confidence": pytest.approx(0.9), "method": "prm"},
        "2": {"value": -1, "confidence": pytest.approx(1.0), "method": "mc"},
    }
    steps = [{"index": i, "rating": v} for i, v in ((0, -1), (1, 1), (2, -1))]
    resp = client.post(
        base + f"{nxt['id']}/submit/",
        {"labels": {"steps": steps}, "client_token": "tok"},
        format="json",
    )
    assert resp.status_code == 400
    assert "unconfirmed: 1, 2, 3" in json.dumps(resp.json())
    for s in steps:
        s["confirmed"] = True
    resp = client.post(
        base + f"{nxt['id']}/submit/",
        {"labels": {"steps": steps}, "client_token": "tok"},
        format="json",
    )
    assert resp.status_code == 201, resp.content
    assert set(StepLabel.objects.values_list("provenance", flat=True)) == {"model_confirmed"}
