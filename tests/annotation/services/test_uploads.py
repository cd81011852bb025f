"""Uploaded import files: the size limit (refused while streaming), the per-project quota of
stored uploads, deletion once the import succeeds, retention of failed ones, the sweep."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from annotation.errors import ApplicationError
from annotation.models import ImportRun
from annotation.services.import_runs import import_run_create, import_run_execute
from annotation.services.uploads import import_upload_sweep
from annotation.tasks import import_upload_sweep_task

GOOD = b'{"external_id": "a", "steps": ["1+1=2"]}\n'
BAD = b'{"external_id": "a", "steps": 7}\n'


@pytest.fixture(autouse=True)
def own_media_root(settings, tmp_path):
    """Uploads of other tests (whose rows rolled back) are orphans to the sweep: keep this
    module's files apart so the sweep's counts are this module's."""
    settings.MEDIA_ROOT = tmp_path / "media"


def _create(project, data: bytes, name: str = "u.jsonl") -> ImportRun:
    return import_run_create(
        project=project,
        user=project.created_by,
        upload=SimpleUploadedFile(name, data),
        fmt="native",
        dataset_name="d",
    )


def _stored(run: ImportRun) -> Path:
    return Path(django_settings.MEDIA_ROOT) / run.file


def test_default_upload_limit_is_512_mib():
    assert django_settings.STEPWISE_IMPORT_MAX_FILE_BYTES == 512 * 1024**2


def test_upload_over_the_limit_is_refused_while_streaming(make_project, api_client, settings):
    settings.STEPWISE_IMPORT_MAX_FILE_BYTES = 100
    project = make_project(slug="p1")
    api_client.force_authenticate(project.created_by)
    response = api_client.post(
        "/api/v1/projects/p1/imports/",
        {"file": SimpleUploadedFile("big.jsonl", GOOD * 100), "format": "native", "dataset": "d"},
        format="multipart",
    )
    assert response.status_code == 400
    assert response.json() == {"file": ["is larger than the limit of 100 bytes (0 MiB)"]}
    assert not ImportRun.objects.exists()


def test_web_upload_over_the_limit_shows_the_limit(make_project, client, settings):
    settings.STEPWISE_IMPORT_MAX_FILE_BYTES = 100
    project = make_project(slug="p1")
    client.force_login(project.created_by)
    response = client.post(
        reverse("import_create", args=["p1"]),
        {"file": SimpleUploadedFile("big.jsonl", GOOD * 100), "format": "native",
         "dataset_name": "d"},
    )  # fmt: skip
    assert response.status_code == 400
    assert "The file is larger than the limit of 100 bytes" in response.content.decode()
    assert not ImportRun.objects.exists()


def test_service_refuses_a_file_over_the_limit(make_project, settings):
    settings.STEPWISE_IMPORT_MAX_FILE_BYTES = 10
    with pytest.raises(ApplicationError) as exc:
        _create(make_project(), GOOD)
    assert exc.value.field == "file"
    assert "larger than the limit of 10 bytes" in exc.value.message
    assert not ImportRun.objects.exists()


def test_succeeded_import_deletes_its_upload(make_project):
    run = _create(make_project(), GOOD)
    path = _stored(run)
    assert path.is_file()
    import_run_execute(run_id=run.id)
    run.refresh_from_db()
    assert run.status == ImportRun.Status.SUCCEEDED
    assert run.file == ""
    assert not path.exists()


def test_failed_import_keeps_its_upload_for_the_retention_then_the_sweep_deletes_it(
    make_project, settings
):
    settings.STEPWISE_IMPORT_FAILED_RETENTION_DAYS = 7
    run = _create(make_project(), BAD)
    import_run_execute(run_id=run.id)
    run.refresh_from_db()
    assert run.status == ImportRun.Status.FAILED
    path = _stored(run)
    assert path.is_file()
    assert import_upload_sweep(now=timezone.now() + timedelta(days=6)) == 0
    assert path.is_file()
    assert import_upload_sweep(now=timezone.now() + timedelta(days=8)) == 1
    run.refresh_from_db()
    assert run.file == ""
    assert not path.exists()
    assert import_upload_sweep(now=timezone.now() + timedelta(days=9)) == 0


def test_sweep_leaves_queued_runs_and_fresh_orphans_but_removes_old_orphans(make_project):
    queued = _create(make_project(), GOOD)
    folder = Path(django_settings.MEDIA_ROOT) / "imports"
    fresh = folder / "99999998-fresh.jsonl"
    old = folder / "99999999-old.jsonl"
    fresh.write_bytes(b"x")
    old.write_bytes(b"x")
    two_days_ago = time.time() - 2 * 86400
    os.utime(old, (two_days_ago, two_days_ago))
    assert import_upload_sweep() == 1
    assert not old.exists()
    assert fresh.exists()
    assert _stored(queued).is_file()
    fresh.unlink()


def test_sweep_task_runs_the_sweep(make_project):
    run = _create(make_project(), GOOD)
    ImportRun.objects.filter(id=run.id).update(status=ImportRun.Status.SUCCEEDED)
    assert import_upload_sweep_task.apply().get() == 1
    assert not _stored(run).exists()


def test_project_quota_counts_kept_uploads(make_project, settings):
    settings.STEPWISE_PROJECT_UPLOAD_QUOTA_BYTES = 3 * len(BAD)
    project = make_project()
    failed = [_create(project, BAD) for _ in range(3)]
    for run in failed:
        import_run_execute(run_id=run.id)
    with pytest.raises(ApplicationError) as exc:
        _create(project, GOOD)
    assert exc.value.field == "file"
    assert f"over its quota of {3 * len(BAD):,} bytes" in exc.value.message
    # Another project has its own quota.
    assert _create(make_project(), GOOD).file
    # Once the sweep removes the failed uploads, the project has room again.
    import_upload_sweep(now=timezone.now() + timedelta(days=30))
    assert _create(project, GOOD).file


def test_quota_refusal_over_rest_is_a_400_on_file(make_project, api_client, settings):
    settings.STEPWISE_PROJECT_UPLOAD_QUOTA_BYTES = 10
    project = make_project(slug="p1")
    api_client.force_authenticate(project.created_by)
    response = api_client.post(
        "/api/v1/projects/p1/imports/",
        {"file": SimpleUploadedFile("u.jsonl", GOOD), "format": "native", "dataset": "d"},
        format="multipart",
    )
    assert response.status_code == 400
    assert "quota of 10 bytes" in response.json()["file"][0]
    assert not ImportRun.objects.exists()
