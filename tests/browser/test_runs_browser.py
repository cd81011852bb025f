"""A manager sees a failed import and a failed export with their messages on the project page
and retries the import in Chromium; the row turns back to queued in place (htmx)."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from annotation.models import ExportRun, ImportRun, Project
from annotation.services.import_runs import import_run_create
from annotation.services.runs import run_claim, run_fail

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_manager_retries_a_failed_import(page, live_server, demo, login, shot) -> None:
    project = Project.objects.get(slug="demo-math-steps")
    run = import_run_create(
        project=project, user=project.created_by, fmt="native", dataset_name="late",
        upload=SimpleUploadedFile("late.jsonl", b'{"external_id": "z", "steps": ["1+1=2"]}\n'),
    )  # fmt: skip
    claimed = run_claim(model=ImportRun, run_id=run.id)
    message = (
        "Started 3 times without finishing: the worker running it stopped each time "
        "(killed, out of memory or restarted). Giving up; Retry starts it again."
    )
    run_fail(run=claimed, error=message, attempt=claimed.attempts)
    ExportRun.objects.create(
        project=project, format="trl_stepwise", status="failed", attempts=1,
        error="OSError: [Errno 28] No space left on device",
    )  # fmt: skip

    login(page, "manager")
    page.goto(f"{live_server.url}/projects/demo-math-steps/")
    row = page.locator(f"#import-{run.id}")
    assert "Failed" in row.inner_text()
    assert "Started 3 times without finishing" in row.inner_text()
    exports = page.locator("section", has=page.locator("#exports-title"))
    assert "No space left on device" in exports.inner_text()
    assert exports.get_by_role("button", name="Retry").is_visible()
    row.scroll_into_view_if_needed()
    shot(page, "runs-failed", full_page=True)

    row.get_by_role("button", name="Retry").click()
    page.locator(f"#import-{run.id} .badge-queued").wait_for()
    assert row.get_by_role("button", name="Retry").count() == 0
    shot(page, "runs-retried", full_page=True)
    run.refresh_from_db()
    assert (run.status, run.attempts, run.error) == ("queued", 0, "")
