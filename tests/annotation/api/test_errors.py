"""Expected failures (ApplicationError) answer 400 with the field; a ValueError from a bug
is a 500, never a 400 with a made-up field."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from rest_framework.test import APIClient

from annotation.models import Role
from annotation.services.imports import dataset_import


@pytest.fixture
def labeling(make_project, member):
    project = make_project("step_labels", slug="errors")
    data = (json.dumps({"external_id": "t", "steps": ["a", "b"]}) + "\n").encode()
    assert dataset_import(
        project=project, dataset_name="d", fmt="native", stream=io.BytesIO(data)
    ).ok
    return project, member(project, Role.ANNOTATOR)


def _claim(client: APIClient) -> int:
    response = client.post("/api/v1/projects/errors/assignments/next/", {}, format="json")
    assert response.status_code == 200
    return response.json()["id"]


def test_application_error_is_a_400_naming_the_field(labeling):
    _, annotator = labeling
    client = APIClient()
    client.force_authenticate(annotator)
    pk = _claim(client)
    response = client.post(
        f"/api/v1/projects/errors/assignments/{pk}/submit/",
        {"labels": {"steps": [{"index": 0, "rating": "3"}]}, "client_token": "t"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json() == {"steps[0].rating": ["must be -1, 0 or 1"]}


def test_value_error_from_a_bug_is_a_500_in_the_api(labeling, monkeypatch):
    _, annotator = labeling
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(annotator)
    pk = _claim(client)

    def broken(**kwargs):
        raise ValueError("steps: a bug, not the user's input")

    monkeypatch.setattr("annotation.api.annotate_views.annotation_submit_created", broken)
    response = client.post(
        f"/api/v1/projects/errors/assignments/{pk}/submit/",
        {"labels": {}, "client_token": "t"},
        format="json",
    )
    assert response.status_code == 500


def test_value_error_from_a_bug_is_a_500_on_the_web(labeling, monkeypatch):
    _, annotator = labeling
    client = Client(raise_request_exception=False)
    client.force_login(annotator)
    page = client.get("/projects/errors/annotate/")
    assert page.status_code == 200
    pk = page.context["current"]["assignment"].id

    def broken(**kwargs):
        raise ValueError("steps: a bug, not the user's input")

    monkeypatch.setattr("annotation.web.annotate.annotation_submit", broken)
    response = client.post(f"/projects/errors/annotate/{pk}/submit/", {"client_token": "t"})
    assert response.status_code == 500


def test_commands_print_application_errors_as_command_errors(labeling):
    with pytest.raises(CommandError, match=r"^field: unknown field 'mood'"):
        call_command("agreement", "--project", "errors", "--field", "mood")
    with pytest.raises(CommandError, match=r"^options.ties: must be one of"):
        call_command(
            "export_dataset", "--project", "errors", "--format", "trl_stepwise",
            "--out", "/nonexistent", "--option", "ties=maybe",
        )  # fmt: skip
