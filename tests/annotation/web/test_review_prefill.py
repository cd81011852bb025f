"""The reviewer's final-label form starts from the aggregate (adjudicated > Dawid–Skene >
majority) and says where each value came from; preference review speaks of candidates by
number (#1, #2) everywhere."""

from __future__ import annotations

import io
import json

import pytest
from django.urls import reverse

from annotation.models import Annotation, Assignment, Candidate, Item, Role
from annotation.selectors.annotations import item_review
from annotation.selectors.review_prefill import review_prefill
from annotation.services.annotations import adjudication_submit, annotation_submit
from annotation.services.assignments import assignment_claim_next
from annotation.services.imports import dataset_import

pytestmark = pytest.mark.django_db


def _import(project, records):
    data = "".join(json.dumps(r) + "\n" for r in records).encode()
    assert dataset_import(
        project=project, dataset_name="d", fmt="native", stream=io.BytesIO(data)
    ).ok


def _steps(project, user, ratings, token):
    asg = assignment_claim_next(project=project, annotator=user)
    labels = {"steps": [{"index": i, "rating": r} for i, r in enumerate(ratings)]}
    return annotation_submit(assignment=asg, labels=labels, client_token=token)


@pytest.fixture
def three(make_project, member):
    project = make_project("step_labels", overlap=3)
    _import(project, [{"external_id": "t0", "prompt": "P", "steps": ["a", "b", "c"]}])
    users = [member(project) for _ in range(3)]
    for n, (user, ratings) in enumerate(
        zip(users, ([1, 1, 1], [1, -1, 1], [1, -1, -1]), strict=True)
    ):
        _steps(project, user, ratings, f"t{n}")
    return project


def test_steps_prefilled_by_majority_with_provenance(client, three, member) -> None:
    item = Item.objects.get(project=three)
    client.force_login(member(three, Role.REVIEWER))
    response = client.get(reverse("review_item", args=[three.slug, item.id]))
    task = response.context["task"]
    assert [s.rating for s in task["steps"]] == [1, -1, 1]
    assert [s.source for s in task["steps"]] == [
        ("all 3 agree", "prov-agree"),
        ("majority 2/3", "prov-majority"),
        ("majority 2/3", "prov-majority"),
    ]
    prefill = response.context["prefill"]
    assert prefill.origin == "aggregate"
    assert prefill.sources == {"prov-agree": 1, "prov-majority": 2}
    html = response.content.decode()
    assert "Pre-filled from 3 annotator labels" in html
    assert html.count('class="prov prov-majority"') == 2
    # The pre-filled radios are checked in the form the reviewer submits.
    assert 'name="rating-1" value="-1" checked' in html


def test_a_tie_is_marked_and_an_adjudication_wins(client, make_project, member) -> None:
    project = make_project("step_labels", overlap=2)
    _import(project, [{"external_id": "t0", "prompt": "P", "steps": ["a", "b"]}])
    _steps(project, member(project), [1, 1], "a")
    _steps(project, member(project), [1, -1], "b")
    item = Item.objects.get(project=project)
    reviewer, other = member(project, Role.REVIEWER), member(project, Role.REVIEWER)
    prefill = review_prefill(
        project=project, item=item, annotations=item_review(item=item)["annotations"],
        reviewer=reviewer,
    )  # fmt: skip
    assert prefill.labels["provenance"]["step:1"] == ("tie 1/2: check", "prov-tie")
    adjudication_submit(
        item=item, reviewer=other, labels={"steps": [{"index": 0, "rating": 0},
                                                     {"index": 1, "rating": 1}]},
        note="", client_token="adj",
    )  # fmt: skip
    client.force_login(reviewer)
    response = client.get(reverse("review_item", args=[project.slug, item.id]))
    assert response.context["prefill"].origin == "adjudication"
    task = response.context["task"]
    assert [s.rating for s in task["steps"]] == [0, 1]
    assert all(s.source is None for s in task["steps"])
    assert "adjudicated" in response.content.decode()


def test_dawid_skene_when_the_project_has_the_overlap(make_project, member, monkeypatch) -> None:
    """25 items rated by three annotators; the third always says −1. With enough overlap
    the form's values come from Dawid–Skene, which learns to discount the third."""
    project = make_project("step_labels", overlap=3)
    _import(
        project, [{"external_id": f"t{i:02d}", "prompt": "P", "steps": ["a"]} for i in range(25)]
    )
    users = [member(project) for _ in range(3)]
    for i in range(25):
        good = 1 if i % 3 else -1
        for n, user in enumerate(users):
            _steps(project, user, [good if n < 2 else -1], f"{i}-{n}")
    item = Item.objects.get(project=project, external_id="t01")
    prefill = review_prefill(
        project=project, item=item, annotations=item_review(item=item)["annotations"],
        reviewer=member(project, Role.REVIEWER),
    )  # fmt: skip
    text, css = prefill.labels["provenance"]["step:0"]
    assert css == "prov-ds"
    assert text.startswith("Dawid–Skene")
    assert text.endswith("of 3")
    assert prefill.labels["steps"][0]["rating"] == 1
    # Too large to fit inside a request: majority vote, said so.
    monkeypatch.setattr("annotation.selectors.review_prefill.FIT_MAX_ANNOTATIONS", 50)
    prefill = review_prefill(
        project=project, item=item, annotations=item_review(item=item)["annotations"],
        reviewer=member(project, Role.REVIEWER),
    )  # fmt: skip
    assert prefill.labels["provenance"]["step:0"] == ("majority 2/3", "prov-majority")


def test_preference_review_in_candidate_identity(client, make_project, member) -> None:
    project = make_project("preference", overlap=2, label_schema={"justification_required": False})
    _import(project, [{"external_id": "p1", "prompt": "I feel low",
                       "candidates": [{"text": "First answer, kind and long " * 5},
                                      {"text": "Second answer"}]}])  # fmt: skip
    c0, c1 = Candidate.objects.order_by("index")
    seen = []
    for n, (left, right, strength, why) in enumerate(
        [(c0, c1, -3, "left is far more empathic"), (c1, c0, 2, "right listens better")]
    ):
        user = member(project)
        asg = assignment_claim_next(project=project, annotator=user)
        Assignment.objects.filter(id=asg.id).update(left_candidate=left, right_candidate=right)
        asg.refresh_from_db()
        labels = {"candidate_a": left.index, "candidate_b": right.index, "strength": strength,
                  "principles": [{"principle": "empathy", "candidate": c0.index, "value": 5}],
                  "justification": why}  # fmt: skip
        seen.append(annotation_submit(assignment=asg, labels=labels, client_token=f"p{n}"))
    item = Item.objects.get(project=project)
    client.force_login(member(project, Role.REVIEWER))
    response = client.get(reverse("review_item", args=[project.slug, item.id]))
    html = response.content.decode()
    # Both preferred #1 (one saw it on the left, one on the right): the table says so.
    rows = [r for r in response.context["rows"] if r.group == "Annotators"]
    assert [r.cells[0].text for r in rows] == ["#1 ≫ #2 (3)", "#1 > #2 (2)"]
    assert [r.screen for r in rows] == ["saw #1 on the left", "saw #2 on the left"]
    assert [r.extra[0].tag for r in rows] == [
        "left = #1 · right = #2",
        "left = #2 · right = #1",
    ]
    # Candidates listed by number with a short excerpt.
    assert '#1</span> <span class="cand-excerpt">First answer, kind and long' in html
    assert "…" in html
    # The form: identities, and the strength pre-filled from the votes (both for #1).
    task = response.context["task"]
    assert task["identity"] == {"left": "#1", "right": "#2"}
    checked = [s for s in task["strengths"] if s.checked]
    assert len(checked) == 1
    assert checked[0].value < 0
    assert checked[0].help.startswith("#1 ")
    assert task["strength_source"][1] == "prov-tie"  # −3 and −2: a tie on strength
    assert "Response #2" in html
    assert "Left response" not in html
    empathy = next(p for p in task["principles"] if p["name"] == "empathy")
    assert empathy["groups"][0]["source"] == ("all 2 agree", "prov-agree")
    assert [c.value for c in empathy["groups"][0]["choices"] if c.checked] == [5]
    assert Annotation.objects.filter(source="human").count() == 2


def test_dialogue_and_first_error_prefill(make_project, member) -> None:
    """The other kinds' units: a code per (turn, field); the first-error index per item."""
    project = make_project("dialogue_coding", overlap=2)
    _import(project, [{"external_id": "d1", "turns": [{"speaker": "therapist", "text": "Hi"},
                                                     {"speaker": "client", "text": "Hello"}]}])  # fmt: skip
    for n, code in enumerate(["question", "reflection"]):
        asg = assignment_claim_next(project=project, annotator=member(project))
        labels = {"turns": [{"index": 0, "field": "main_therapist_behaviour", "value": code},
                            {"index": 1, "field": "client_talk_type", "value": "change"}]}  # fmt: skip
        annotation_submit(assignment=asg, labels=labels, client_token=f"d{n}")
    item = Item.objects.get(project=project)
    prefill = review_prefill(
        project=project, item=item, annotations=item_review(item=item)["annotations"],
        reviewer=member(project, Role.REVIEWER),
    )  # fmt: skip
    assert {(t["index"], t["value"]) for t in prefill.labels["turns"]} == {
        (0, "reflection"),  # a tie goes to the earlier code in the schema (reflection)
        (1, "change"),
    }
    assert prefill.labels["provenance"]["turn:1:client_talk_type"] == ("all 2 agree", "prov-agree")
    assert prefill.labels["provenance"]["turn:0:main_therapist_behaviour"][1] == "prov-tie"

    fe_project = make_project("step_labels", overlap=2, label_schema={"mode": "first_error"})
    _import(fe_project, [{"external_id": "t", "prompt": "P", "steps": ["a", "b", "c"]}])
    for n in range(2):
        asg = assignment_claim_next(project=fe_project, annotator=member(fe_project))
        annotation_submit(assignment=asg, labels={"first_error_index": 1}, client_token=f"f{n}")
    item = Item.objects.get(project=fe_project)
    prefill = review_prefill(
        project=fe_project, item=item, annotations=item_review(item=item)["annotations"],
        reviewer=member(fe_project, Role.REVIEWER),
    )  # fmt: skip
    assert prefill.labels["first_error_index"] == 1
    assert prefill.labels["provenance"]["item"] == ("all 2 agree", "prov-agree")
