"""REST API and managers' pages of labeling jobs: roles, start, watch, cancel, retry."""

import pytest

from annotation.models import Role
from labeling_jobs.models import JobStatus, LabelingJob
from labeling_jobs.services import labeling_job_create

pytestmark = [pytest.mark.django_db]


@pytest.fixture
def setup(step_project, member, make_user, monkeypatch):
    monkeypatch.setattr("labeling_jobs.tasks.labeling_job_chunk_run_task.delay", lambda cid: None)
    project = step_project(n=3)
    manager = member(project, Role.MANAGER)
    return (
        project,
        manager,
        member(project, Role.ANNOTATOR),
        member(project, Role.RESEARCHER),
        make_user(),
    )


def api(slug, rest=""):
    return f"/api/v1/projects/{slug}/jobs/{rest}"


def test_api_roles(setup, api_client):
    project, manager, annotator, researcher, outsider = setup
    body = {"kind": "mc_estimate", "params": {"n_rollouts": 2}, "limit": 2}
    api_client.force_authenticate(outsider)
    assert api_client.get(api(project.slug)).status_code == 404
    assert api_client.post(api(project.slug), body, format="json").status_code == 404
    api_client.force_authenticate(annotator)
    assert api_client.post(api(project.slug), body, format="json").status_code == 403
    api_client.force_authenticate(researcher)
    assert api_client.get(api(project.slug)).status_code == 200
    assert api_client.post(api(project.slug), body, format="json").status_code == 403
    api_client.force_authenticate(None)
    assert api_client.get(api(project.slug)).status_code in (401, 403)


def test_api_start_watch_cancel_retry(setup, api_client, django_capture_on_commit_callbacks):
    project, manager, *_ = setup
    api_client.force_authenticate(manager)
    with django_capture_on_commit_callbacks(execute=True):
        resp = api_client.post(
            api(project.slug),
            {"kind": "mc_estimate", "params": {"n_rollouts": 2}, "limit": 2},
            format="json",
        )
    assert resp.status_code == 201, resp.json()
    job = resp.json()
    assert job["status"] == "queued"
    assert job["progress_total"] == 2
    assert job["created_by"] == manager.username
    assert job["params"]["n_rollouts"] == 2
    assert job["model_name"]
    detail = api_client.get(api(project.slug, f"{job['id']}/")).json()
    assert detail["id"] == job["id"]
    assert detail["percent"] == 0
    assert [j["id"] for j in api_client.get(api(project.slug)).json()] == [job["id"]]
    assert api_client.post(api(project.slug, f"{job['id']}/retry/")).status_code == 409
    cancelled = api_client.post(api(project.slug, f"{job['id']}/cancel/"))
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert api_client.post(api(project.slug, f"{job['id']}/cancel/")).status_code == 409
    retried = api_client.post(api(project.slug, f"{job['id']}/retry/"))
    assert retried.status_code == 200
    assert retried.json()["status"] == "queued"
    assert api_client.get(api(project.slug, "999999/")).status_code == 404


def test_api_validation_errors_name_the_field(setup, api_client):
    project, manager, *_ = setup
    api_client.force_authenticate(manager)
    resp = api_client.post(api(project.slug), {"kind": "pair_judge"}, format="json")
    assert resp.status_code == 400
    assert "kind" in resp.json()
    resp = api_client.post(
        api(project.slug),
        {"kind": "mc_estimate", "params": {"unfinished_policy": "x"}},
        format="json",
    )
    assert resp.status_code == 400
    assert "params.unfinished_policy" in resp.json()


def test_pages_for_managers_only(setup, client):
    project, manager, annotator, researcher, outsider = setup
    url = f"/projects/{project.slug}/jobs/"
    client.force_login(outsider)
    assert client.get(url).status_code == 404
    client.force_login(annotator)
    assert client.get(url).status_code == 403
    client.force_login(manager)
    page = client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert "Start a job" in html
    assert 'value="mc_estimate"' in html
    assert 'value="pair_judge"' not in html


def test_start_from_the_page_then_watch_with_htmx_polling(setup, client):
    project, manager, *_ = setup
    client.force_login(manager)
    resp = client.post(f"/projects/{project.slug}/jobs/", {"kind": "step_judge", "backend": "transformers",
                                                          "judge_mode": "verify", "limit": 2})  # fmt: skip
    job = LabelingJob.objects.get(project=project)
    assert resp.status_code == 302
    assert resp["Location"] == f"/projects/{project.slug}/jobs/{job.id}/"
    assert job.params["mode"] == "verify"
    assert job.progress_total == 2
    page = client.get(resp["Location"]).content.decode()
    assert 'hx-trigger="every 1s"' in page
    assert f"/jobs/{job.id}/progress/" in page
    frag = client.get(f"/projects/{project.slug}/jobs/{job.id}/progress/", HTTP_HX_REQUEST="true")
    assert frag.status_code == 200
    assert 'role="progressbar"' in frag.content.decode()
    cancel = client.post(f"/projects/{project.slug}/jobs/{job.id}/cancel/", HTTP_HX_REQUEST="true")
    body = cancel.content.decode()
    assert "Cancelled" in body
    assert 'hx-trigger="every 1s"' not in body
    assert "Retry" in body
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    client.post(f"/projects/{project.slug}/jobs/{job.id}/retry/")
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED


def test_page_shows_form_errors(setup, client):
    project, manager, *_ = setup
    client.force_login(manager)
    resp = client.post(
        f"/projects/{project.slug}/jobs/", {"kind": "consensus", "backend": "transformers"}
    )
    assert resp.status_code == 200
    assert "run a step_judge job to completion first" in resp.content.decode()


def test_jobs_page_shows_consensus_and_evaluation(setup, client, tiny_model_dir):
    from annotation.models import Annotation
    from annotation.services.users import user_imported_get_or_create
    from labeling_jobs.services import labeling_job_run_inline

    project, manager, *_ = setup
    experts = user_imported_get_or_create(username="processbench-experts")
    for item in project.items.all():
        Annotation.objects.create(
            item=item, annotator=experts, source="imported", first_error_index=-1
        )
    for kind, params in (
        ("step_judge", {"mode": "verify"}),
        ("mc_estimate", {"n_rollouts": 2, "max_new_tokens": 4}),
    ):
        labeling_job_run_inline(job=labeling_job_create(project=project, kind=kind, model_name=tiny_model_dir,
                                                        params=params, enqueue=False))  # fmt: skip
    labeling_job_run_inline(
        job=labeling_job_create(project=project, kind="consensus", enqueue=False)
    )
    client.force_login(manager)
    html = client.get(f"/projects/{project.slug}/jobs/").content.decode()
    assert "Auto-labeled" in html
    assert "Routed to humans" in html
    assert "Evaluation against processbench-experts" in html
    assert "verify" in html
    assert "consensus" in html
