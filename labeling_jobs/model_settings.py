"""Model settings and the model list.

What a model can do is declared, never guessed from its name: a local model directory holds
`stepwise_model.json` (written by `prm_train`, or by hand next to any model) with its format
and, for process reward models, how steps are marked:

- `causal_lm`: a chat model; `can_critique` says whether it writes a usable critique (else
  the step judge defaults to verify mode, P(Yes) per step).
- `prm_token_classification`: TRL's PRMTrainer layout: the steps follow the problem, each
  followed by `step_separator`; a two-class head is read at each separator's last token,
  class `positive_label` meaning "correct".
- `prm_step_tag`: the Math-Shepherd layout: `problem Step 1: ... <tag>\\nStep 2: ... <tag>`;
  a causal LM read at each tag, P(+) from the logits of `positive_token` / `negative_token`.

The demo model has built-in settings. `model_list` is what the jobs page and the REST API
offer; `model_settings_get` resolves what a job names.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import models

from annotation.errors import ApplicationError

SETTINGS_FILE = "stepwise_model.json"
DEMO_ALIASES = frozenset(
    {"", "demo", "SmolLM2-135M-Instruct", "HuggingFaceTB/SmolLM2-135M-Instruct"}
)


class ModelFormat(models.TextChoices):
    CAUSAL_LM = "causal_lm", "Chat / causal language model"
    PRM_TOKEN_CLASSIFICATION = "prm_token_classification", "PRM: token classification (TRL)"
    PRM_STEP_TAG = "prm_step_tag", "PRM: step tag (Math-Shepherd)"


PRM_FORMATS = frozenset({ModelFormat.PRM_TOKEN_CLASSIFICATION, ModelFormat.PRM_STEP_TAG})


@dataclass(frozen=True)
class ModelSettings:
    name: str
    format: str = ModelFormat.CAUSAL_LM
    # Directory or file the loader opens; "" for the demo model (resolved by the backend).
    path: str = ""
    can_critique: bool = True
    step_separator: str = "\n"
    step_tag: str = "ки"
    positive_token: str = "+"  # noqa: S105 - a vocabulary token
    negative_token: str = "-"  # noqa: S105
    positive_label: int = 1
    max_length: int = 2048
    # The score under which a step is the first error, when a job does not set one.
    threshold: float = 0.5
    description: str = ""
    source: str = "local"  # built-in | local | trained
    project: str = ""  # slug of the project whose labels trained it
    base_model: str = ""
    created_at: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def is_prm(self) -> bool:
        return self.format in PRM_FORMATS

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def demo_settings() -> ModelSettings:
    return ModelSettings(
        name=settings.STEPWISE_DEMO_MODEL,
        can_critique=False,
        source="built-in",
        description="SmolLM2-135M-Instruct, embedded (CPU). Scores steps (verify mode); too "
        "small to write a critique.",
    )


def models_dir() -> Path:
    return Path(settings.STEPWISE_MODELS_DIR)


def _invalid(message: str) -> ApplicationError:
    """A settings file that cannot be used: the message names the file and the setting."""
    return ApplicationError(message, code="model_settings")


def settings_parse(data: Any, *, name: str, path: str, where: str) -> ModelSettings:
    """Settings from a parsed `stepwise_model.json`; ApplicationError('<where>: field: reason')."""
    if not isinstance(data, dict):
        raise _invalid(f"{where}: must be a JSON object")
    known = {f.name for f in fields(ModelSettings)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise _invalid(f"{where}: {unknown[0]}: unknown setting")
    values = {**data, "name": str(data.get("name") or name), "path": path}
    if values.get("format", ModelFormat.CAUSAL_LM) not in ModelFormat.values:
        raise _invalid(f"{where}: format: one of {', '.join(ModelFormat.values)}")
    for key in ("step_separator", "step_tag", "positive_token", "negative_token"):
        if key in values and (not isinstance(values[key], str) or not values[key]):
            raise _invalid(f"{where}: {key}: must be a non-empty string")
    t = values.get("threshold", 0.5)
    if isinstance(t, bool) or not isinstance(t, int | float) or not 0 <= t <= 1:
        raise _invalid(f"{where}: threshold: must be a number from 0 to 1")
    for key in ("positive_label", "max_length"):
        if key in values and (isinstance(values[key], bool) or not isinstance(values[key], int)):
            raise _invalid(f"{where}: {key}: must be an integer")
    if "can_critique" in values and not isinstance(values["can_critique"], bool):
        raise _invalid(f"{where}: can_critique: must be true or false")
    if not isinstance(values.get("metrics", {}), dict):
        raise _invalid(f"{where}: metrics: must be an object")
    return ModelSettings(**values)


def settings_read(directory: Path, *, name: str | None = None) -> ModelSettings | None:
    """The settings file of a model directory, or None when it has none."""
    file = directory / SETTINGS_FILE
    if not file.is_file():
        return None
    try:
        data = json.loads(file.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise _invalid(f"{file}: not valid JSON ({exc})") from exc
    return settings_parse(data, name=name or directory.name, path=str(directory), where=str(file))


def settings_write(directory: Path, model: ModelSettings) -> None:
    data = {k: v for k, v in model.as_json().items() if k != "path"}
    (directory / SETTINGS_FILE).write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def local_models() -> list[ModelSettings]:
    """Models under the models directory that declare settings, newest first; a folder with
    a broken settings file is left out (and logged), never fatal for the list."""
    import logging

    base = models_dir()
    found = []
    if base.is_dir():
        for child in base.iterdir():
            if not child.is_dir() or child.name.startswith("."):
                continue
            try:
                model = settings_read(child)
            except ApplicationError as exc:
                logging.getLogger(__name__).warning("model list: %s", exc)
                continue
            if model is not None:
                found.append(model)
    return sorted(found, key=lambda m: (m.created_at, m.name), reverse=True)


def model_list(*, project_slug: str | None = None) -> list[ModelSettings]:
    """The demo model and the local models; a model trained on another project's labels is
    not shown to this one."""
    local = [m for m in local_models() if not m.project or m.project == project_slug]
    return [demo_settings(), *local]


def _is_dir(path: Path) -> bool:
    """`Path.is_dir` that answers False for a name the OS refuses (too long, bad bytes)."""
    try:
        return path.is_dir()
    except (OSError, ValueError):
        return False


def model_settings_get(name: str) -> ModelSettings:
    """Settings of what a job names: the demo model, a listed local model, or a path (its
    settings file if it has one; a model without one is taken for a chat model)."""
    if name in DEMO_ALIASES or name == settings.STEPWISE_DEMO_MODEL:
        return demo_settings()
    base = models_dir()
    if name and "/" not in name and _is_dir(base / name):
        found = settings_read(base / name, name=name)
        if found is not None:
            return found
    path = Path(name).expanduser()
    if _is_dir(path):
        found = settings_read(path, name=name)
        if found is not None:
            return replace(found, name=name)
    return ModelSettings(name=name, path=name)


def prm_latest(*, project_slug: str) -> ModelSettings | None:
    """The newest PRM this project may use (its own trained ones and unowned local PRMs)."""
    return next((m for m in model_list(project_slug=project_slug) if m.is_prm), None)
