"""A researcher exports from the browser: picks a format and options on the Exports page,
watches the run finish without reloading, reads what was left out and the dataset card,
and downloads the data file."""

from __future__ import annotations

import json

import pytest

from annotation.models import Project, User
from annotation.services.annotations import annotation_submit
from annotation.services.assignments import assignment_claim_next
from tests.browser.run_worker import run_worker  # noqa: F401 - fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _label_two_traces(project: Project) -> None:
    annotator = User.objects.get(username="annotator1")
    for _ in range(2):
        assignment = assignment_claim_next(project=project, annotator=annotator)
        n = assignment.item.steps.count()
        steps = [{"index": i, "rating": 1 if i < n - 1 else -1} for i in range(n)]
        annotation_submit(
            assignment=assignment, labels={"steps": steps, "finish_reason": "found_error"}
        )


def test_researcher_starts_an_export_sees_it_finish_and_downloads(
    page,
    live_server,
    demo,
    login,
    shot,
    run_worker,  # noqa: F811
) -> None:
    project = Project.objects.get(slug="demo-math-steps")
    _label_two_traces(project)
    login(page, "researcher")
    page.goto(f"{live_server.url}/projects/{project.slug}/")
    page.get_by_role("link", name="Exports", exact=True).click()
    page.wait_for_url(f"{live_server.url}/projects/{project.slug}/exports/")
    form = page.locator("#export-form")
    # Another format: the form comes back with that format's options.
    form.get_by_label("Format", exact=True).select_option("processbench")
    page.wait_for_function("() => !document.querySelector('#export-form input[name=balance]')")
    form.get_by_label("Format", exact=True).select_option("trl_stepwise")
    form.locator("input[name=balance]").wait_for()
    assert "Share of groups (a problem, a question)" in form.inner_text()
    form.get_by_label("Per annotator (one row per annotator)").check()
    shot(page, "exports-form")
    form.get_by_role("button", name="Start export").click()
    run = page.locator("#export-runs .export-run").first
    run.locator(".badge-succeeded").wait_for(timeout=30_000)
    text = run.inner_text()
    assert "Labels: Per annotator" in text
    assert "Records" in text
    assert run.locator(".export-counts dd").first.inner_text() == "2"  # two labeled traces
    assert "Nothing was left out." in text
    run.get_by_text("Dataset card").click()
    card = run.locator(".dataset-card")
    card.locator("table").first.wait_for()
    assert "Who labeled it" in card.inner_text()
    run.scroll_into_view_if_needed()
    shot(page, "exports-finished", full_page=True)
    link = run.locator(".file-links a", has_text=".jsonl").first
    with page.expect_download() as info:
        link.click()
    path = info.value.path()
    lines = path.read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines if line.strip()]
    assert len(rows) == 2
    assert {"prompt", "completions", "labels"} <= set(rows[0])
    assert run_worker  # the stand-in worker ran the export
