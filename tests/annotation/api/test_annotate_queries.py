"""The hot paths of the task stream run a fixed number of queries, whatever the size of the
item: claim (with its render) and submit, for 3 and for 30 steps / turns, and for 2 and 6
candidates. Token authentication as real clients use it, so the count is what production
runs (savepoints included: the test transaction turns each atomic block into one).
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.db import connection
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotation.models import Annotation, Project, Role
from annotation.services.imports import dataset_import

# PostgreSQL (production): token+user, project with role, the claim (held lease, candidate
# with SKIP LOCKED, the lease upsert: one statement returning the item row), the fresh check
# of the item's slots, the item's parts (suggestions only when the item has some; the
# dialogue turns of a preference item only when it has some: these have none).
CLAIM_QUERIES = {"step_labels": 5, "dialogue_coding": 5, "preference": 5}
# token+user, project with role, assignment, part ids (to validate), then one statement: the
# assignment and item rows locked, annotation, label rows, revision 1, assignment and item
# counters. The response's labels are the revision just written (no query).
SUBMIT_QUERIES = {"step_labels": 5, "dialogue_coding": 5, "preference": 5}
# SQLite (the embedded default; IMMEDIATE transactions serialise writers): the general path.
# claim: token+user, project with role | held lease, savepoint, candidates, their leases,
# renewal of an expired own lease, insert (rendered at once), release | parts | suggestions.
# submit: token+user, project with role, assignment | savepoint, assignment and item FOR
# UPDATE, part ids, annotation insert, assignment update, label rows, revision, item counters,
# release | the revision for the response's labels. Preference: +1 (principle rows).
CLAIM_QUERIES_SQLITE = {"step_labels": 11, "dialogue_coding": 11, "preference": 13}
SUBMIT_QUERIES_SQLITE = {"step_labels": 14, "dialogue_coding": 14, "preference": 15}


def _record(kind: str, size: int, i: int) -> dict[str, Any]:
    if kind == "step_labels":
        return {"external_id": f"x{i}", "prompt": "p", "steps": [f"step {j}" for j in range(size)]}
    if kind == "dialogue_coding":
        speakers = ("therapist", "client")
        return {
            "external_id": f"x{i}",
            "turns": [{"speaker": speakers[j % 2], "text": f"turn {j}"} for j in range(size)],
        }
    return {"external_id": f"x{i}", "prompt": "p", "candidates": [{"text": f"c{j}"} for j in range(size)]}  # fmt: skip


def _labels(kind: str, size: int) -> dict[str, Any]:
    if kind == "step_labels":
        return {"steps": [{"index": j, "rating": 1} for j in range(size)], "finish_reason": "solution"}  # fmt: skip
    if kind == "dialogue_coding":
        fields = ("main_therapist_behaviour", "client_talk_type")
        values = ("question", "change")
        return {"turns": [{"index": j, "field": fields[j % 2], "value": values[j % 2]} for j in range(size)]}  # fmt: skip
    return {
        "candidate_a": 0,
        "candidate_b": 1,
        "strength": -1,
        "principles": [{"principle": "empathy", "candidate": c, "value": 4} for c in (0, 1)],
        "justification": "A is warmer and asks an open question.",
    }


def _setup(make_project, member, kind: str, size: int) -> tuple[Project, APIClient]:
    project = make_project(kind=kind, overlap=1)
    lines = "".join(json.dumps(_record(kind, size, i)) + "\n" for i in range(3)).encode()
    assert dataset_import(project=project, dataset_name="d", fmt="native", stream=io.BytesIO(lines)).ok  # fmt: skip
    user = member(project, Role.ANNOTATOR)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return project, client


SIZES = [
    pytest.param("step_labels", 3, id="3-steps"),
    pytest.param("step_labels", 30, id="30-steps"),
    pytest.param("dialogue_coding", 3, id="3-turns"),
    pytest.param("dialogue_coding", 30, id="30-turns"),
    pytest.param("preference", 2, id="2-candidates"),
    pytest.param("preference", 6, id="6-candidates"),
]


@pytest.mark.parametrize(("kind", "size"), SIZES)
def test_claim_and_submit_run_a_constant_number_of_queries(
    make_project, member, django_assert_num_queries, kind, size
):
    project, client = _setup(make_project, member, kind, size)
    base = f"/api/v1/projects/{project.slug}/assignments"
    pg = connection.vendor == "postgresql"
    claim = (CLAIM_QUERIES if pg else CLAIM_QUERIES_SQLITE)[kind]
    submit = (SUBMIT_QUERIES if pg else SUBMIT_QUERIES_SQLITE)[kind]
    with django_assert_num_queries(claim):
        claimed = client.post(f"{base}/next/", {}, format="json")
    assert claimed.status_code == 200
    body = claimed.json()
    parts = {"step_labels": "steps", "dialogue_coding": "turns", "preference": "candidates"}[kind]
    assert len(body["item"][parts]) == size
    payload = {"labels": _labels(kind, size), "client_token": "tok", "active_ms": 900}
    with django_assert_num_queries(submit):
        submitted = client.post(f"{base}/{body['id']}/submit/", payload, format="json")
    assert submitted.status_code == 201, submitted.content
    assert submitted.json()["labels"] == Annotation.objects.get().revisions.get().labels
    # the next claim costs the same as the first
    with django_assert_num_queries(claim):
        assert client.post(f"{base}/next/", {}, format="json").status_code == 200
    assert Annotation.objects.filter(item__project=project).count() == 1


def test_my_annotations_page_is_constant(make_project, member, django_assert_num_queries):
    project, client = _setup(make_project, member, "step_labels", 3)
    base = f"/api/v1/projects/{project.slug}"
    for i in range(3):
        asg = client.post(f"{base}/assignments/next/", {}, format="json").json()["id"]
        payload = {"labels": _labels("step_labels", 3), "client_token": f"t{i}"}
        client.post(f"{base}/assignments/{asg}/submit/", payload, format="json")
    # token+user, project, role, page, revisions
    with django_assert_num_queries(4):
        page = client.get(f"{base}/annotations/mine/")
    assert len(page.json()["results"]) == 3


@pytest.mark.postgres
def test_preference_turns_are_read_only_when_the_item_has_some(
    make_project, member, django_assert_num_queries
):
    project = make_project(kind="preference", overlap=1)
    record = {
        "external_id": "ctx",
        "prompt": "p",
        "turns": [{"speaker": "client", "text": "I feel stuck."}],
        "candidates": [{"text": "c0"}, {"text": "c1"}],
    }
    stream = io.BytesIO((json.dumps(record) + "\n").encode())
    assert dataset_import(project=project, dataset_name="d", fmt="native", stream=stream).ok
    client = APIClient()
    user = member(project, Role.ANNOTATOR)
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    with django_assert_num_queries(CLAIM_QUERIES["preference"] + 1):
        claimed = client.post(f"/api/v1/projects/{project.slug}/assignments/next/", {}, format="json")  # fmt: skip
    item = claimed.json()["item"]
    assert [t["text"] for t in item["turns"]] == ["I feel stuck."]
    assert [c["text"] for c in item["candidates"]] == ["c0", "c1"]
