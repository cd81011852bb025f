"""A manager on the labeling-jobs page in Chromium: the kind's defaults and the duration
estimate follow the chosen kind (htmx), and a finished verify job shows what the model
answered per item in readable text."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from annotation.models import Project
from labeling_jobs.services import labeling_job_create, labeling_job_run_inline

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def tiny_model_dir(tmp_path) -> str:
    from tests.labeling_jobs.conftest import build_tiny_model

    return str(build_tiny_model(tmp_path / "tiny"))


def test_manager_reads_defaults_estimate_and_answers(
    page, live_server, demo, login, shot, tiny_model_dir, settings
) -> None:
    settings.STEPWISE_JOB_DEVICE = "cpu"
    project = Project.objects.get(slug="demo-math-steps")
    job = labeling_job_create(
        project=project, kind="step_judge", model_name=tiny_model_dir,
        params={"mode": "verify"}, limit=3, enqueue=False,
    )  # fmt: skip
    job = labeling_job_run_inline(job=job)
    assert job.status == "succeeded", job.error
    login(page, "manager")
    page.goto(f"{live_server.url}/projects/{project.slug}/jobs/")
    assert "Defaults fit this machine's CPU worker" in page.locator("#job-estimate").inner_text()
    page.select_option("select[name=kind]", "mc_estimate")
    expect(page.locator("input[name=n_rollouts]")).to_have_value("4")
    assert page.locator("input[name=limit]").input_value() == "5"
    estimate = page.locator("#job-estimate").inner_text()
    assert "for 5 items" in estimate
    shot(page, "jobs-start-form")
    page.goto(f"{live_server.url}/projects/{project.slug}/jobs/{job.id}/")
    results = page.locator(".job-results")
    assert "What the model answered" in results.inner_text()
    assert results.locator(".step-scores li").count() >= 3
    assert "P(Yes)" in results.inner_text()
    progress = page.locator(".job-progress").inner_text()
    assert "Started" in progress
    assert "Verdicts" in progress
    assert "Whole project, at most 3 items" in page.locator("aside").inner_text()
    shot(page, "job-detail-answers", full_page=True)
