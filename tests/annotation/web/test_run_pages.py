"""Failed runs on the web pages: the project page shows a failed import's message with a Retry
button (managers) and the project's exports with theirs (managers and researchers); Retry
queues the run again and answers the row for htmx. Non-members get 404, other roles 403."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from annotation.models import ExportRun, ImportRun, Role, StatsRefresh
from annotation.services.import_runs import import_run_create
from annotation.services.runs import run_claim, run_fail

DATA = b'{"external_id": "a", "steps": ["x"]}\n'


def _failed_import(project) -> ImportRun:
    run = import_run_create(
        project=project, user=project.created_by, upload=SimpleUploadedFile("a.jsonl", DATA),
        fmt="native", dataset_name="d",
    )  # fmt: skip
    run_fail(run=run_claim(model=ImportRun, run_id=run.id), error="MemoryError: out of memory")
    return run


def _failed_export(project) -> ExportRun:
    return ExportRun.objects.create(
        project=project, format="trl_stepwise", status="failed", attempts=3,
        error="No sign of life from its worker for 200 s, after 3 attempt(s)",
    )  # fmt: skip


def test_manager_sees_failed_runs_with_retry_buttons(client, make_project):
    project = make_project(slug="wr")
    imp, exp = _failed_import(project), _failed_export(project)
    client.force_login(project.created_by)
    html = client.get(reverse("project_detail", args=["wr"])).content.decode()
    assert "MemoryError: out of memory" in html
    assert reverse("import_retry", args=["wr", imp.id]) in html
    assert "No sign of life from its worker for 200 s" in html
    assert reverse("export_retry", args=["wr", exp.id]) in html
    assert html.count(">Retry</button>") == 2


def test_import_retry_with_htmx_answers_the_queued_row(
    client, make_project, django_capture_on_commit_callbacks
):
    project = make_project(slug="wr")
    run = _failed_import(project)
    client.force_login(project.created_by)
    url = reverse("import_retry", args=["wr", run.id])
    with django_capture_on_commit_callbacks() as callbacks:
        resp = client.post(url, HTTP_HX_REQUEST="true")
    assert resp.status_code == 200
    assert len(callbacks) == 1
    html = resp.content.decode()
    assert html.lstrip().startswith(f'<tr id="import-{run.id}"')
    assert "Queued" in html
    assert 'hx-trigger="every 1s"' in html  # polls until the worker is done
    assert ">Retry</button>" not in html
    run.refresh_from_db()
    assert (run.status, run.error, run.attempts) == ("queued", "", 0)
    # Retrying a run that is not failed changes nothing and says why.
    again = client.post(url, HTTP_HX_REQUEST="true").content.decode()
    assert "Only failed or cancelled runs can be retried" in again
    run.refresh_from_db()
    assert run.status == "queued"


def test_import_retry_roles(client, make_project, member, make_user):
    project = make_project(slug="wr")
    run = _failed_import(project)
    url = reverse("import_retry", args=["wr", run.id])
    client.force_login(member(project, Role.RESEARCHER))
    assert client.post(url).status_code == 403
    html = client.get(reverse("project_detail", args=["wr"])).content.decode()
    assert "MemoryError: out of memory" in html  # researchers see imports
    assert url not in html  # but cannot retry them
    client.force_login(make_user())
    assert client.post(url).status_code == 404
    client.force_login(project.created_by)
    assert client.post(reverse("import_retry", args=["wr", 999999])).status_code == 404
    assert client.get(url).status_code == 405
    run.refresh_from_db()
    assert run.status == "failed"


def test_researcher_retries_an_export_and_annotators_do_not_see_exports(
    client, make_project, member, make_user, django_capture_on_commit_callbacks
):
    project = make_project(slug="wr")
    run = _failed_export(project)
    url = reverse("export_retry", args=["wr", run.id])
    annotator = member(project, Role.ANNOTATOR)
    client.force_login(annotator)
    assert "Exports" not in client.get(reverse("project_detail", args=["wr"])).content.decode()
    assert client.post(url).status_code == 403
    client.force_login(make_user())
    assert client.post(url).status_code == 404
    client.force_login(member(project, Role.RESEARCHER))
    with django_capture_on_commit_callbacks() as callbacks:
        resp = client.post(url)
    assert resp.status_code == 302
    assert resp["Location"].endswith(f"#export-{run.id}")
    assert len(callbacks) == 1
    run.refresh_from_db()
    assert (run.status, run.attempts, run.error) == ("queued", 0, "")
    row = client.get(reverse("export_row", args=["wr", run.id]), HTTP_HX_REQUEST="true")
    assert 'hx-trigger="every 1s"' in row.content.decode()


def test_dashboard_shows_a_failed_refresh(client, make_project, member):
    project = make_project(slug="wr")
    StatsRefresh.objects.create(project=project, status="failed", error="MemoryError: too big")
    client.force_login(member(project, Role.REVIEWER))
    html = client.get(reverse("dashboard", args=["wr"])).content.decode()
    assert "The last refresh failed: MemoryError: too big" in html
    assert 'hx-trigger="every 2s"' not in html  # not polling a refresh that ended
