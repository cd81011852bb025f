"""Choices made when a job is created that depend on the model's declared settings: the step
judge's default mode, which models a PRM job may use, and the backend each kind needs."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from annotation.errors import ApplicationError
from annotation.models import Project
from labeling_jobs.model_settings import ModelFormat, model_settings_get, prm_latest
from labeling_jobs.models import Backend, JobKind

OPENAI_NO_PRM = (
    "an OpenAI-compatible server cannot serve a PRM (it returns text and token "
    "log-probabilities, not a reward head's scores at each step); use the transformers backend"
)


def job_model_prepare(
    *, project: Project, kind: str, backend: str | None, model_name: str | None,
    params: dict[str, Any] | None,
) -> tuple[str | None, str | None, dict[str, Any]]:  # fmt: skip
    """(backend, model name, params) with model-dependent defaults filled in. Raises
    ApplicationError naming the field for a model that cannot do the job."""
    params = dict(params or {})
    if kind == JobKind.STEP_JUDGE and "mode" not in params:
        model = model_settings_get(model_name or settings.STEPWISE_DEMO_MODEL)
        params["mode"] = "critique" if model.can_critique else "verify"
    if kind in (JobKind.PRM_SCORE, JobKind.PRM_TRAIN):
        if backend == Backend.OPENAI:
            raise ApplicationError(OPENAI_NO_PRM, field="backend")
        backend = Backend.TRANSFORMERS
    if kind == JobKind.PRM_SCORE:
        if not model_name:
            latest = prm_latest(project_slug=project.slug)
            if latest is None:
                raise ApplicationError(
                    "no PRM in the model list yet; train one with a prm_train job or "
                    "name a PRM whose settings declare its format",
                    code="prerequisite",
                    field="model",
                )
            model_name = latest.name
        model = model_settings_get(model_name)
        params.setdefault("threshold", model.threshold)
        if not model.is_prm:
            raise ApplicationError(
                f"{model_name} is not a PRM (its settings declare format {model.format}; "
                f"a PRM declares {' or '.join(sorted(f.value for f in _prm_formats()))})",
                field="model",
            )
        _threshold(params)
    if kind == JobKind.PRM_TRAIN:
        from labeling_jobs.training import train_params_check

        model_name = model_name or settings.STEPWISE_DEMO_MODEL
        if model_settings_get(model_name).format != ModelFormat.CAUSAL_LM:
            raise ApplicationError(
                f"{model_name} is not a causal LM to train a PRM from", field="model"
            )
        train_params_check(params)
    if kind == JobKind.STEP_JUDGE:
        _threshold(params)
    return backend, model_name, params


def _prm_formats() -> tuple[ModelFormat, ...]:
    return (ModelFormat.PRM_TOKEN_CLASSIFICATION, ModelFormat.PRM_STEP_TAG)


def _threshold(params: dict[str, Any]) -> None:
    t = params.get("threshold")
    if t is not None and (isinstance(t, bool) or not isinstance(t, int | float) or not 0 <= t <= 1):
        raise ApplicationError("must be a number from 0 to 1", field="params.threshold")
