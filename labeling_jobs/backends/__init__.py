"""Model backends behind one small interface (`base.ModelBackend`)."""

from __future__ import annotations

from typing import Any

from labeling_jobs.backends.base import (
    BackendError,
    BackendUnavailable,
    Completion,
    ModelBackend,
    SamplingParams,
)

__all__ = [
    "BackendError",
    "BackendUnavailable",
    "Completion",
    "ModelBackend",
    "SamplingParams",
    "backend_get",
]


def backend_get(name: str, model_name: str, **options: Any) -> ModelBackend:
    """A backend instance; the transformers model behind it is loaded once per process."""
    if name == "transformers":
        from labeling_jobs.backends.transformers_backend import TransformersBackend

        return TransformersBackend(model_name, **options)
    if name == "openai":
        from labeling_jobs.backends.openai_backend import OpenAIBackend

        return OpenAIBackend(model_name, **options)
    raise BackendError(f"unknown backend {name!r}")
