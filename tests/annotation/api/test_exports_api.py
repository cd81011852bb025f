from __future__ import annotations

import io
import json

import pytest

from annotation.models import ExportRun, Role
from annotation.services.exports import export_run_execute
from annotation.services.imports import dataset_import
from annotation.services.stats import project_stats_refresh


@pytest.fixture
def project(make_project):
    p = make_project("step_labels", slug="api-exp")
    recs = [{"id": f"pb-{i}", "generator": "g", "problem": f"p{i}", "steps": ["a", "b"],
             "final_answer_correct": True, "label": i % 3 - 1} for i in range(6)]  # fmt: skip
    assert dataset_import(project=p, dataset_name="pb", fmt="processbench",
                          stream=io.BytesIO(json.dumps(recs).encode())).ok  # fmt: skip
    return p


def test_researcher_starts_polls_and_downloads(project, member, api_client,
                                                django_capture_on_commit_callbacks):  # fmt: skip
    researcher = member(project, Role.RESEARCHER)
    api_client.force_authenticate(researcher)
    url = f"/api/v1/projects/{project.slug}/exports/"
    with django_capture_on_commit_callbacks():
        resp = api_client.post(url, {"format": "processbench", "options": {"test_size": 0.5}},
                               format="json")  # fmt: skip
    assert resp.status_code == 201, resp.content
    run_id = resp.json()["id"]
    assert resp.json()["status"] == "queued"
    export_run_execute(run_id=run_id)
    detail = api_client.get(f"{url}{run_id}/").json()
    assert detail["status"] == "succeeded"
    names = {f["name"] for f in detail["files"]}
    assert {"manifest.json", "README.md"} <= names
    data_file = next(n for n in names if n.endswith(".jsonl"))
    resp = api_client.get(f"{url}{run_id}/download/{data_file}")
    assert resp.status_code == 200
    body = b"".join(resp.streaming_content).decode()
    assert json.loads(body.splitlines()[0])["id"].startswith("pb-")
    manifest = json.loads(
        b"".join(api_client.get(f"{url}{run_id}/download/manifest.json").streaming_content)
    )
    assert manifest["export_run"] == run_id
    assert api_client.get(f"{url}{run_id}/download/../secret").status_code == 404
    listing = api_client.get(url).json()
    rows = listing["results"] if isinstance(listing, dict) else listing
    assert rows[0]["id"] == run_id


def test_export_permissions_and_errors(project, member, make_user, api_client):
    url = f"/api/v1/projects/{project.slug}/exports/"
    api_client.force_authenticate(member(project, Role.ANNOTATOR))
    assert api_client.get(url).status_code == 403
    api_client.force_authenticate(make_user())
    assert api_client.get(url).status_code == 404
    api_client.force_authenticate(member(project, Role.MANAGER))
    resp = api_client.post(url, {"format": "trl_preference"}, format="json")
    assert resp.status_code == 400
    assert "format" in resp.json()
    resp = api_client.post(url, {"format": "processbench", "options": {"ties": "x"}}, format="json")
    assert resp.status_code == 400
    assert "options.ties" in resp.json()
    assert not ExportRun.objects.exists()


def test_agreement_endpoint(project, member, api_client):
    url = f"/api/v1/projects/{project.slug}/agreement/"
    api_client.force_authenticate(member(project, Role.ANNOTATOR))
    assert api_client.get(url).status_code == 403
    api_client.force_authenticate(member(project, Role.REVIEWER))
    live = api_client.get(url, {"field": "first_error_index"}).json()
    assert [f["field"] for f in live["fields"]] == ["first_error_index"]
    assert live["computed_at"] is None
    project_stats_refresh(project=project)
    stored = api_client.get(url).json()
    assert stored["computed_at"]
    assert len(stored["fields"]) == 3
    assert api_client.get(url, {"field": "nope", "fresh": "1"}).status_code == 400
