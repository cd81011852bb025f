"""Projects: list (mine; superuser all), create (caller becomes manager), get, patch."""

from __future__ import annotations

import pytest

from annotation.models import Membership, Project, Role


@pytest.fixture
def client_for(api_client):
    def login(user):
        api_client.force_authenticate(user)
        return api_client

    return login


def test_list_shows_only_my_projects_with_item_counts(make_project, member, make_user, client_for):
    mine = make_project(slug="mine")
    make_project(slug="theirs")
    user = member(mine, Role.RESEARCHER)
    response = client_for(user).get("/api/v1/projects/")
    assert response.status_code == 200
    assert [(p["slug"], p["item_count"]) for p in response.json()] == [("mine", 0)]


def test_superuser_sees_every_project(make_project, make_user, client_for):
    make_project(slug="a")
    make_project(slug="b")
    admin = make_user(is_superuser=True)
    slugs = {p["slug"] for p in client_for(admin).get("/api/v1/projects/").json()}
    assert slugs == {"a", "b"}


@pytest.fixture
def creator(make_user):
    return make_user(can_create_projects=True)


def test_create_makes_caller_manager_and_fills_label_schema(creator, client_for):
    user = creator
    response = client_for(user).post(
        "/api/v1/projects/",
        {"name": "Counsel prefs", "kind": "preference", "overlap": 2},
        format="json",
    )
    assert response.status_code == 201
    body = response.json()
    assert body["slug"] == "counsel-prefs"
    assert body["overlap"] == 2
    assert body["label_schema"]["strength_min"] == -3
    project = Project.objects.get(slug="counsel-prefs")
    assert Membership.objects.get(project=project, user=user).role == Role.MANAGER


def test_taken_slug_is_a_409_that_does_not_confirm_a_hidden_project(
    make_project, creator, client_for
):
    """The caller is no member of "taken": the answer is the one a free-but-reserved slug would
    get, with no word of a project."""
    make_project(slug="taken")
    response = client_for(creator).post(
        "/api/v1/projects/", {"name": "x", "kind": "step_labels", "slug": "taken"}, format="json"
    )
    assert response.status_code == 409
    assert response.json() == {
        "detail": "This slug is not available; choose another.",
        "code": "conflict",
    }
    assert "taken" not in response.content.decode()


def test_slug_from_a_taken_name_gets_a_free_suffix(make_project, creator, client_for):
    make_project(slug="counsel-prefs")
    make_project(slug="counsel-prefs-2")
    response = client_for(creator).post(
        "/api/v1/projects/", {"name": "Counsel prefs", "kind": "preference"}, format="json"
    )
    assert response.status_code == 201
    assert response.json()["slug"] == "counsel-prefs-3"


@pytest.mark.parametrize("flags", [{}, {"is_staff": False, "can_create_projects": False}])
def test_plain_user_may_not_create_projects(make_user, client_for, flags):
    response = client_for(make_user(**flags)).post(
        "/api/v1/projects/", {"name": "Mine", "kind": "step_labels"}, format="json"
    )
    assert response.status_code == 403
    assert not Project.objects.filter(slug="mine").exists()


@pytest.mark.parametrize("flags", [{"is_staff": True}, {"is_superuser": True}])
def test_staff_and_superusers_may_create_projects(make_user, client_for, flags):
    response = client_for(make_user(**flags)).post(
        "/api/v1/projects/", {"name": "Theirs", "kind": "step_labels"}, format="json"
    )
    assert response.status_code == 201


@pytest.mark.parametrize("overlap", [0, 32768, 10**12, -1])
def test_create_and_patch_refuse_overlap_outside_the_column(
    make_project, creator, client_for, overlap
):
    created = client_for(creator).post(
        "/api/v1/projects/", {"name": "x", "kind": "step_labels", "overlap": overlap}, format="json"
    )
    assert created.status_code == 400
    assert "overlap" in created.json()
    project = make_project(slug="p1")
    patched = client_for(project.created_by).patch(
        "/api/v1/projects/p1/", {"overlap": overlap}, format="json"
    )
    assert patched.status_code == 400
    assert "overlap" in patched.json()
    project.refresh_from_db()
    assert project.overlap == 1


def test_overlap_at_the_column_maximum_is_stored(creator, client_for):
    response = client_for(creator).post(
        "/api/v1/projects/", {"name": "x", "kind": "step_labels", "overlap": 32767}, format="json"
    )
    assert response.status_code == 201
    assert Project.objects.get(slug="x").overlap == 32767


def test_create_bad_label_schema_is_400_naming_the_field(creator, client_for):
    response = client_for(creator).post(
        "/api/v1/projects/",
        {"name": "x", "kind": "step_labels", "label_schema": {"mode": "guess"}},
        format="json",
    )
    assert response.status_code == 400
    assert list(response.json()) == ["label_schema.mode"]


def test_create_unknown_kind_is_400(creator, client_for):
    response = client_for(creator).post(
        "/api/v1/projects/", {"name": "x", "kind": "poetry"}, format="json"
    )
    assert response.status_code == 400
    assert "kind" in response.json()


def test_get_project(make_project, member, client_for):
    project = make_project(slug="p1", instructions="Read carefully")
    response = client_for(member(project, Role.ANNOTATOR)).get("/api/v1/projects/p1/")
    assert response.status_code == 200
    assert response.json()["instructions"] == "Read carefully"
    assert response.json()["kind"] == "step_labels"


def test_manager_patches_project(make_project, client_for):
    project = make_project(slug="p1")
    response = client_for(project.created_by).patch(
        "/api/v1/projects/p1/",
        {"name": "Renamed", "overlap": 3, "show_suggestions": False},
        format="json",
    )
    assert response.status_code == 200
    project.refresh_from_db()
    assert (project.name, project.overlap, project.show_suggestions) == ("Renamed", 3, False)


def test_patch_ignores_slug_and_kind(make_project, client_for):
    project = make_project(slug="p1")
    response = client_for(project.created_by).patch(
        "/api/v1/projects/p1/", {"slug": "other", "kind": "preference"}, format="json"
    )
    assert response.status_code == 200
    project.refresh_from_db()
    assert (project.slug, project.kind) == ("p1", "step_labels")


def test_patch_bad_label_schema_is_400(make_project, client_for):
    project = make_project(slug="p1")
    response = client_for(project.created_by).patch(
        "/api/v1/projects/p1/", {"label_schema": {"mode": "guess"}}, format="json"
    )
    assert response.status_code == 400
    assert "label_schema.mode" in response.json()


def test_patch_overlap_below_one_is_400(make_project, client_for):
    project = make_project(slug="p1")
    response = client_for(project.created_by).patch(
        "/api/v1/projects/p1/", {"overlap": 0}, format="json"
    )
    assert response.status_code == 400
    assert "overlap" in response.json()
