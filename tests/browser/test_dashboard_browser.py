"""The dashboard is never stale: it computes its figures on the first visit and shows new
ones after a submit, without anyone pressing Refresh — reviewers included."""

from __future__ import annotations

import pytest

from annotation.models import Project, User
from annotation.services.annotations import annotation_submit
from annotation.services.assignments import assignment_claim_next
from tests.browser.run_worker import run_worker  # noqa: F401 - fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_dashboard_updates_after_a_submit_without_refresh(
    page,
    live_server,
    demo,
    login,
    shot,
    run_worker,  # noqa: F811
) -> None:
    project = Project.objects.get(slug="demo-math-steps")
    login(page, "reviewer")
    page.goto(f"{live_server.url}/projects/{project.slug}/dashboard/")
    body = page.locator("#dashboard-body")
    body.locator("#annotators-title").wait_for(timeout=30_000)
    assert "Nobody has labeled yet" in body.inner_text()
    assert page.get_by_role("button", name="Refresh now").count() == 0  # reviewers: no button
    status = page.locator("#dashboard-status")
    assert "Computed" in status.inner_text()
    # Column headers as written: α and κ, not A and K.
    header = body.locator("th", has_text="Fleiss").first
    assert header.inner_text() == "Fleiss κ"
    shot(page, "dashboard-before", full_page=True)

    annotator = User.objects.get(username="annotator1")
    assignment = assignment_claim_next(project=project, annotator=annotator)
    n = assignment.item.steps.count()
    annotation_submit(
        assignment=assignment,
        labels={
            "steps": [{"index": i, "rating": 1} for i in range(n)],
            "finish_reason": "solution",
        },
    )
    # The submit requested a refresh; the status poll sees newer figures and the body reloads.
    body.locator("td.cell-main", has_text="annotator1").wait_for(timeout=30_000)
    assert "Nobody has labeled yet" not in body.inner_text()
    assert "seconds ago" in status.inner_text() or "just now" in status.inner_text()
    shot(page, "dashboard-after", full_page=True)
