"""Input the database or Python cannot take is a 4xx naming the problem, never a 500: NUL
characters, JSON nested past the recursion limit, crafted cursors, ids out of range, unknown
URLs under /api/."""

from __future__ import annotations

import base64

import pytest
from rest_framework.test import APIClient

from annotation.models import Role


@pytest.fixture
def manager_client(make_project):
    project = make_project(slug="p1")
    client = APIClient()
    client.force_authenticate(project.created_by)
    return client


def _raw_json(client: APIClient, method: str, url: str, text: str):
    return getattr(client, method)(url, data=text, content_type="application/json")


def test_nul_in_a_json_string_is_a_400_naming_its_path(manager_client):
    response = _raw_json(
        manager_client,
        "patch",
        "/api/v1/projects/p1/",
        '{"label_schema": {"x": ["ok", "a\\u0000b"]}}',
    )
    assert response.status_code == 400
    assert response.json()["detail"] == (
        "label_schema.x[1]: text must not contain NUL characters (\\u0000)"
    )


def test_nul_in_a_json_key_is_a_400(manager_client):
    response = _raw_json(manager_client, "post", "/api/v1/projects/p1/exports/",
                         '{"format": "trl_stepwise", "options": {"a\\u0000": 1}}')  # fmt: skip
    assert response.status_code == 400
    assert "options.a" in response.json()["detail"]


def test_json_nested_past_the_recursion_limit_is_a_400(manager_client):
    deep = "[" * 100_000 + "]" * 100_000
    response = _raw_json(
        manager_client, "patch", "/api/v1/projects/p1/", '{"label_schema": ' + deep + "}"
    )
    assert response.status_code == 400
    assert "nested too deeply" in response.json()["detail"]


def test_nan_in_json_is_a_400(manager_client):
    response = _raw_json(
        manager_client, "patch", "/api/v1/projects/p1/", '{"label_schema": {"a": NaN}}'
    )
    assert response.status_code == 400


@pytest.mark.parametrize("raw", ["p=abc", "p=\x00", "p=99999999999999999999999"])
def test_a_crafted_cursor_is_an_invalid_cursor(manager_client, raw):
    cursor = base64.b64encode(raw.encode()).decode()
    response = manager_client.get(f"/api/v1/projects/p1/items/?cursor={cursor}")
    assert response.status_code == 404
    assert response.json()["detail"] == "Invalid cursor"


@pytest.mark.parametrize("value", ["1.5", "99999999999999999999999", "-1", "abc"])
def test_item_filter_by_dataset_takes_only_ids(manager_client, value):
    response = manager_client.get(f"/api/v1/projects/p1/items/?dataset={value}")
    assert response.status_code == 400
    assert "dataset" in response.json()


def test_nul_in_a_query_parameter_is_a_400(manager_client, client, make_user):
    response = manager_client.get("/api/v1/projects/p1/agreement/?field=a%00b")
    assert response.status_code == 400
    assert response.json() == {"field": ["field: must not contain NUL characters"]}
    client.force_login(make_user())
    assert client.get("/?q=%00").status_code == 400


@pytest.mark.parametrize(
    ("field", "value"),
    [("exclude", [2**63]), ("exclude", [10**30])],
)
def test_ids_beyond_the_column_are_refused(make_project, member, field, value):
    project = make_project(slug="p2")
    client = APIClient()
    client.force_authenticate(member(project, Role.ANNOTATOR))
    response = client.post("/api/v1/projects/p2/assignments/next/", {field: value}, format="json")
    assert response.status_code == 400
    assert field in response.json()


def test_active_ms_beyond_the_column_is_refused(make_project, member):
    project = make_project(slug="p3")
    client = APIClient()
    client.force_authenticate(member(project, Role.ANNOTATOR))
    response = client.post(
        "/api/v1/projects/p3/assignments/1/submit/",
        {"labels": {}, "client_token": "t", "active_ms": 2**31},
        format="json",
    )
    assert response.status_code == 400
    assert "active_ms" in response.json()


def test_unknown_api_url_is_a_json_404(manager_client):
    response = manager_client.get("/api/v1/projects/p1/items/-1/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Not found.", "code": "not_found"}


def test_unknown_page_is_still_an_html_404(client, make_user):
    client.force_login(make_user())
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize(
    "text", ['{"a": "x\\u0000y"}', "[" * 100_000 + "]" * 100_000], ids=["nul", "deep"]
)
def test_json_text_in_a_form_field_gets_the_same_checks(manager_client, text):
    """label_schema as a form field and import options as a multipart field are JSON text."""
    patched = manager_client.patch(
        "/api/v1/projects/p1/", {"label_schema": text}, format="multipart"
    )
    assert patched.status_code == 400
    assert "label_schema" in patched.json()
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("u.jsonl", b'{"external_id": "a", "steps": ["s"]}\n')
    imported = manager_client.post(
        "/api/v1/projects/p1/imports/",
        {"file": upload, "format": "native", "dataset": "d", "options": text},
        format="multipart",
    )
    assert imported.status_code == 400
    assert "options" in imported.json()


def test_nul_in_a_form_field_is_a_400(manager_client):
    response = manager_client.post(
        "/api/v1/projects/p1/datasets/",
        "name=a%00b",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 400
    assert response.json() == {"name": ["name: must not contain NUL characters"]}
