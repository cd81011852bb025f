"""Members: list, add or change a role by username, remove."""

from __future__ import annotations

import pytest

from annotation.models import Membership, Role, User


@pytest.fixture
def project(make_project):
    return make_project(slug="p1")


@pytest.fixture
def manager_client(api_client, project):
    api_client.force_authenticate(project.created_by)
    return api_client


def test_list_members(project, member, manager_client):
    reviewer = member(project, Role.REVIEWER)
    response = manager_client.get("/api/v1/projects/p1/members/")
    assert response.status_code == 200
    rows = {(m["username"], m["role"]) for m in response.json()}
    assert rows == {(project.created_by.username, "manager"), (reviewer.username, "reviewer")}


def test_add_member_by_username_then_change_role(project, make_user, manager_client):
    newcomer = make_user("newcomer")
    added = manager_client.post(
        "/api/v1/projects/p1/members/", {"username": "newcomer", "role": "annotator"}, format="json"
    )
    assert added.status_code == 200
    assert added.json()["role"] == "annotator"
    changed = manager_client.post(
        "/api/v1/projects/p1/members/", {"username": "newcomer", "role": "reviewer"}, format="json"
    )
    assert changed.status_code == 200
    assert changed.json()["id"] == added.json()["id"]
    assert Membership.objects.get(project=project, user=newcomer).role == Role.REVIEWER


def test_unknown_username_or_role_is_400(project, make_user, manager_client):
    make_user("someone")
    unknown = manager_client.post(
        "/api/v1/projects/p1/members/", {"username": "ghost", "role": "annotator"}, format="json"
    )
    assert unknown.status_code == 400
    assert "username" in unknown.json()
    bad_role = manager_client.post(
        "/api/v1/projects/p1/members/", {"username": "someone", "role": "boss"}, format="json"
    )
    assert bad_role.status_code == 400
    assert "role" in bad_role.json()


def test_imported_source_users_cannot_be_added(project, make_user, manager_client):
    make_user("processbench-experts", kind=User.Kind.IMPORTED)
    response = manager_client.post(
        "/api/v1/projects/p1/members/",
        {"username": "processbench-experts", "role": "annotator"},
        format="json",
    )
    assert response.status_code == 400


def test_remove_member(project, member, manager_client):
    user = member(project, Role.ANNOTATOR)
    membership = Membership.objects.get(project=project, user=user)
    response = manager_client.delete(f"/api/v1/projects/p1/members/{membership.id}/")
    assert response.status_code == 204
    assert not Membership.objects.filter(id=membership.id).exists()


def test_last_manager_cannot_be_removed(project, manager_client):
    membership = Membership.objects.get(project=project, user=project.created_by)
    response = manager_client.delete(f"/api/v1/projects/p1/members/{membership.id}/")
    assert response.status_code == 400
    assert "role" in response.json()
    assert Membership.objects.filter(id=membership.id).exists()


def test_remove_missing_membership_is_404(manager_client):
    assert manager_client.delete("/api/v1/projects/p1/members/999999/").status_code == 404
