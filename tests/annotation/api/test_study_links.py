"""REST study links: managers only (404 for non-members, 403 for other roles), bounded and
validated input, the workers' table; and a study worker's session cannot use the API."""

from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token

from annotation.models import Role, StudyLink
from annotation.services.study import Arrival, study_claim_next, study_submit, study_worker_enter
from tests.study_projects import make_link, study_project

pytestmark = pytest.mark.django_db

BASE = "/api/v1/projects/study-proj/study-links/"


@pytest.fixture
def world(make_project, make_user):
    project, manager = study_project(make_project, make_user)
    return {"project": project, "manager": manager}


def test_roles(world, api_client, member, make_user):
    link = make_link(world["project"], world["manager"])
    paths = [BASE, f"{BASE}{link.id}/", f"{BASE}{link.id}/workers/"]
    for role in (Role.ANNOTATOR, Role.REVIEWER, Role.RESEARCHER):
        api_client.force_authenticate(member(world["project"], role))
        for path in paths:
            assert api_client.get(path).status_code == 403, (role, path)
        assert api_client.post(BASE, {"name": "x", "completion_code": "A"}).status_code == 403
        assert api_client.patch(paths[1], {"paused": True}, format="json").status_code == 403
    api_client.force_authenticate(make_user())
    for path in paths:
        assert api_client.get(path).status_code == 404
    api_client.force_authenticate(None)
    assert api_client.get(BASE).status_code == 401


def test_create_read_patch_and_workers(world, api_client):
    api_client.force_authenticate(world["manager"])
    created = api_client.post(
        BASE,
        {"name": "Pilot", "completion_code": "C0DE42", "quota": 1, "attention_rate": 0.2,
         "completion_url": "https://app.prolific.com/submissions/complete?cc=C0DE42"},
        format="json",
    )  # fmt: skip
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["worker_param"] == "PROLIFIC_PID"
    assert body["entry_path"] == f"/s/{body['token']}/"
    assert body["worker_count"] == 0
    link = StudyLink.objects.get(id=body["id"])
    worker = study_worker_enter(link=link, arrival=Arrival("w-1", "s", "x"))
    assignment = study_claim_next(worker=worker)
    study_submit(worker=worker, assignment=assignment, labels={"first_error_index": 1})
    rows = api_client.get(f"{BASE}{link.id}/workers/").json()
    assert [(r["worker_id"], r["status"], r["items_done"], r["completion_code"]) for r in rows] == [
        ("w-1", "completed", 1, "C0DE42")
    ]
    patched = api_client.patch(f"{BASE}{link.id}/", {"paused": True, "quota": 4}, format="json")
    assert patched.status_code == 200
    assert (patched.json()["paused"], patched.json()["quota"]) == (True, 4)
    listed = api_client.get(BASE).json()
    assert [(x["id"], x["worker_count"]) for x in listed] == [(link.id, 1)]
    assert api_client.get(f"{BASE}{link.id + 1000}/").status_code == 404


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"completion_url": "javascript:alert(1)"}, "completion_url"),
        ({"completion_url": "https://" + "a" * 2000}, "completion_url"),
        ({"quota": 0}, "quota"),
        ({"quota": 10**9}, "quota"),
        ({"max_workers": -1}, "max_workers"),
        ({"attention_rate": 2}, "attention_rate"),
        ({"pass_mark": "NaN"}, "pass_mark"),
        ({"worker_param": "1bad"}, "worker_param"),
        ({"worker_param": "STUDY_ID"}, "study_param"),
        ({"consent_text": "x" * 20_001}, "consent_text"),
        ({"completion_code": "a b"}, "completion_code"),
        ({"failure_code": "a\x00b"}, "failure_code"),
        ({"name": ""}, "name"),
    ],
)
def test_bad_input_is_400_naming_the_field(world, api_client, data, field):
    api_client.force_authenticate(world["manager"])
    response = api_client.post(BASE, {"name": "P", "completion_code": "C", **data}, format="json")
    assert response.status_code == 400
    assert field in str(response.json())
    assert not StudyLink.objects.exists()


def test_study_session_cannot_use_the_api(world, client):
    link = make_link(world["project"], world["manager"])
    client.get(f"/s/{link.token}/?PROLIFIC_PID=w1")
    assert client.get(BASE).status_code == 404
    assert client.get("/api/v1/").status_code == 404
    # Nor can its account get a token: it has no password.
    assert (
        client.post("/api/v1/auth/token/", {"username": "prolific:w1", "password": ""}).status_code
        == 404
    )
    assert not Token.objects.filter(user__username="prolific:w1").exists()
