"""Datasets: list with item counts, create, get."""

from __future__ import annotations

import io
import json

import pytest

from annotation.models import Role
from annotation.services.imports import dataset_import


@pytest.fixture
def project(make_project):
    return make_project(slug="p1")


def test_list_datasets_with_item_counts(project, member, api_client):
    lines = "\n".join(json.dumps({"external_id": f"x{i}", "steps": ["s"]}) for i in range(3))
    dataset_import(
        project=project, dataset_name="d1", fmt="native", stream=io.BytesIO(lines.encode())
    )
    api_client.force_authenticate(member(project, Role.ANNOTATOR))
    response = api_client.get("/api/v1/projects/p1/datasets/")
    assert response.status_code == 200
    assert [(d["name"], d["item_count"], d["source_format"]) for d in response.json()] == [
        ("d1", 3, "native")
    ]


def test_create_and_get_dataset(project, api_client):
    api_client.force_authenticate(project.created_by)
    created = api_client.post(
        "/api/v1/projects/p1/datasets/",
        {"name": "gsm8k", "source_format": "processbench", "license": "MIT"},
        format="json",
    )
    assert created.status_code == 201
    body = created.json()
    assert (body["name"], body["item_count"], body["license"]) == ("gsm8k", 0, "MIT")
    fetched = api_client.get(f"/api/v1/projects/p1/datasets/{body['id']}/")
    assert fetched.status_code == 200
    assert fetched.json() == body


def test_duplicate_dataset_name_is_400(project, api_client):
    api_client.force_authenticate(project.created_by)
    api_client.post("/api/v1/projects/p1/datasets/", {"name": "d"}, format="json")
    again = api_client.post("/api/v1/projects/p1/datasets/", {"name": "d"}, format="json")
    assert again.status_code == 400
    assert "name" in again.json()


def test_unknown_source_format_is_400(project, api_client):
    api_client.force_authenticate(project.created_by)
    response = api_client.post(
        "/api/v1/projects/p1/datasets/", {"name": "d", "source_format": "xml"}, format="json"
    )
    assert response.status_code == 400
    assert "source_format" in response.json()


def test_missing_dataset_is_404(project, api_client):
    api_client.force_authenticate(project.created_by)
    assert api_client.get("/api/v1/projects/p1/datasets/999999/").status_code == 404
