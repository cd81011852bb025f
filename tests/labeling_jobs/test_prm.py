"""PRM scoring in both declared formats, the prm_score job, model settings and the model list,
with tiny randomly initialised models built here."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from annotation.errors import ApplicationError
from annotation.models import Suggestion
from labeling_jobs.model_settings import (
    SETTINGS_FILE,
    ModelFormat,
    ModelSettings,
    model_list,
    model_settings_get,
    settings_parse,
    settings_write,
)
from labeling_jobs.prm import (
    encode_step_tag,
    encode_token_classification,
    first_below,
    load_prm,
    prm_step_scores,
)
from labeling_jobs.services import labeling_job_create, labeling_job_run_inline

TRACES = [
    ("What is 4*3?", ["4*3 = 7.", "So we get 7.", "The answer is: 7"]),
    ("What is 2+3?", ["2+3 = 5.", "The answer is: 5"]),
]


def make_prm(src: str, dest: Path, fmt: str, **extra) -> Path:
    """A PRM directory from the tiny causal LM: a token-classification head (random) or the
    LM itself for the step-tag format, with its settings file."""
    from transformers import AutoModelForTokenClassification

    if fmt == ModelFormat.PRM_TOKEN_CLASSIFICATION:
        model = AutoModelForTokenClassification.from_pretrained(src, num_labels=2)
        model.save_pretrained(dest)
        for f in Path(src).iterdir():
            if f.is_file() and not (dest / f.name).exists():
                shutil.copy(f, dest / f.name)
    else:
        shutil.copytree(src, dest)
    settings_write(dest, ModelSettings(name=dest.name, format=fmt, **extra))
    return dest


@pytest.fixture
def models_dir(settings, tmp_path) -> Path:
    settings.STEPWISE_MODELS_DIR = str(tmp_path / "models")
    (tmp_path / "models").mkdir()
    return tmp_path / "models"


@pytest.fixture
def token_prm(models_dir, tiny_model_dir) -> ModelSettings:
    make_prm(tiny_model_dir, models_dir / "tiny-prm", ModelFormat.PRM_TOKEN_CLASSIFICATION)
    return model_settings_get("tiny-prm")


@pytest.fixture
def tag_prm(models_dir, tiny_model_dir) -> ModelSettings:
    make_prm(tiny_model_dir, models_dir / "tiny-tag", ModelFormat.PRM_STEP_TAG, step_tag="ки")
    return model_settings_get("tiny-tag")


def _direct(model: ModelSettings, problem: str, steps: list[str]) -> list[float]:
    """The same scores from an unpadded forward pass of one trace through the full model."""
    import torch

    loaded, tok = load_prm(model)
    if model.format == ModelFormat.PRM_STEP_TAG:
        ids, marks = encode_step_tag(tok, problem, steps, model.step_tag)
    else:
        ids, marks = encode_token_classification(tok, problem, steps, model.step_separator)
    with torch.inference_mode():
        logits = loaded(input_ids=torch.tensor([ids])).logits[0, marks].float()
    if model.format == ModelFormat.PRM_STEP_TAG:
        pair = [tok.encode(t, add_special_tokens=False)[0] for t in ("+", "-")]
        return torch.softmax(logits[:, pair], -1)[:, 0].tolist()
    return torch.softmax(logits, -1)[:, 1].tolist()


@pytest.mark.parametrize("fixture", ["token_prm", "tag_prm"])
def test_batched_scores_equal_one_trace_at_a_time(request, fixture):
    model = request.getfixturevalue(fixture)
    batched = prm_step_scores(model, TRACES, token_budget=4096)
    assert [len(s) for s in batched] == [3, 2]
    for (problem, steps), scores in zip(TRACES, batched, strict=True):
        assert scores == pytest.approx(_direct(model, problem, steps), abs=1e-5)
        assert all(0.0 < s < 1.0 for s in scores)


def test_token_classification_encoding_reads_the_separator_after_each_step(token_prm):
    _, tok = load_prm(token_prm)
    ids, marks = encode_token_classification(tok, "Q?", ["a b", "c"], "\n")
    sep = tok.encode("\n", add_special_tokens=False)
    assert len(marks) == 2
    assert ids[marks[0] - len(sep) + 1 : marks[0] + 1] == sep
    assert marks[1] == len(ids) - 1


def test_step_tag_encoding_marks_each_tag(tag_prm):
    _, tok = load_prm(tag_prm)
    ids, marks = encode_step_tag(tok, "Q?", ["first", "Step 2: second"], "ки")
    assert len(marks) == 2
    assert marks == sorted(marks)
    assert tok.decode(ids[: marks[0] + 1]).endswith("first ки")
    assert tok.decode(ids[: marks[1] + 1]).endswith("second ки")
    assert marks[1] == len(ids) - 1
    # "Step k:" is added only where the step does not start with it
    assert tok.decode(ids).count("Step 2:") == 1


def test_steps_past_max_length_get_no_score(models_dir, tiny_model_dir):
    make_prm(
        tiny_model_dir, models_dir / "short", ModelFormat.PRM_TOKEN_CLASSIFICATION, max_length=12
    )
    scores = prm_step_scores(model_settings_get("short"), TRACES[:1])[0]
    assert scores[-1] is None
    assert first_below([0.9, None], 0.5) is None
    assert first_below([0.9, 0.2, None], 0.5) == 1
    assert first_below([0.9, 0.8], 0.5) == -1


def test_prm_score_job_stores_step_scores_and_first_error_verdicts(step_project, token_prm):
    project = step_project(n=4)
    job = labeling_job_create(
        project=project, kind="prm_score", model_name="tiny-prm", params={"threshold": 0.5},
        chunk_size=3, enqueue=False,
    )  # fmt: skip
    job = labeling_job_run_inline(job=job)
    assert job.status == "succeeded", job.error
    assert job.backend == "transformers"
    rows = Suggestion.objects.filter(job_id=job.id, method="prm")
    items = rows.filter(target="item")
    assert items.count() == 4
    for verdict in items:
        scores = verdict.raw["scores"]
        assert verdict.raw["format"] == ModelFormat.PRM_TOKEN_CLASSIFICATION
        assert verdict.label == str(first_below(scores, 0.5))
        steps = rows.filter(item=verdict.item).exclude(target="item").order_by("step__index")
        assert [s.score for s in steps] == pytest.approx(scores)
        assert all(s.label == ("+" if s.score >= 0.5 else "-") for s in steps)
        assert steps.first().model_name == "tiny-prm"
    assert job.stats["verdicts"] == 4


def test_prm_score_defaults_to_the_newest_prm_and_refuses_others(
    step_project, token_prm, models_dir
):
    project = step_project(n=2)
    job = labeling_job_create(project=project, kind="prm_score", enqueue=False)
    assert job.model_name == "tiny-prm"
    with pytest.raises(
        ApplicationError, match="^backend: an OpenAI-compatible server cannot serve a PRM"
    ):
        labeling_job_create(project=project, kind="prm_score", backend="openai", enqueue=False)
    with pytest.raises(ApplicationError, match="^model: .* is not a PRM"):
        labeling_job_create(project=project, kind="prm_score", model_name="demo", enqueue=False)
    shutil.rmtree(models_dir / "tiny-prm")
    with pytest.raises(ApplicationError, match="^model: no PRM in the model list yet"):
        labeling_job_create(project=project, kind="prm_score", enqueue=False)


def test_openai_backend_says_it_cannot_score_a_prm():
    from labeling_jobs.backends.base import BackendError
    from labeling_jobs.backends.openai_backend import OpenAIBackend

    with pytest.raises(BackendError, match="cannot serve a PRM"):
        OpenAIBackend("any").prm_step_scores([("q", ["s"])])


def test_step_judge_mode_comes_from_the_model_settings(step_project, tiny_model_dir, tmp_path):
    project = step_project(n=1)
    demo = labeling_job_create(project=project, kind="step_judge", enqueue=False)
    assert demo.params["mode"] == "verify"  # the demo model declares it cannot critique
    plain = labeling_job_create(
        project=project, kind="step_judge", model_name=tiny_model_dir, enqueue=False
    )
    assert plain.params["mode"] == "critique"  # no settings file: a chat model
    declared = tmp_path / "declared"
    shutil.copytree(tiny_model_dir, declared)
    (declared / SETTINGS_FILE).write_text(json.dumps({"can_critique": False}))
    job = labeling_job_create(
        project=project, kind="step_judge", model_name=str(declared), enqueue=False
    )
    assert job.params["mode"] == "verify"
    explicit = labeling_job_create(
        project=project, kind="step_judge", model_name=str(declared),
        params={"mode": "critique"}, enqueue=False,
    )  # fmt: skip
    assert explicit.params["mode"] == "critique"


def test_settings_file_errors_name_the_field():
    with pytest.raises(ApplicationError, match="^f.json: format: one of causal_lm"):
        settings_parse({"format": "reward"}, name="m", path="p", where="f.json")
    with pytest.raises(ApplicationError, match="^f.json: colour: unknown setting"):
        settings_parse({"colour": 1}, name="m", path="p", where="f.json")
    with pytest.raises(ApplicationError, match="^f.json: step_tag: must be a non-empty string"):
        settings_parse({"step_tag": ""}, name="m", path="p", where="f.json")
    with pytest.raises(ApplicationError, match="^f.json: can_critique: must be true or false"):
        settings_parse({"can_critique": "no"}, name="m", path="p", where="f.json")


def test_model_list_hides_models_trained_on_other_projects(models_dir, tiny_model_dir):
    for name, owner in (("mine", "alpha"), ("theirs", "beta"), ("shared", "")):
        make_prm(tiny_model_dir, models_dir / name, ModelFormat.PRM_STEP_TAG, project=owner)
    (models_dir / "broken").mkdir()
    (models_dir / "broken" / SETTINGS_FILE).write_text("{not json")
    (models_dir / "no-settings").mkdir()
    names = [m.name for m in model_list(project_slug="alpha")]
    assert names[0] == model_list()[0].name  # the demo model comes first
    assert set(names[1:]) == {"mine", "shared"}


def test_a_model_name_the_os_refuses_is_taken_as_a_plain_name(settings, tmp_path) -> None:
    """Schemathesis found it: a 300-character model name made `Path.is_dir` raise
    ENAMETOOLONG (a 500 from POST /jobs/); the name is now just not a local directory."""
    settings.STEPWISE_MODELS_DIR = str(tmp_path)
    found = model_settings_get("0" * 300)
    assert found.name == "0" * 300
    assert found.path == "0" * 300
    assert not found.is_prm
