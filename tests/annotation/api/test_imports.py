"""Imports: upload (multipart) -> queued ImportRun -> task -> poll the run."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from annotation.models import ImportRun, Item, Role


def _jsonl(*records: object) -> bytes:
    return "\n".join(r if isinstance(r, str) else json.dumps(r) for r in records).encode()


def _upload(data: bytes, name: str = "items.jsonl") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="application/jsonl")


GOOD = _jsonl(
    {"external_id": "a", "steps": ["1+1=2", "So 2."]},
    {"external_id": "b", "steps": ["2+2=4"], "annotations": [
        {"annotator": "experts", "step_ratings": [1], "first_error_index": -1}]},
)  # fmt: skip


@pytest.fixture
def project(make_project):
    return make_project(slug="p1")


@pytest.fixture
def manager_client(project, api_client):
    api_client.force_authenticate(project.created_by)
    return api_client


@pytest.fixture
def eager(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True


def test_upload_queues_a_run_without_running_it_in_the_request(project, manager_client):
    response = manager_client.post(
        "/api/v1/projects/p1/imports/",
        {"file": _upload(GOOD), "format": "native", "dataset": "d1"},
        format="multipart",
    )
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "queued"
    assert (body["format"], body["dataset_name"], body["original_filename"]) == (
        "native",
        "d1",
        "items.jsonl",
    )
    assert body["created_by"] == project.created_by.username
    assert not Item.objects.exists()


def test_upload_runs_import_and_run_reports_counts(
    project, manager_client, eager, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = manager_client.post(
            "/api/v1/projects/p1/imports/",
            {"file": _upload(GOOD), "format": "native", "dataset": "d1"},
            format="multipart",
        )
    assert response.status_code == 201
    # The import's task; the finished import then asks for one dashboard refresh (the
    # request, and the refresh's own task).
    assert len(callbacks) == 3
    from annotation.models import StatsRefresh

    assert StatsRefresh.objects.filter(project=project).count() == 1
    run_id = response.json()["id"]

    polled = manager_client.get(f"/api/v1/projects/p1/imports/{run_id}/")
    assert polled.status_code == 200
    run = polled.json()
    assert run["status"] == "succeeded", run
    assert (run["items_created"], run["steps_created"], run["annotations_created"]) == (2, 3, 1)
    assert run["errors"] == []
    assert run["message"].startswith("Imported 2 items")
    assert run["dataset"] is not None
    assert set(Item.objects.filter(project=project).values_list("external_id", flat=True)) == {
        "a",
        "b",
    }


def test_broken_line_fails_the_run_and_writes_nothing(
    project, manager_client, eager, django_capture_on_commit_callbacks
):
    data = _jsonl({"external_id": "a", "steps": ["ok"]}, '{"external_id": "b", "steps": [')
    with django_capture_on_commit_callbacks(execute=True):
        response = manager_client.post(
            "/api/v1/projects/p1/imports/",
            {"file": _upload(data), "format": "native", "dataset": "d1"},
            format="multipart",
        )
    run = manager_client.get(f"/api/v1/projects/p1/imports/{response.json()['id']}/").json()
    assert run["status"] == "failed"
    assert run["error_count"] == 1
    assert run["errors"][0]["line"] == 2
    assert "invalid JSON" in run["errors"][0]["message"]
    assert run["dataset"] is None
    assert run["message"].endswith("nothing was written.")
    assert not Item.objects.exists()


@pytest.mark.parametrize(
    ("bad", "field", "message"),
    [
        ('{"external_id": "b", "steps": ["x"], "metadata": {"m": ' + "[" * 100_000 + "]" * 100_000 + "}}",
         "metadata.m[0][0]…", "nested more than 64 levels"),
        ('{"external_id": "b", "prompt": "a\\u0000b", "steps": ["x"]}', "prompt", "NUL character"),
        ('{"external_id": "b", "steps": ["x"], "metadata": {"p": NaN}}', "metadata.p", "NaN/Infinity"),
    ],
    ids=["nested", "nul", "nan"],
)  # fmt: skip
def test_files_that_crashed_the_worker_fail_the_run_with_line_and_field(
    project, manager_client, eager, django_capture_on_commit_callbacks, bad, field, message
):
    data = _jsonl({"external_id": "a", "steps": ["ok"]}, bad)
    with django_capture_on_commit_callbacks(execute=True):
        response = manager_client.post(
            "/api/v1/projects/p1/imports/",
            {"file": _upload(data), "format": "native", "dataset": "d1"},
            format="multipart",
        )
    run = manager_client.get(f"/api/v1/projects/p1/imports/{response.json()['id']}/").json()
    assert run["status"] == "failed"
    assert run["errors"] == [{"line": 2, "field": field, "message": run["errors"][0]["message"]}]
    assert message in run["errors"][0]["message"]
    assert not Item.objects.exists()


def test_options_are_passed_as_a_json_string(project, manager_client):
    options = '{"split": "regex", "split_pattern": "\\n"}'
    response = manager_client.post(
        "/api/v1/projects/p1/imports/",
        {"file": _upload(GOOD), "format": "native", "dataset": "d1", "options": options},
        format="multipart",
    )
    assert response.status_code == 201
    assert ImportRun.objects.get(id=response.json()["id"]).options == {
        "split": "regex",
        "split_pattern": "\n",
    }


@pytest.mark.parametrize(
    ("fmt", "options", "field", "message"),
    [
        ("native", {"x": 1}, "options.x", "not an option of the native format"),
        ("native", {"split": "words"}, "options.split", "must be one of none, lines"),
        (
            "native",
            {"split": "regex", "split_pattern": "(a"},
            "options.split_pattern",
            "not a valid",
        ),
        (
            "native",
            {"split": "regex", "split_pattern": "a" * 201},
            "options.split_pattern",
            "limit",
        ),
        ("native", {"split": "regex"}, "options.split_pattern", "is required"),
        ("processbench", {"answers": "/etc/passwd"}, "options.answers", "command line"),
        ("processbench", {"split": "lines"}, "options.split", "takes no split"),
    ],
)
def test_bad_format_options_are_400_naming_the_option(
    project, manager_client, fmt, options, field, message
):
    response = manager_client.post(
        "/api/v1/projects/p1/imports/",
        {"file": _upload(GOOD), "format": fmt, "dataset": "d1", "options": json.dumps(options)},
        format="multipart",
    )
    assert response.status_code == 400
    body = response.json()
    assert list(body) == [field]
    assert message in body[field][0]
    assert not ImportRun.objects.exists()


@pytest.mark.parametrize(
    "data", [b"", b"\n\n  \n", b"\xef\xbb\xbf\r\n"], ids=["empty", "blank", "bom"]
)
def test_empty_or_blank_file_is_400_as_on_the_cli(project, manager_client, data):
    response = manager_client.post(
        "/api/v1/projects/p1/imports/",
        {"file": _upload(data), "format": "native", "dataset": "d1"},
        format="multipart",
    )
    assert response.status_code == 400
    assert response.json() == {"file": ["the file is empty: it holds no records"]}
    assert not ImportRun.objects.exists()


@pytest.mark.parametrize("options", ["not json", "[1, 2]"])
def test_bad_options_are_400(project, manager_client, options):
    response = manager_client.post(
        "/api/v1/projects/p1/imports/",
        {"file": _upload(GOOD), "format": "native", "dataset": "d1", "options": options},
        format="multipart",
    )
    assert response.status_code == 400
    assert "options" in response.json()


def test_unknown_format_is_400_naming_format(project, manager_client):
    response = manager_client.post(
        "/api/v1/projects/p1/imports/",
        {"file": _upload(GOOD), "format": "xml", "dataset": "d1"},
        format="multipart",
    )
    assert response.status_code == 400
    assert list(response.json()) == ["format"]
    assert not ImportRun.objects.exists()


def test_missing_file_and_dataset_are_400(project, manager_client):
    response = manager_client.post(
        "/api/v1/projects/p1/imports/", {"format": "native"}, format="multipart"
    )
    assert response.status_code == 400
    assert set(response.json()) == {"file", "dataset"}


def test_list_runs_newest_first_for_researcher(project, member, api_client):
    for name in ("first", "second"):
        ImportRun.objects.create(project=project, dataset_name=name, format="native")
    api_client.force_authenticate(member(project, Role.RESEARCHER))
    response = api_client.get("/api/v1/projects/p1/imports/")
    assert response.status_code == 200
    assert [r["dataset_name"] for r in response.json()["results"]] == ["second", "first"]


def test_missing_run_is_404(manager_client):
    assert manager_client.get("/api/v1/projects/p1/imports/999999/").status_code == 404


def test_file_over_the_size_limit_is_400(project, manager_client, settings):
    settings.STEPWISE_IMPORT_MAX_FILE_BYTES = 10
    response = manager_client.post(
        "/api/v1/projects/p1/imports/",
        {"file": _upload(GOOD), "format": "native", "dataset": "d1"},
        format="multipart",
    )
    assert response.status_code == 400
    assert "larger than the limit" in response.json()["file"][0]
    assert not ImportRun.objects.exists()
