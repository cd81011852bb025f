"""The jobs page as a manager reads it: defaults per kind for this machine, a duration
estimate, readable scope and statistics, live start/finish, what the model answered per item;
the model list in REST; the embedded broker URL."""

from __future__ import annotations

import logging

import pytest
from django.utils import timezone

from annotation.models import Role
from labeling_jobs.models import JobStatus, LabelingJob
from labeling_jobs.selectors import job_eta
from labeling_jobs.services import labeling_job_create, labeling_job_run_inline

pytestmark = [pytest.mark.django_db]


@pytest.fixture
def setup(step_project, member, make_user, monkeypatch, settings):
    monkeypatch.setattr("labeling_jobs.tasks.labeling_job_chunk_run_task.delay", lambda cid: None)
    settings.STEPWISE_JOB_DEVICE = "cpu"
    project = step_project(n=3)
    return project, member(project, Role.MANAGER), member(project, Role.ANNOTATOR), make_user()


def test_changing_the_kind_gives_its_defaults_and_an_estimate(setup, client):
    project, manager, *_ = setup
    client.force_login(manager)
    url = f"/projects/{project.slug}/jobs/form/"
    html = client.get(url, {"kind": "mc_estimate", "prev_kind": "step_judge"},
                      HTTP_HX_REQUEST="true").content.decode()  # fmt: skip
    assert 'name="n_rollouts" value="4"' in html  # the CPU default
    assert 'name="limit" value="5"' in html
    assert "for 3 items" in html  # limit 5 but the project has 3 items
    assert "nothing measured here yet" in html
    # same kind: what the manager typed stays
    html = client.get(url, {"kind": "mc_estimate", "prev_kind": "mc_estimate", "limit": "2",
                            "n_rollouts": "9"}).content.decode()  # fmt: skip
    assert 'name="n_rollouts" value="9"' in html
    assert "for 2 items" in html


def test_estimate_uses_the_pace_measured_here(setup, client):
    project, manager, *_ = setup
    LabelingJob.objects.create(
        project=project, kind="mc_estimate", backend="transformers", model_name="SmolLM2-135M-Instruct",
        status=JobStatus.SUCCEEDED, progress_done=4, progress_total=4, wall_seconds=100.0,
    )  # fmt: skip
    client.force_login(manager)
    html = client.get(f"/projects/{project.slug}/jobs/form/",
                      {"kind": "mc_estimate", "prev_kind": "x"}).content.decode()  # fmt: skip
    assert "25.00 s per item" in html
    assert "<strong>75 s</strong> for 3 items" in html


def test_running_job_eta_follows_its_own_pace(setup):
    project, *_ = setup
    job = labeling_job_create(project=project, kind="mc_estimate", enqueue=False)
    LabelingJob.objects.filter(id=job.id).update(
        status=JobStatus.RUNNING, progress_done=1,
        started_at=timezone.now() - timezone.timedelta(seconds=30),
    )  # fmt: skip
    job.refresh_from_db()
    eta = job_eta(job=job)
    assert eta["seconds"] == pytest.approx(60, abs=3)  # 2 items left at 30 s each
    assert "this job so far" in eta["basis"]


def test_detail_shows_readable_text_and_what_the_model_answered(setup, client, tiny_model_dir):
    project, manager, *_ = setup
    job = labeling_job_create(
        project=project, kind="step_judge", model_name=tiny_model_dir,
        params={"mode": "verify"}, limit=2, enqueue=False,
    )  # fmt: skip
    job = labeling_job_run_inline(job=job)
    LabelingJob.objects.filter(id=job.id).update(stats={"verdicts": 2, "no_verdict": 1})
    client.force_login(manager)
    html = client.get(f"/projects/{project.slug}/jobs/{job.id}/").content.decode()
    assert "Whole project, at most 2 items" in html
    assert "{&#x27;limit&#x27;" not in html
    assert "No verdict</dt>" in html
    assert "no_verdict" not in html
    assert html.count("P(Yes)") == sum(i.steps.count() for i in project.items.all()[:2])
    assert "First error at step" in html or "No error found" in html
    frag = client.get(f"/projects/{project.slug}/jobs/{job.id}/progress/").content.decode()
    assert "Started</dt><dd>" + timezone.localtime(job.started_at).strftime("%H:%M:%S") in frag
    assert "Finished</dt><dd>—" not in frag


def test_critique_text_is_shown_escaped(setup, client):
    from annotation.models import Suggestion

    project, manager, *_ = setup
    job = labeling_job_create(project=project, kind="step_judge", params={"mode": "critique"},
                              limit=1, enqueue=False)  # fmt: skip
    item = project.items.order_by("id").first()
    Suggestion.objects.create(
        item=item, job_id=job.id, method="judge", target="item", model_name="m", label="",
        raw={"outputs": ["<script>x</script> paragraph 1 is wrong"], "votes": {"none": 1},
             "finish_reasons": ["length"]},
    )  # fmt: skip
    client.force_login(manager)
    html = client.get(f"/projects/{project.slug}/jobs/{job.id}/").content.decode()
    assert "&lt;script&gt;x&lt;/script&gt; paragraph 1 is wrong" in html
    assert "cut at the token limit" in html
    assert "No verdict × 1" in html


def test_model_list_api(setup, api_client):
    project, manager, annotator, outsider = setup
    url = f"/api/v1/projects/{project.slug}/models/"
    api_client.force_authenticate(outsider)
    assert api_client.get(url).status_code == 404
    api_client.force_authenticate(annotator)
    assert api_client.get(url).status_code == 403
    api_client.force_authenticate(manager)
    models = api_client.get(url).json()
    assert models[0]["source"] == "built-in"
    assert models[0]["can_critique"] is False
    assert models[0]["is_prm"] is False


def test_embedded_broker_url_names_a_host(caplog):
    from kombu import Connection

    from config.settings import embedded

    with caplog.at_level(logging.WARNING, logger="kombu.connection"):
        Connection(embedded._broker_default)._info()
    assert "No hostname was supplied" not in caplog.text


def test_cpu_dtype_setting(settings, monkeypatch):
    from labeling_jobs import hardware

    settings.STEPWISE_CPU_DTYPE = "bfloat16"
    assert hardware.cpu_dtype_name() == "bfloat16"
    settings.STEPWISE_CPU_DTYPE = "auto"
    monkeypatch.setattr(hardware, "_cpu_has_amx_bf16", lambda: False)
    assert hardware.cpu_dtype_name() == "float32"
    monkeypatch.setattr(hardware, "_cpu_has_amx_bf16", lambda: True)
    assert hardware.cpu_dtype_name() == "bfloat16"
    settings.STEPWISE_CPU_DTYPE = "float64"
    assert hardware.cpu_dtype_name() == "float32"


def test_list_rows_and_answers_update_live_and_no_verdict_is_explained(setup, client):
    from annotation.models import Suggestion

    project, manager, annotator, _ = setup
    job = labeling_job_create(project=project, kind="step_judge", params={"mode": "critique"},
                              limit=2, enqueue=False)  # fmt: skip
    LabelingJob.objects.filter(id=job.id).update(status=JobStatus.RUNNING,
                                                 started_at=timezone.now())  # fmt: skip
    client.force_login(manager)
    page = client.get(f"/projects/{project.slug}/jobs/").content.decode()
    row_url = f"/projects/{project.slug}/jobs/{job.id}/row/"
    assert f'hx-get="{row_url}"' in page  # the running job's row polls
    assert "Critique mode (the model writes a critique" in page
    results_url = f"/projects/{project.slug}/jobs/{job.id}/results/"
    detail = client.get(f"/projects/{project.slug}/jobs/{job.id}/").content.decode()
    assert f'hx-get="{results_url}"' in detail
    assert "they appear here as chunks finish" in detail
    # A chunk finishes with no verdict: the answers section says why.
    item = project.items.order_by("id").first()
    Suggestion.objects.create(
        item=item, job_id=job.id, method="judge", target="item", model_name="m", label="",
        raw={"mode": "critique", "outputs": ["step 2 looks off", "hmm"], "votes": {"none": 2},
             "finish_reasons": ["length", "stop"]},
    )  # fmt: skip
    frag = client.get(results_url, HTTP_HX_REQUEST="true").content.decode()
    assert "None of the 2 critiques gave a verdict" in frag
    assert "1 was cut at the token limit" in frag
    assert "1 ended without a step number in \\boxed{}" in frag
    assert 'hx-trigger="every 3s"' in frag  # still running: keeps polling
    LabelingJob.objects.filter(id=job.id).update(status=JobStatus.SUCCEEDED,
                                                 finished_at=timezone.now())  # fmt: skip
    row = client.get(row_url, HTTP_HX_REQUEST="true").content.decode()
    assert "hx-get" not in row.split(">", 1)[0]  # ended: the row stops polling
    assert "finished " in row
    assert "hx-trigger" not in client.get(results_url).content.decode().split(">", 1)[0]
    client.force_login(annotator)
    assert client.get(row_url).status_code == 403
    assert client.get(results_url).status_code == 403
