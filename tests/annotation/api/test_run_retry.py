"""REST: failed runs show why, and `retry/` queues them again (imports: managers; exports:
managers and researchers; jobs have their own). Non-members get 404, other roles 403, a run
that has not failed 409."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

from annotation.models import ExportRun, ImportRun, Item, Role
from annotation.services.exports import export_run_dir, export_run_execute, export_run_start
from annotation.services.import_runs import import_run_create, import_run_execute
from annotation.services.imports import dataset_import
from annotation.services.runs import run_claim, run_fail

GOOD = b'{"external_id": "a", "steps": ["1+1=2"]}\n{"external_id": "b", "steps": ["2+2=4"]}\n'


@pytest.fixture
def project(make_project):
    return make_project("step_labels", slug="rt")


def _failed_import(project) -> ImportRun:
    run = import_run_create(
        project=project, user=project.created_by, upload=SimpleUploadedFile("a.jsonl", GOOD),
        fmt="native", dataset_name="d",
    )  # fmt: skip
    claimed = run_claim(model=ImportRun, run_id=run.id)
    assert run_fail(
        run=claimed, error="WorkerLostError: worker exited by signal SIGKILL", attempt=1
    )
    return run


def test_manager_sees_the_failure_and_retries_an_import(
    project, api_client, django_capture_on_commit_callbacks
):
    run = _failed_import(project)
    api_client.force_authenticate(project.created_by)
    body = api_client.get(f"/api/v1/projects/rt/imports/{run.id}/").json()
    assert body["status"] == "failed"
    assert body["error"] == "WorkerLostError: worker exited by signal SIGKILL"
    assert body["attempts"] == 1
    with django_capture_on_commit_callbacks() as callbacks:
        resp = api_client.post(f"/api/v1/projects/rt/imports/{run.id}/retry/")
    assert resp.status_code == 200, resp.content
    assert len(callbacks) == 1
    assert (resp.json()["status"], resp.json()["error"], resp.json()["attempts"]) == (
        "queued",
        "",
        0,
    )
    done = import_run_execute(run_id=run.id)
    assert done.status == "succeeded"
    assert Item.objects.filter(project=project).count() == 2
    again = api_client.post(f"/api/v1/projects/rt/imports/{run.id}/retry/")
    assert again.status_code == 409
    assert "only failed or cancelled runs can be retried" in again.json()["detail"].lower()


def test_import_retry_refused_when_the_upload_is_gone(project, api_client):
    run = _failed_import(project)
    (Path(settings.MEDIA_ROOT) / run.file).unlink()
    api_client.force_authenticate(project.created_by)
    resp = api_client.post(f"/api/v1/projects/rt/imports/{run.id}/retry/")
    assert resp.status_code == 409
    assert "upload it again" in resp.json()["detail"]
    run.refresh_from_db()
    assert run.status == "failed"


def test_import_retry_roles(project, api_client, member, make_user):
    run = _failed_import(project)
    url = f"/api/v1/projects/rt/imports/{run.id}/retry/"
    for role, code in ((Role.RESEARCHER, 403), (Role.REVIEWER, 403), (Role.ANNOTATOR, 403)):
        api_client.force_authenticate(member(project, role))
        assert api_client.post(url).status_code == code, role
    api_client.force_authenticate(make_user())
    assert api_client.post(url).status_code == 404
    api_client.force_authenticate(project.created_by)
    assert api_client.post("/api/v1/projects/rt/imports/999999/retry/").status_code == 404
    assert api_client.get(url).status_code in (403, 405)  # POST only
    run.refresh_from_db()
    assert run.status == "failed"


def test_researcher_retries_a_failed_export(
    project, api_client, member, make_user, django_capture_on_commit_callbacks
):
    assert dataset_import(
        project=project, dataset_name="d", fmt="native", stream=io.BytesIO(GOOD)
    ).ok
    researcher = member(project, Role.RESEARCHER)
    run = export_run_start(project=project, fmt="trl_stepwise", user=researcher)
    # The export's folder cannot be created: a file is in the way (a real OSError).
    blocker = export_run_dir(run=run).with_name(f"{run.id:08d}.partial")
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("not a folder")
    failed = export_run_execute(run_id=run.id)
    blocker.unlink()
    assert failed.status == ExportRun.Status.FAILED
    assert "File exists" in failed.error

    api_client.force_authenticate(researcher)
    body = api_client.get(f"/api/v1/projects/rt/exports/{run.id}/").json()
    assert (body["status"], body["error"]) == ("failed", failed.error)
    with django_capture_on_commit_callbacks() as callbacks:
        resp = api_client.post(f"/api/v1/projects/rt/exports/{run.id}/retry/")
    assert resp.status_code == 200, resp.content
    assert len(callbacks) == 1
    assert resp.json()["status"] == "queued"
    done = export_run_execute(run_id=run.id)
    assert done.status == "succeeded"
    assert done.counts["items_read"] == 2
    assert api_client.post(f"/api/v1/projects/rt/exports/{run.id}/retry/").status_code == 409

    api_client.force_authenticate(member(project, Role.ANNOTATOR))
    assert api_client.post(f"/api/v1/projects/rt/exports/{run.id}/retry/").status_code == 403
    api_client.force_authenticate(make_user())
    assert api_client.post(f"/api/v1/projects/rt/exports/{run.id}/retry/").status_code == 404


def test_run_fields_in_the_api(project, api_client):
    run = _failed_import(project)
    api_client.force_authenticate(project.created_by)
    body = api_client.get("/api/v1/projects/rt/imports/").json()["results"][0]
    for key in ("progress_total", "percent", "error", "attempts", "heartbeat_at"):
        assert key in body, key
    assert body["id"] == run.id
    assert json.dumps(body)  # serialisable as is
