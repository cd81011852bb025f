"""run_labeling_job and evaluate_prelabels from a shell."""

import json

import pytest
from django.core.management import CommandError, call_command

from annotation.models import Annotation, Item, Suggestion
from annotation.services.users import user_imported_get_or_create
from labeling_jobs.models import JobStatus, LabelingJob

pytestmark = pytest.mark.django_db


def test_run_labeling_job_inline_with_progress(step_project, tiny_model_dir, capsys):
    project = step_project(n=3)
    call_command("run_labeling_job", project=project.slug, kind="mc_estimate", model=tiny_model_dir,
                 limit=2, inline=True, param=[("n_rollouts", 2), ("max_new_tokens", 4)])  # fmt: skip
    job = LabelingJob.objects.get(project=project)
    assert job.status == JobStatus.SUCCEEDED
    assert job.progress_done == 2
    assert job.params["n_rollouts"] == 2
    out = capsys.readouterr()
    assert f"job {job.id} succeeded: 2/2 items" in out.out


def test_run_labeling_job_queues_without_wait(
    step_project, monkeypatch, django_capture_on_commit_callbacks
):
    sent = []
    monkeypatch.setattr("labeling_jobs.tasks.labeling_job_chunk_run_task.delay", sent.append)
    project = step_project(n=2)
    with django_capture_on_commit_callbacks(execute=True):
        call_command(
            "run_labeling_job",
            "--project",
            project.slug,
            "--kind",
            "step_judge",
            "--param",
            "mode=verify",
        )
    job = LabelingJob.objects.get(project=project)
    assert sent == list(job.chunks.values_list("id", flat=True))
    assert job.status == JobStatus.QUEUED
    with pytest.raises(CommandError, match="no project"):
        call_command("run_labeling_job", "--project", "nope", "--kind", "step_judge")
    with pytest.raises(CommandError, match="need a preference project"):
        call_command("run_labeling_job", "--project", project.slug, "--kind", "pair_judge")


def test_evaluate_prelabels_reproduces_processbench(step_project, capsys):
    project = step_project(n=4)
    items = list(Item.objects.filter(project=project).order_by("id"))
    experts = user_imported_get_or_create(username="processbench-experts")
    labels = [-1, 1, -1, 0]
    for item, lab in zip(items, labels, strict=True):
        Annotation.objects.create(
            item=item, annotator=experts, source="imported", first_error_index=lab
        )
    judge = LabelingJob.objects.create(project=project, kind="step_judge", backend="transformers",
                                       model_name="m", params={"mode": "critique"}, status="succeeded",
                                       progress_done=4, progress_total=4)  # fmt: skip
    preds = ["-1", "1", "0", ""]  # correct, exact, wrong on a correct item, no verdict
    for item, p in zip(items, preds, strict=True):
        Suggestion.objects.create(
            item=item, job_id=judge.id, method="judge", target="item", model_name="m", label=p
        )
    call_command(
        "evaluate_prelabels", project=project.slug, against="processbench-experts", json=True
    )
    report = json.loads(capsys.readouterr().out)
    m = report["methods"]["judge"]
    assert report["n_reference_items"] == 4
    assert (m["n_error"], m["n_correct"]) == (2, 2)
    assert m["acc_error"] == 50.0
    assert m["acc_correct"] == 50.0
    assert m["f1"] == 50.0
    assert m["coverage"] == 0.75
    assert m["f1_covered"] == pytest.approx(2 * 100 * 50 / 150)
    call_command("evaluate_prelabels", project=project.slug, against="processbench-experts")
    text = capsys.readouterr().out
    assert "judge" in text
    assert "50.0" in text
    with pytest.raises(CommandError, match="has no first-error labels"):
        call_command("evaluate_prelabels", project=project.slug, against="nobody")
