"""prm_train with a tiny random model on real ProcessBench GSM8K expert labels: export,
train with TRL's PRMTrainer, held-out evaluation, the saved model, its card and settings,
then prm_score with it and the ProcessBench report."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command

from annotation.errors import ApplicationError
from annotation.models import Item, Suggestion
from annotation.services.imports import dataset_import
from labeling_jobs.model_settings import ModelFormat, model_list, model_settings_get
from labeling_jobs.services import labeling_job_create, labeling_job_run_inline
from labeling_jobs.training import train_params_check
from tests.conftest import shared_file

SMALL = {"max_traces": 12, "max_eval_traces": 8, "max_length": 1024, "batch_size": 4,
         "train_layers": 1, "test_size": 0.3, "learning_rate": 1e-3}  # fmt: skip


@pytest.fixture
def models_dir(settings, tmp_path):
    settings.STEPWISE_MODELS_DIR = str(tmp_path / "models")
    return tmp_path / "models"


def import_processbench(project, n: int) -> None:
    records = json.loads(shared_file("processbench_gsm8k.json").read_text())
    # both kinds of trace: wrong ones come first in the file, correct ones later
    picked = records[: n // 2] + [r for r in records if r["label"] == -1][: n - n // 2]
    result = dataset_import(
        project=project, dataset_name="pb", fmt="processbench",
        stream=io.BytesIO(json.dumps(picked).encode()), options={},
    )  # fmt: skip
    assert result.ok


def test_prm_train_then_prm_score_on_the_held_out_items(make_project, tiny_model_dir, models_dir):
    project = make_project("step_labels", slug="pb-train")
    import_processbench(project, 24)
    job = labeling_job_create(
        project=project, kind="prm_train", model_name=tiny_model_dir, params=SMALL,
        enqueue=False, chunk_size=5,
    )  # fmt: skip
    assert job.chunks.count() == 1  # training is one piece of work
    job = labeling_job_run_inline(job=job)
    assert job.status == "succeeded", job.error
    detail = job.detail
    assert detail["phase"] == "done"
    name = detail["model"]
    assert name == f"prm-pb-train-job{job.id}"
    counts = detail["counts"]
    assert 0 < counts["train_traces"] <= 12
    assert 0 < counts["heldout_traces"] <= 8
    assert counts["trainable_params"] < counts["total_params"]  # only the top layer + head
    assert detail["train_loss_first"] > 0
    assert detail["loss_history"]  # progress was reported while training
    m = detail["metrics"]
    assert m["traces"] == counts["heldout_traces"]
    assert 0 <= m["step_accuracy"] <= 1
    assert m["n_error"] + m["n_correct"] == m["traces"]

    folder = models_dir / name
    card = (folder / "README.md").read_text()
    assert "## Data snapshot" in card
    assert "## Labels used" in card
    assert f"{counts['train_traces']} training traces" in card
    heldout = json.loads((folder / "heldout.json").read_text())
    assert len(heldout) == counts["heldout_traces"]
    trained = model_settings_get(name)
    assert trained.format == ModelFormat.PRM_TOKEN_CLASSIFICATION
    assert trained.project == "pb-train"
    assert trained.metrics["traces"] == m["traces"]
    assert name in [x.name for x in model_list(project_slug="pb-train")]
    assert name not in [x.name for x in model_list(project_slug="someone-else")]

    # The held-out items were never trained on: score exactly those, at once.
    score = labeling_job_create(
        project=project, kind="prm_score", scope={"external_ids": heldout}, enqueue=False
    )
    assert score.model_name == name
    score = labeling_job_run_inline(job=score)
    assert score.status == "succeeded", score.error
    assert score.progress_done == len(heldout)
    out = io.StringIO()
    call_command(
        "evaluate_prelabels", project=project.slug, against="processbench-experts",
        json=True, stdout=out,
    )  # fmt: skip
    report = json.loads(out.getvalue())["methods"]["prm"]
    assert report["job_id"] == score.id
    # (a trace longer than the tiny model's max_length gets no verdict, so "at most")
    assert 0 < report["n_predicted"] <= len(heldout)
    assert report["coverage"] == pytest.approx(report["n_predicted"] / Item.objects.count())
    assert Suggestion.objects.filter(job_id=score.id, target="item").count() == len(heldout)


def test_prm_train_refuses_bad_parameters_and_too_few_labels(
    make_project, tiny_model_dir, models_dir
):
    with pytest.raises(ApplicationError, match="^params.epochs: must be an integer of at least 1"):
        train_params_check({"epochs": 0})
    with pytest.raises(
        ApplicationError, match="^params.test_size: must be a number from 0.0 to 0.9"
    ):
        train_params_check({"test_size": 2})
    project = make_project("step_labels")
    import_processbench(project, 2)
    (models_dir / "a-prm").mkdir(parents=True)
    (models_dir / "a-prm" / "stepwise_model.json").write_text('{"format": "prm_step_tag"}')
    with pytest.raises(ApplicationError, match="^model: a-prm is not a causal LM"):
        labeling_job_create(project=project, kind="prm_train", model_name="a-prm", enqueue=False)
    job = labeling_job_create(
        project=project, kind="prm_train", model_name=tiny_model_dir,
        params={**SMALL, "test_size": 0.9}, enqueue=False,
    )  # fmt: skip
    job = labeling_job_run_inline(job=job)
    assert job.status == "failed"
    assert "labelled trace(s) in the training split" in job.error
    assert not any(models_dir.glob("prm-*"))  # nothing half-written
