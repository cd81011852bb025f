"""The foundation's web pages: login, home, project page, imports and profile."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from rest_framework.authtoken.models import Token

from annotation.models import ImportRun, Item, Project, Role
from annotation.services.projects import project_update

pytestmark = pytest.mark.django_db


def _login(client, user) -> None:
    client.force_login(user)


def _jsonl(*records: dict) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


RECORDS = (
    {"external_id": "t1", "prompt": "2+2?", "steps": ["2+2=4", "Answer 4"]},
    {"external_id": "t2", "prompt": "3+3?", "steps": ["3+3=6", "Answer 6"]},
)


def test_login_page_renders(client) -> None:
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert b'name="username"' in response.content
    assert b"Log in to Stepwise" in response.content


def test_home_requires_login(client) -> None:
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_login_then_logout(client, make_user) -> None:
    make_user("alice")
    response = client.post(reverse("login"), {"username": "alice", "password": "pw-alice"})
    assert response.status_code == 302
    assert response.url == reverse("home")
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert client.get(reverse("home")).status_code == 302


def test_home_lists_only_my_projects(client, make_user, make_project, member) -> None:
    me = make_user("me")
    mine = make_project(slug="mine", manager=me)
    shared = make_project(slug="shared")
    member(shared, Role.ANNOTATOR)
    shared.memberships.create(user=me, role=Role.REVIEWER)
    make_project(slug="secret")
    _login(client, me)
    response = client.get(reverse("home"))
    assert response.status_code == 200
    slugs = [p.slug for p in response.context["projects"]]
    assert slugs == ["mine", "shared"]
    roles = {p.slug: p.my_role for p in response.context["projects"]}
    assert roles == {"mine": Role.MANAGER, "shared": Role.REVIEWER}
    assert reverse("project_detail", args=[mine.slug]).encode() in response.content
    assert b"secret" not in response.content


def test_home_creates_project(client, make_user) -> None:
    me = make_user(can_create_projects=True)
    _login(client, me)
    response = client.post(
        reverse("project_new"),
        {"name": "Math traces", "slug": "", "kind": "step_labels", "overlap": 2},
    )
    project = Project.objects.get(slug="math-traces")
    assert response.status_code == 302
    assert response.url == reverse("project_detail", args=["math-traces"])
    assert project.overlap == 2
    assert project.memberships.get(user=me).role == Role.MANAGER


def test_home_create_shows_service_field_error(client, make_user, make_project) -> None:
    make_project(slug="taken")
    _login(client, make_user(can_create_projects=True))
    response = client.post(
        reverse("project_new"), {"name": "X", "slug": "taken", "kind": "step_labels", "overlap": 1}
    )
    assert response.status_code == 400
    message = "This slug is not available; choose another."
    assert response.context["form"].errors["slug"] == [message]
    assert message.encode() in response.content


def test_annotator_sees_no_new_project_form_and_may_not_post_it(
    client, make_user, make_project, member
) -> None:
    annotator = member(make_project(slug="p1"), Role.ANNOTATOR)
    _login(client, annotator)
    home = client.get(reverse("home"))
    assert home.status_code == 200
    assert b"New project" not in home.content
    assert reverse("project_new").encode() not in home.content
    response = client.post(
        reverse("project_new"), {"name": "Mine", "kind": "step_labels", "overlap": 1}
    )
    assert response.status_code == 403
    assert not Project.objects.filter(slug="mine").exists()


def test_project_creator_sees_the_new_project_form(client, make_user) -> None:
    _login(client, make_user(can_create_projects=True))
    home = client.get(reverse("home"))
    assert b"New project" in home.content
    assert reverse("project_new").encode() in home.content


def test_project_page_404_for_non_member(client, make_user, make_project) -> None:
    project = make_project()
    _login(client, make_user())
    assert client.get(reverse("project_detail", args=[project.slug])).status_code == 404
    assert client.get(reverse("project_detail", args=["no-such"])).status_code == 404


def test_manager_sees_upload_form_and_members(client, make_project, member) -> None:
    project = make_project()
    other = member(project, Role.ANNOTATOR)
    manager = project.memberships.get(role=Role.MANAGER).user
    _login(client, manager)
    response = client.get(reverse("project_detail", args=[project.slug]))
    assert response.status_code == 200
    assert b'id="upload-form"' in response.content
    assert b'value="native"' in response.content
    assert other.username.encode() in response.content


@pytest.mark.parametrize(
    ("kind", "offered"),
    [("step_labels", True), ("dialogue_coding", False), ("preference", False)],
)
def test_upload_form_offers_a_split_only_where_the_kind_cuts_text(
    client, make_project, kind, offered
) -> None:
    project = make_project(kind)
    _login(client, project.memberships.get(role=Role.MANAGER).user)
    page = client.get(reverse("project_detail", args=[project.slug])).content.decode()
    assert ('name="split"' in page) is offered
    assert ('name="split_pattern"' in page) is offered


def test_annotator_sees_no_upload_form_and_is_refused(client, make_project, member) -> None:
    project = make_project()
    annotator = member(project, Role.ANNOTATOR)
    _login(client, annotator)
    response = client.get(reverse("project_detail", args=[project.slug]))
    assert response.status_code == 200
    assert b'id="upload-form"' not in response.content
    assert response.context["members"] == []
    upload = SimpleUploadedFile("a.jsonl", _jsonl(*RECORDS))
    response = client.post(
        reverse("import_create", args=[project.slug]),
        {"file": upload, "format": "native", "dataset_name": "d"},
    )
    assert response.status_code == 403
    assert not ImportRun.objects.exists()


def test_upload_imports_native_jsonl(
    client, settings, django_capture_on_commit_callbacks, make_project
) -> None:
    settings.CELERY_TASK_ALWAYS_EAGER = True
    project = make_project()
    _login(client, project.memberships.get().user)
    upload = SimpleUploadedFile("traces.jsonl", _jsonl(*RECORDS))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("import_create", args=[project.slug]),
            {"file": upload, "format": "native", "dataset_name": "batch-1"},
        )
    assert response.status_code == 302
    assert response.url == reverse("project_detail", args=[project.slug])
    run = ImportRun.objects.get()
    assert run.status == ImportRun.Status.SUCCEEDED, run.message
    assert run.items_created == 2
    assert sorted(Item.objects.filter(project=project).values_list("external_id", flat=True)) == [
        "t1",
        "t2",
    ]
    page = client.get(reverse("project_detail", args=[project.slug]))
    assert b"batch-1" in page.content
    assert b"Imported 2 items" in page.content
    # A finished run's row does not poll.
    assert b'hx-trigger="every 1s"' not in page.content


def test_upload_with_htmx_swaps_in_runs_table(
    client, django_capture_on_commit_callbacks, make_project
) -> None:
    project = make_project()
    _login(client, project.memberships.get().user)
    upload = SimpleUploadedFile("traces.jsonl", _jsonl(*RECORDS))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(
            reverse("import_create", args=[project.slug]),
            {"file": upload, "format": "native", "dataset_name": "batch-1"},
            HTTP_HX_REQUEST="true",
        )
    assert len(callbacks) == 1  # the task is queued after commit, not run here
    assert response.status_code == 200
    body = response.content.decode()
    assert body.strip().startswith('<div id="import-runs">')
    assert "<html" not in body
    run = ImportRun.objects.get()
    assert f'id="import-{run.id}"' in body
    assert 'hx-trigger="every 1s"' in body  # still queued: the row polls


def test_upload_form_errors(client, make_project) -> None:
    project = make_project()
    _login(client, project.memberships.get().user)
    url = reverse("import_create", args=[project.slug])
    response = client.post(url, {"format": "no-such", "dataset_name": ""})
    assert response.status_code == 400
    assert set(response.context["form"].errors) == {"file", "format", "dataset_name"}
    response = client.post(url, {"format": "native", "dataset_name": ""}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert response["HX-Retarget"] == "#upload-form"
    assert response.content.decode().strip().startswith('<form id="upload-form"')
    assert not ImportRun.objects.exists()


def test_import_row_fragment_is_only_the_row(client, make_project) -> None:
    project = make_project()
    manager = project.memberships.get().user
    running = ImportRun.objects.create(
        project=project, dataset_name="d", format="native", status=ImportRun.Status.RUNNING
    )
    failed = ImportRun.objects.create(
        project=project,
        dataset_name="d",
        format="native",
        status=ImportRun.Status.FAILED,
        message="Rejected: 2 problem(s); nothing was written.",
        errors=[
            {"line": 3, "field": "steps", "message": "must be a list"},
            {"row": None, "field": "file", "message": "bad <b>header</b>"},
        ],
        error_count=2,
    )
    _login(client, manager)
    url = reverse("import_row", args=[project.slug, running.id])
    response = client.get(url, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    body = response.content.decode().strip()
    assert body.startswith(f'<tr id="import-{running.id}"')
    assert body.endswith("</tr>")
    assert "<html" not in body
    assert "<table" not in body
    assert 'hx-trigger="every 1s"' in body
    assert url in body

    body = client.get(
        reverse("import_row", args=[project.slug, failed.id]), HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "hx-trigger" not in body  # finished: polling stops
    assert "<details" in body
    assert "line 3" in body
    assert "must be a list" in body
    assert "bad &lt;b&gt;header&lt;/b&gt;" in body

    # Without htmx the row URL leads back to the project page.
    response = client.get(url)
    assert response.status_code == 302


def test_import_row_hidden_from_non_members_and_annotators(
    client, make_user, make_project, member
) -> None:
    project = make_project()
    run = ImportRun.objects.create(project=project, dataset_name="d", format="native")
    url = reverse("import_row", args=[project.slug, run.id])
    _login(client, make_user())
    assert client.get(url, HTTP_HX_REQUEST="true").status_code == 404
    _login(client, member(project, Role.ANNOTATOR))
    assert client.get(url, HTTP_HX_REQUEST="true").status_code == 403
    other = make_project()
    _login(client, other.memberships.get().user)
    assert (
        client.get(
            reverse("import_row", args=[other.slug, run.id]), HTTP_HX_REQUEST="true"
        ).status_code
        == 404
    )


def test_instructions_markdown_is_sanitized(client, make_project) -> None:
    project = make_project()
    project_update(
        project=project,
        instructions=(
            "# Guide\n\nMark the **first wrong** step.\n\n"
            "<script>alert('x')</script>\n\n"
            '<a href="javascript:alert(1)" onclick="steal()">link</a>\n\n'
            '<img src="x" onerror="alert(2)">'
        ),
    )
    _login(client, project.memberships.get().user)
    body = client.get(reverse("project_detail", args=[project.slug])).content.decode()
    assert "<h1>Guide</h1>" in body
    assert "<strong>first wrong</strong>" in body
    assert "<script>alert" not in body
    assert "alert('x')" not in body
    assert "javascript:" not in body
    assert "onclick" not in body
    assert "onerror" not in body


def test_profile_creates_and_regenerates_token(client, make_user) -> None:
    me = make_user()
    _login(client, me)
    response = client.get(reverse("profile"))
    assert response.status_code == 200
    assert b"Create API token" in response.content
    assert client.post(reverse("profile")).status_code == 302
    first = Token.objects.get(user=me).key
    body = client.get(reverse("profile")).content.decode()
    assert first in body
    assert f'curl -H "Authorization: Token {first}"' in body
    assert "/api/v1/projects/" in body
    client.post(reverse("profile"))
    second = Token.objects.get(user=me).key
    assert second != first


def test_project_page_query_count(
    client, make_project, member, django_assert_max_num_queries
) -> None:
    project = make_project()
    for _ in range(5):
        member(project, Role.ANNOTATOR)
        ImportRun.objects.create(project=project, dataset_name="d", format="native")
    _login(client, project.memberships.get(role=Role.MANAGER).user)
    with django_assert_max_num_queries(12):
        response = client.get(reverse("project_detail", args=[project.slug]))
    assert response.status_code == 200
