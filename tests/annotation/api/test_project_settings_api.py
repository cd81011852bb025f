"""REST: project settings (GET/PATCH), label schema (GET/PUT), member roles (PATCH/DELETE)."""

from __future__ import annotations

import io
import json

import pytest

from annotation.models import Membership, Project, Role
from annotation.services.annotations import annotation_submit
from annotation.services.assignments import assignment_claim_next
from annotation.services.imports import dataset_import

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(make_project):
    return make_project("step_labels", slug="p1")


@pytest.fixture
def manager_client(api_client, project):
    api_client.force_authenticate(project.created_by)
    return api_client


def test_settings_read_and_patch(project, manager_client):
    got = manager_client.get("/api/v1/projects/p1/settings/")
    assert got.status_code == 200
    assert got.json()["step_mode"] == "rate_every_step"
    assert got.json()["gold_rate"] == pytest.approx(0.05)
    patched = manager_client.patch(
        "/api/v1/projects/p1/settings/",
        {"instructions": "Mark the **first** error.", "step_mode": "first_error", "gold_rate": 0.1},
        format="json",
    )
    assert patched.status_code == 200, patched.json()
    assert patched.json()["step_mode"] == "first_error"
    fresh = Project.objects.get(id=project.id)
    assert fresh.label_schema["mode"] == "first_error"
    assert fresh.instructions == "Mark the **first** error."
    assert fresh.gold_rate == pytest.approx(0.1)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"overlap": 0}, "overlap"),
        ({"gold_rate": 2}, "gold_rate"),
        ({"step_mode": "sometimes"}, "step_mode"),
        ({"name": ""}, "name"),
        ({"instructions": "x" * 100_001}, "instructions"),
    ],
)
def test_settings_patch_refuses_bad_values(project, manager_client, body, field):
    response = manager_client.patch("/api/v1/projects/p1/settings/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()


def test_step_mode_is_refused_for_a_dialogue_project(make_project, api_client):
    dialogue = make_project("dialogue_coding", slug="dlg")
    api_client.force_authenticate(dialogue.created_by)
    assert "step_mode" not in api_client.get("/api/v1/projects/dlg/settings/").json()
    response = api_client.patch(
        "/api/v1/projects/dlg/settings/", {"step_mode": "first_error"}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"step_mode": ["does not apply to this project's kind"]}


def test_settings_and_schema_access(project, api_client, member, make_user):
    annotator = member(project, Role.ANNOTATOR)
    api_client.force_authenticate(annotator)
    assert api_client.get("/api/v1/projects/p1/settings/").status_code == 403
    assert api_client.get("/api/v1/projects/p1/schema/").status_code == 200
    assert (
        api_client.patch("/api/v1/projects/p1/settings/", {"overlap": 2}, format="json").status_code
        == 403
    )
    assert (
        api_client.put(
            "/api/v1/projects/p1/schema/", {"label_schema": {}}, format="json"
        ).status_code
        == 403
    )
    assert (
        api_client.patch(
            "/api/v1/projects/p1/members/1/", {"role": "manager"}, format="json"
        ).status_code
        == 403
    )
    api_client.force_authenticate(make_user("outsider"))
    for url in ("/api/v1/projects/p1/settings/", "/api/v1/projects/p1/schema/"):
        assert api_client.get(url).status_code == 404
    assert (
        api_client.patch("/api/v1/projects/p1/settings/", {"overlap": 2}, format="json").status_code
        == 404
    )
    assert Project.objects.get(id=project.id).overlap == 1


def _coded_dialogue(make_project, member) -> Project:
    project = make_project("dialogue_coding", slug="dlg")
    record = {"external_id": "d", "turns": [{"speaker": "therapist", "text": "How are you?"},
                                            {"speaker": "client", "text": "Fine."}]}  # fmt: skip
    data = io.BytesIO((json.dumps(record) + "\n").encode())
    assert dataset_import(project=project, dataset_name="d", fmt="native", stream=data).ok
    asg = assignment_claim_next(project=project, annotator=member(project))
    annotation_submit(assignment=asg, labels={"turns": [
        {"index": 0, "field": "main_therapist_behaviour", "value": "reflection"}]})  # fmt: skip
    return project


def test_schema_put_validates_and_refuses_to_orphan(make_project, member, api_client):
    project = _coded_dialogue(make_project, member)
    api_client.force_authenticate(project.created_by)
    url = "/api/v1/projects/dlg/schema/"
    assert api_client.get(url).json()["label_schema"] == project.label_schema
    bad = api_client.put(url, {"label_schema": {"fields": []}}, format="json")
    assert bad.status_code == 400
    assert bad.json() == {"label_schema.fields": ["must be a list of 1 to 20 fields"]}
    not_object = api_client.put(url, {"label_schema": [1, 2]}, format="json")
    assert not_object.status_code == 400
    fields = json.loads(json.dumps(project.label_schema["fields"]))
    fields[0]["choices"] = ["question", "other"]
    orphan = api_client.put(url, {"label_schema": {"fields": fields}}, format="json")
    assert orphan.status_code == 409
    assert "'reflection' (1 annotation)" in orphan.json()["detail"]
    fields[0]["choices"] = ["reflection", "question"]
    fields[0]["choice_labels"] = {"reflection": "Reflective listening"}
    ok = api_client.put(url, {"label_schema": {"fields": fields}}, format="json")
    assert ok.status_code == 200
    assert ok.json()["label_schema"]["fields"][0]["choice_labels"] == {
        "reflection": "Reflective listening"
    }
    # The project PATCH takes the same checks.
    fields[0]["choices"] = ["question"]
    del fields[0]["choice_labels"]
    patch = api_client.patch(
        "/api/v1/projects/dlg/", {"label_schema": {"fields": fields}}, format="json"
    )
    assert patch.status_code == 409


def test_member_role_change_remove_and_add_by_email(project, manager_client, make_user):
    creator = project.created_by
    creator.can_create_projects = True
    creator.save()
    make_user("ada", email="ada@example.org")
    added = manager_client.post(
        "/api/v1/projects/p1/members/",
        {"username": "ADA@example.org", "role": "annotator"},
        format="json",
    )
    assert added.status_code == 200, added.json()
    pk = added.json()["id"]
    changed = manager_client.patch(
        f"/api/v1/projects/p1/members/{pk}/", {"role": "reviewer"}, format="json"
    )
    assert changed.status_code == 200
    assert changed.json()["role"] == "reviewer"
    bad = manager_client.patch(
        f"/api/v1/projects/p1/members/{pk}/", {"role": "boss"}, format="json"
    )
    assert bad.status_code == 400
    mine = Membership.objects.get(project=project, user=creator)
    last = manager_client.patch(
        f"/api/v1/projects/p1/members/{mine.id}/", {"role": "annotator"}, format="json"
    )
    assert last.status_code == 400
    assert last.json() == {"role": ["a project keeps at least one manager"]}
    assert (
        manager_client.patch(
            "/api/v1/projects/p1/members/999999/", {"role": "reviewer"}, format="json"
        ).status_code
        == 404
    )
    assert manager_client.delete(f"/api/v1/projects/p1/members/{pk}/").status_code == 204
    assert manager_client.delete(f"/api/v1/projects/p1/members/{mine.id}/").status_code == 400
