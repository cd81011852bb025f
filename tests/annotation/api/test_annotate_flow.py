"""The annotator's day through REST, per project kind: claim → submit → next; idempotent
submits, skips, prefetching, edits; and the reviewer's list, item page and adjudication."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from rest_framework.test import APIClient

from annotation.models import (
    Annotation,
    AnnotationRevision,
    Assignment,
    Candidate,
    Item,
    Project,
    Role,
    StepLabel,
    User,
)
from annotation.services.flags import flag_create
from annotation.services.imports import dataset_import

JUSTIFY = "The right one reflects the client's feelings."


def _import(project: Project, records: list[dict[str, Any]]) -> list[Item]:
    data = "".join(json.dumps(r) + "\n" for r in records).encode()
    result = dataset_import(
        project=project, dataset_name="d", fmt="native", stream=io.BytesIO(data)
    )
    assert result.ok, result.errors
    return list(Item.objects.filter(project=project).order_by("id"))


def _client(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _url(project: Project, tail: str) -> str:
    return f"/api/v1/projects/{project.slug}/{tail}"


def _next(client: APIClient, project: Project, exclude: list[int] | None = None) -> Any:
    body = {"exclude": exclude} if exclude else {}
    return client.post(_url(project, "assignments/next/"), body, format="json")


def _submit(client: APIClient, project: Project, asg_id: int, labels: dict, token: str) -> Any:
    return client.post(
        _url(project, f"assignments/{asg_id}/submit/"),
        {"labels": labels, "client_token": token, "active_ms": 1500},
        format="json",
    )


TRACES = [
    {"external_id": f"t{i}", "prompt": f"What is {i}+{i}?", "steps": ["s0", "s1", "s2"],
     "reference_answer": str(2 * i), "final_answer": str(2 * i)}
    for i in range(2)
]  # fmt: skip
DIALOGUES = [
    {"external_id": f"d{i}", "turns": [{"speaker": "therapist", "text": "How are you?"},
                                       {"speaker": "client", "text": "I want to stop."}]}
    for i in range(2)
]  # fmt: skip
PAIRS = [
    {"external_id": f"p{i}", "prompt": "I feel stuck.",
     "candidates": [{"text": "Tell me more."}, {"text": "Just cheer up."}]}
    for i in range(2)
]  # fmt: skip


def _labels_for(kind: str, schema: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    if kind == "step_labels" and schema.get("mode") == "first_error":
        return {"first_error_index": 1}
    if kind == "step_labels":
        return {
            "steps": [{"index": s["index"], "rating": 1} for s in body["item"]["steps"]],
            "finish_reason": "solution",
        }
    if kind == "dialogue_coding":
        return {
            "turns": [
                {"index": 0, "field": "main_therapist_behaviour", "value": "question"},
                {"index": 1, "field": "client_talk_type", "value": "change"},
            ]
        }
    index_of = {c["id"]: c["index"] for c in body["item"]["candidates"]}
    left, right = index_of[body["left_candidate"]], index_of[body["right_candidate"]]
    return {
        "candidate_a": left,
        "candidate_b": right,
        "strength": 2,
        "principles": [
            {"principle": "empathy", "candidate": left, "value": 2},
            {"principle": "empathy", "candidate": right, "value": 5},
        ],
        "justification": JUSTIFY,
    }


@pytest.mark.parametrize(
    ("kind", "schema", "records"),
    [
        pytest.param("step_labels", {"mode": "rate_every_step"}, TRACES, id="rate-every-step"),
        pytest.param("step_labels", {"mode": "first_error"}, TRACES, id="first-error"),
        pytest.param("dialogue_coding", None, DIALOGUES, id="dialogue"),
        pytest.param("preference", None, PAIRS, id="preference"),
    ],
)
def test_claim_submit_next_until_done(make_project, member, kind, schema, records):
    project = make_project(kind=kind, label_schema=schema, overlap=1)
    items = _import(project, records)
    annotator = member(project, Role.ANNOTATOR)
    client = _client(annotator)
    seen = []
    for _ in items:
        response = _next(client, project)
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["project"]["kind"] == kind
        assert body["project"]["label_schema"] == project.label_schema
        assert body["expires_at"] > body["claimed_at"]
        parts = {"step_labels": "steps", "dialogue_coding": "turns", "preference": "candidates"}
        assert len(body["item"][parts[kind]]) >= 2
        if kind == "preference":
            ids = {c["id"] for c in body["item"]["candidates"]}
            assert {body["left_candidate"], body["right_candidate"]} == ids
        else:
            assert body["left_candidate"] is None
        asg = Assignment.objects.get(id=body["id"])
        assert asg.first_rendered_at is not None  # the claim response is the render
        submitted = _submit(client, project, body["id"], _labels_for(kind, project.label_schema, body), f"tok-{body['id']}")  # fmt: skip
        assert submitted.status_code == 201, submitted.content
        assert submitted.json()["revision"] == 1
        seen.append(body["item"]["id"])
    assert seen == [i.id for i in items]  # oldest first, each once
    assert _next(client, project).status_code == 204
    assert Annotation.objects.filter(item__project=project, source="human").count() == 2
    assert all(i.is_complete for i in Item.objects.filter(project=project))


def test_preference_label_is_stored_relative_to_candidates(make_project, member):
    project = make_project(kind="preference", overlap=1)
    _import(project, PAIRS[:1])
    client = _client(member(project, Role.ANNOTATOR))
    body = _next(client, project).json()
    labels = _labels_for("preference", project.label_schema, body)
    ann_id = _submit(client, project, body["id"], labels, "p").json()["id"]
    pref = Annotation.objects.get(id=ann_id).preference_labels.get()
    assert pref.candidate_b_id == body["right_candidate"]
    assert pref.left_candidate_id == body["left_candidate"]
    assert pref.strength == 2
    short = dict(labels, justification="too short")
    body2 = _next(client, project)
    assert body2.status_code == 204
    # validation names the field, even on a repeat submit that would be an edit
    bad = _submit(client, project, body["id"], short, "p2")
    assert bad.status_code == 400
    assert "justification" in bad.json()
    assert Candidate.objects.count() == 2


@pytest.fixture
def traces(make_project, member):
    project = make_project(kind="step_labels", overlap=2)
    items = _import(project, TRACES)
    return project, items, member(project, Role.ANNOTATOR)


RATED = {"steps": [{"index": i, "rating": 1} for i in range(3)], "finish_reason": "solution"}


def test_double_submit_with_the_same_token_counts_once(traces):
    project, items, annotator = traces
    client = _client(annotator)
    asg = _next(client, project).json()["id"]
    first = _submit(client, project, asg, RATED, "same-token")
    again = _submit(client, project, asg, RATED, "same-token")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert first.json() == again.json()
    assert Annotation.objects.filter(source="human").count() == 1
    assert AnnotationRevision.objects.count() == 1
    items[0].refresh_from_db()
    assert items[0].done_count == 1


def test_submit_with_a_new_token_after_submitting_is_a_new_revision(traces):
    project, items, annotator = traces
    client = _client(annotator)
    asg = _next(client, project).json()["id"]
    _submit(client, project, asg, RATED, "one")
    changed = {"steps": [{"index": 0, "rating": -1}, {"index": 1, "rating": 1},
                         {"index": 2, "rating": 1}], "finish_reason": "found_error"}  # fmt: skip
    response = _submit(client, project, asg, changed, "two")
    assert response.status_code == 200
    assert response.json()["revision"] == 2
    assert response.json()["labels"]["first_error_index"] == 0
    items[0].refresh_from_db()
    assert items[0].done_count == 1


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (
            {"labels": {"steps": [{"index": 0, "rating": 5}]}, "client_token": "x"},
            "steps[0].rating",
        ),
        ({"labels": {"steps": [{"index": 0, "rating": 1}]}, "client_token": "x"}, "steps"),
        ({"labels": {"finish_reason": "bored"}, "client_token": "x"}, "finish_reason"),
        ({"labels": [1, 2], "client_token": "x"}, "labels"),
        ({"labels": RATED}, "client_token"),
        ({"labels": RATED, "client_token": "x", "active_ms": -5}, "active_ms"),
    ],
)
def test_invalid_submit_is_400_naming_the_field(traces, payload, field):
    project, items, annotator = traces
    client = _client(annotator)
    asg = _next(client, project).json()["id"]
    response = client.post(_url(project, f"assignments/{asg}/submit/"), payload, format="json")
    assert response.status_code == 400
    assert field in response.json(), response.json()
    assert not Annotation.objects.exists()
    assert Assignment.objects.get(id=asg).status == Assignment.Status.ACTIVE


def test_prefetch_claims_ahead_without_starting_the_clock(traces):
    project, items, annotator = traces
    client = _client(annotator)
    current = _next(client, project).json()
    ahead = _next(client, project, exclude=[current["id"]]).json()
    assert ahead["item"]["id"] == items[1].id
    assert Assignment.objects.get(id=ahead["id"]).first_rendered_at is None
    # asking again (no exclude) resumes what I am on, not a third item
    assert _next(client, project).json()["id"] == current["id"]
    _submit(client, project, current["id"], RATED, "c")
    shown = _next(client, project).json()
    assert shown["id"] == ahead["id"]
    assert Assignment.objects.get(id=ahead["id"]).first_rendered_at is not None
    assert _next(client, project, exclude=[ahead["id"]]).status_code == 204


def test_exclude_must_be_a_list_of_ids(traces):
    project, _, annotator = traces
    response = _client(annotator).post(
        _url(project, "assignments/next/"), {"exclude": ["x"]}, format="json"
    )
    assert response.status_code == 400
    assert "exclude" in response.json()


def test_skip_releases_the_item_and_never_shows_it_again(traces):
    project, items, annotator = traces
    client = _client(annotator)
    first = _next(client, project).json()
    response = client.post(
        _url(project, f"assignments/{first['id']}/skip/"), {"reason": "unclear"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["status"] == "skipped"
    assert response.json()["skip_reason"] == "unclear"
    second = _next(client, project).json()
    assert second["item"]["id"] == items[1].id
    _submit(client, project, second["id"], RATED, "s")
    assert _next(client, project).status_code == 204
    # a submitted assignment cannot be skipped
    again = client.post(_url(project, f"assignments/{second['id']}/skip/"), {}, format="json")
    assert again.status_code == 400
    assert "assignment" in again.json()


def test_my_annotations_and_edit_keep_revisions(traces):
    project, items, annotator = traces
    client = _client(annotator)
    ids = []
    for i in range(2):
        asg = _next(client, project).json()["id"]
        ids.append(_submit(client, project, asg, RATED, f"t{i}").json()["id"])
    page = client.get(_url(project, "annotations/mine/?page_size=1")).json()
    assert [r["id"] for r in page["results"]] == [ids[1]]
    assert page["next"]
    rest = client.get(page["next"]).json()
    assert [r["id"] for r in rest["results"]] == [ids[0]]
    assert rest["results"][0]["labels"]["finish_reason"] == "solution"
    assert rest["results"][0]["item_external_id"] == "t0"

    changed = {"steps": [{"index": 0, "rating": 1}, {"index": 1, "rating": -1},
                         {"index": 2, "rating": 0}], "finish_reason": "found_error"}  # fmt: skip
    url = _url(project, f"annotations/{ids[0]}/")
    edited = client.patch(url, {"labels": changed, "client_token": "e"}, format="json")
    assert edited.status_code == 200
    assert edited.json()["revision"] == 2
    assert edited.json()["labels"]["first_error_index"] == 1
    repeat = client.patch(url, {"labels": changed, "client_token": "e"}, format="json")
    assert repeat.json()["revision"] == 2  # the same token changes nothing
    revisions = AnnotationRevision.objects.filter(annotation_id=ids[0]).order_by("revision")
    assert [r.labels["first_error_index"] for r in revisions] == [-1, 1]
    ratings = StepLabel.objects.filter(annotation_id=ids[0]).order_by("step__index")
    assert [s.rating for s in ratings] == [1, -1, 0]
    bad = client.patch(url, {"labels": {"steps": "no"}, "client_token": "f"}, format="json")
    assert bad.status_code == 400
    mine = client.get(_url(project, "annotations/mine/")).json()["results"]
    assert {r["id"]: r["revision"] for r in mine} == {ids[0]: 2, ids[1]: 1}


# --- review ---------------------------------------------------------------------------------


@pytest.fixture
def disputed(make_project, member):
    """Two annotators disagree on item 0 and agree on item 1; item 0 also has an imported
    expert label and an open flag."""
    project = make_project(kind="step_labels", overlap=2)
    records = [dict(TRACES[0], annotations=[{"annotator": "expert", "first_error_index": 2,
                                               "step_ratings": [1, 1, -1]}]), TRACES[1]]  # fmt: skip
    items = _import(project, records)
    a1, a2 = member(project, Role.ANNOTATOR), member(project, Role.ANNOTATOR)
    wrong = {"steps": [{"index": 0, "rating": -1}, {"index": 1, "rating": 1},
                       {"index": 2, "rating": 1}], "finish_reason": "found_error"}  # fmt: skip
    for annotator, first in ((a1, RATED), (a2, wrong)):
        client = _client(annotator)
        for labels in (first, RATED):
            asg = _next(client, project).json()["id"]
            assert _submit(client, project, asg, labels, f"{annotator.id}-{asg}").status_code == 201
    flag_create(item=items[0], user=a2, reason="personal_data", note="a name")
    reviewer = member(project, Role.REVIEWER)
    return project, items, (a1, a2), _client(reviewer), reviewer


def test_review_list_filters(disputed):
    project, items, (a1, a2), client, _ = disputed
    rows = client.get(_url(project, "review/items/")).json()
    assert [r["id"] for r in rows] == [items[0].id]
    assert rows[0]["disagreement"] is True
    assert rows[0]["n_human"] == 2
    flagged = client.get(_url(project, "review/items/?only=flagged")).json()
    assert [r["id"] for r in flagged] == [items[0].id]
    assert flagged[0]["flags"][0]["reason"] == "personal_data"
    everything = client.get(_url(project, f"review/items/?only=all&annotator={a1.id}")).json()
    assert {r["id"] for r in everything} == {items[0].id, items[1].id}
    bad = client.get(_url(project, "review/items/?only=nonsense"))
    assert bad.status_code == 400
    assert "only" in bad.json()


def test_item_annotations_grouped_by_source_with_who_when_and_time(disputed):
    project, items, (a1, a2), client, _ = disputed
    body = client.get(_url(project, f"items/{items[0].id}/annotations/")).json()
    assert set(body["annotations"]) == {"human", "imported"}
    humans = body["annotations"]["human"]
    assert {h["annotator"]["username"] for h in humans} == {a1.username, a2.username}
    assert all(h["time_spent_ms"] is not None and h["revisions"] == 1 for h in humans)
    assert {h["labels"]["first_error_index"] for h in humans} == {-1, 0}
    (expert,) = body["annotations"]["imported"]
    assert expert["annotator"]["username"] == "expert"
    assert expert["labels"]["first_error_index"] == 2
    assert [s["rating"] for s in expert["labels"]["steps"]] == [1, 1, -1]
    assert body["flags"][0]["user"] == a2.username


def test_adjudication_is_recorded_beside_the_annotators_labels(disputed):
    project, items, _, client, reviewer = disputed
    url = _url(project, f"items/{items[0].id}/adjudication/")
    payload = {"labels": RATED, "note": "step 1 is fine", "client_token": "adj-1"}
    first = client.post(url, payload, format="json")
    assert first.status_code == 201, first.content
    assert first.json()["source"] == "adjudication"
    assert first.json()["note"] == "step 1 is fine"
    again = client.post(url, payload, format="json")
    assert again.status_code == 200
    assert again.json()["revision"] == 1
    revised = client.post(url, {**payload, "client_token": "adj-2"}, format="json")
    assert revised.json()["revision"] == 2
    humans = Annotation.objects.filter(item=items[0], source="human")
    assert all(h.revision == 1 for h in humans)  # annotators' own labels stay
    body = client.get(_url(project, f"items/{items[0].id}/annotations/")).json()
    (adj,) = body["annotations"]["adjudication"]
    assert adj["annotator"]["username"] == reviewer.username
    assert adj["revisions"] == 2
    bad = client.post(url, {**payload, "labels": {"finish_reason": "x"}}, format="json")
    assert bad.status_code == 400
    assert "finish_reason" in bad.json()
