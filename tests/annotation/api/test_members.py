"""Members: list, add or change a role by username, remove."""

from __future__ import annotations

import pytest

from annotation.models import Membership, Role, User


@pytest.fixture
def project(make_project):
    return make_project(slug="p1")


@pytest.fixture
def manager_client(api_client, project):
    # A manager who may create projects onboards anyone (see test_member_visibility below).
    project.created_by.can_create_projects = True
    project.created_by.save()
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


NO_SUCH_USER = {"username": ["No user you can add has this username or email."]}


def test_manager_without_site_permission_adds_only_people_they_share_a_project_with(
    make_project, make_user, member, api_client
):
    """A manager who may not create projects cannot tell a stranger's username from one that
    does not exist: both get the same 400. People from their other projects can be added."""
    project = make_project(slug="p1")
    other = make_project(slug="p2", manager=project.created_by)
    colleague = member(other, Role.ANNOTATOR)
    make_user("stranger")
    make_user("gone", is_active=False)
    api_client.force_authenticate(project.created_by)
    url = "/api/v1/projects/p1/members/"
    answers = [
        api_client.post(url, {"username": name, "role": "annotator"}, format="json")
        for name in ("stranger", "ghost", "gone")
    ]
    assert [a.status_code for a in answers] == [400, 400, 400]
    assert [a.json() for a in answers] == [NO_SUCH_USER] * 3
    added = api_client.post(
        url, {"username": colleague.username, "role": "reviewer"}, format="json"
    )
    assert added.status_code == 200
    assert Membership.objects.get(project=project, user=colleague).role == Role.REVIEWER


def test_unknown_and_imported_usernames_get_the_same_answer(project, make_user, manager_client):
    make_user("processbench-experts", kind=User.Kind.IMPORTED)
    url = "/api/v1/projects/p1/members/"
    imported = manager_client.post(url, {"username": "processbench-experts", "role": "annotator"})
    unknown = manager_client.post(url, {"username": "nobody-here", "role": "annotator"})
    assert imported.json() == unknown.json() == NO_SUCH_USER
