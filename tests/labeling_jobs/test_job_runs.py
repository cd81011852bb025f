"""Labeling jobs share the background-run base: the job is beaten while its chunks run, an
unexpected exception ends chunk and job `failed` with its message (never `running`), and the
sweep requeues a job whose worker stopped beating by queueing its open chunks again (the
chunks' attempt caps still decide when it fails)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from annotation.models import BackgroundRun, RunStatus
from annotation.services.runs import runs_sweep
from labeling_jobs.methods import RUNNERS
from labeling_jobs.models import JobChunk, JobStatus, LabelingJob
from labeling_jobs.services import labeling_job_chunk_run, labeling_job_create

pytestmark = pytest.mark.django_db


def _judge_job(project, model):
    return labeling_job_create(
        project=project, kind="step_judge", model_name=model, chunk_size=1,
        params={"max_new_tokens": 4}, enqueue=False,
    )  # fmt: skip


def test_job_status_is_the_shared_run_status():
    assert JobStatus is RunStatus
    assert issubclass(LabelingJob, BackgroundRun)


def test_chunk_claim_and_finish_beat_the_job(step_project, tiny_model_dir):
    job = _judge_job(step_project(n=2), tiny_model_dir)
    assert job.heartbeat_at is None
    first = job.chunks.order_by("index").first()
    assert labeling_job_chunk_run(chunk_id=first.id, worker="w1") == "done"
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING
    assert job.heartbeat_at is not None
    started, beat = job.started_at, job.heartbeat_at
    second = job.chunks.order_by("index").last()
    assert labeling_job_chunk_run(chunk_id=second.id, worker="w1") == "done"
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED
    assert job.started_at == started  # a later chunk does not restart the clock
    assert job.heartbeat_at >= beat
    assert job.attempts == 2


def test_an_unexpected_exception_fails_chunk_and_job(step_project, tiny_model_dir, monkeypatch):
    job = _judge_job(step_project(n=2), tiny_model_dir)

    def broken(ctx):
        raise ZeroDivisionError("division by zero in the scorer")

    monkeypatch.setitem(RUNNERS, "step_judge", broken)
    chunk = job.chunks.order_by("index").first()
    assert labeling_job_chunk_run(chunk_id=chunk.id) == "failed"
    job.refresh_from_db()
    chunk.refresh_from_db()
    assert chunk.status == JobChunk.Status.FAILED
    assert job.status == JobStatus.FAILED
    assert job.error == "chunk 0: ZeroDivisionError: division by zero in the scorer"
    assert job.finished_at is not None


def test_sweep_requeues_a_stale_job_and_its_open_chunks(
    step_project, tiny_model_dir, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.STEPWISE_RUN_STALE_SECONDS = 60
    sent = []
    monkeypatch.setattr("labeling_jobs.tasks.labeling_job_chunk_run_task.delay", sent.append)
    job = _judge_job(step_project(n=3), tiny_model_dir)
    chunks = list(job.chunks.order_by("index"))
    assert labeling_job_chunk_run(chunk_id=chunks[0].id) == "done"
    # The worker claimed chunk 1 and died: the job's heartbeat goes stale.
    JobChunk.objects.filter(id=chunks[1].id).update(status="running", attempts=1)
    old = timezone.now() - timedelta(seconds=120)
    LabelingJob.objects.filter(id=job.id).update(heartbeat_at=old)
    with django_capture_on_commit_callbacks(execute=True):
        counts = runs_sweep()
    assert counts["labeling_jobs.LabelingJob"] == {"failed": 0, "requeued": 1}
    assert sent == [chunks[1].id, chunks[2].id]  # the open chunks, not the finished one
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED
    for chunk_id in sent:
        assert labeling_job_chunk_run(chunk_id=chunk_id) == "done"
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED
    assert job.progress_done == job.progress_total == 3
    assert JobChunk.objects.get(id=chunks[1].id).attempts == 2


def test_sweep_leaves_a_beating_job_alone(step_project, tiny_model_dir, settings):
    settings.STEPWISE_RUN_STALE_SECONDS = 60
    job = _judge_job(step_project(n=2), tiny_model_dir)
    LabelingJob.objects.filter(id=job.id).update(
        status="running", heartbeat_at=timezone.now() - timedelta(seconds=5)
    )
    assert runs_sweep()["labeling_jobs.LabelingJob"] == {"failed": 0, "requeued": 0}
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING


def test_jobs_page_shows_a_failed_job_with_its_message_and_retry(
    step_project, tiny_model_dir, member, client, monkeypatch, django_capture_on_commit_callbacks
):
    sent = []
    monkeypatch.setattr("labeling_jobs.tasks.labeling_job_chunk_run_task.delay", sent.append)
    project = step_project(n=2)
    job = _judge_job(project, tiny_model_dir)
    LabelingJob.objects.filter(id=job.id).update(
        status="failed", error="chunk 1: OutOfMemoryError: CUDA out of memory"
    )
    manager = member(project, "manager")
    client.force_login(manager)
    html = client.get(f"/projects/{project.slug}/jobs/").content.decode()
    assert "chunk 1: OutOfMemoryError: CUDA out of memory" in html
    retry = f"/projects/{project.slug}/jobs/{job.id}/retry/"
    assert f'action="{retry}"' in html
    with django_capture_on_commit_callbacks(execute=True):
        resp = client.post(retry)
    assert resp.status_code == 302
    job.refresh_from_db()
    assert (job.status, job.error) == ("queued", "")
    assert sorted(sent) == sorted(job.chunks.values_list("id", flat=True))
