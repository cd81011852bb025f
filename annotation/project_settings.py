"""The project settings a manager edits, declared once.

The settings page (annotation.web.settings), the REST settings endpoint
(`/api/v1/projects/<slug>/settings/`), the settings service and selector are all built from
`PROJECT_SETTINGS`, so a new setting is one `ProjectSetting(...)` line here plus its Project
column (and migration). A setting with `schema_key` lives in the label schema instead and
applies only to projects whose kind's default schema has that key (the step mode).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from annotation.kinds import label_kind_for
from annotation.kinds.steps import STEP_MODE_CHOICES
from annotation.models import Routing

if TYPE_CHECKING:
    from annotation.models import Project

SettingType = Literal["text", "textarea", "markdown", "int", "float", "bool", "choice"]


@dataclass(frozen=True, slots=True)
class ProjectSetting:
    name: str
    label: str
    help: str
    type: SettingType
    section: str = "General"
    minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = None
    choices: tuple[tuple[str, str], ...] = ()
    # Stored in project.label_schema[schema_key] (validated by the kind) instead of a column.
    schema_key: str = ""
    required: bool = False

    def bounds(self) -> dict[str, Any]:
        """`min_value` / `max_value` keyword arguments of a form or serializer field."""
        cast = int if self.type == "int" else float
        out: dict[str, Any] = {}
        if self.minimum is not None:
            out["min_value"] = cast(self.minimum)
        if self.maximum is not None:
            out["max_value"] = cast(self.maximum)
        return out

    def applies_to(self, project: Project) -> bool:
        return not self.schema_key or self.schema_key in label_kind_for(project).default_schema


ROUTING_CHOICES: tuple[tuple[str, str], ...] = tuple(
    (str(v), str(label)) for v, label in Routing.choices
)

GENERAL, LABELING, QUALITY, MODELS = "General", "Labeling", "Quality", "Model help"

PROJECT_SETTINGS: tuple[ProjectSetting, ...] = (
    ProjectSetting("name", "Name", "Shown in the project list.", "text", GENERAL, max_length=200, required=True),
    ProjectSetting("description", "Description", "What the project is for; seen by members on the project page.", "textarea", GENERAL, max_length=10_000),
    ProjectSetting("instructions", "Instructions", "Markdown (with $math$) shown to annotators from the labeling page's Instructions button.", "markdown", GENERAL, max_length=100_000),
    ProjectSetting("overlap", "Overlap (k)", "Distinct annotators needed per item before it is complete.", "int", LABELING, minimum=1, maximum=50),
    ProjectSetting("step_mode", "Step mode", "How annotators label a reasoning trace.", "choice", LABELING, choices=STEP_MODE_CHOICES, schema_key="mode"),
    ProjectSetting("gold_rate", "Gold rate", "Share (0–1) of each annotator's items drawn from gold items, when the project has some.", "float", QUALITY, minimum=0.0, maximum=1.0),
    ProjectSetting("gold_min_accuracy", "Minimum gold accuracy", "Annotators whose accuracy on gold items is under this (0–1) are flagged on the dashboard.", "float", QUALITY, minimum=0.0, maximum=1.0),
    ProjectSetting("gold_min_items", "Gold items before flagging", "An annotator is flagged only after this many gold items.", "int", QUALITY, minimum=0, maximum=10_000),
    ProjectSetting("show_suggestions", "Show model hints", "Annotators see model suggestions (judge verdicts, step scores) while labeling.", "bool", MODELS),
    ProjectSetting("consensus_auto_accept", "Consensus auto-accept", "Consensus jobs write the first-error verdicts that the judge and MC agree on as consensus labels (a job may override it).", "bool", MODELS),
    ProjectSetting("allow_consensus_labels", "Exports may use consensus labels", "Lets an export include consensus labels (its include_consensus option).", "bool", MODELS),
    ProjectSetting("routing", "Task order", "By the managers' priority, or by model uncertainty: items where the judge, MC and PRM disagree or the PRM is closest to its threshold come first (re-ranked after each scoring job).", "choice", MODELS, choices=ROUTING_CHOICES),
    ProjectSetting("auto_accept_target", "Auto-accept target accuracy", "A consensus rule auto-accepts only when the 95% lower bound of its accuracy against human labels reaches this (0.5–1).", "float", MODELS, minimum=0.5, maximum=1.0),
    ProjectSetting("auto_accept_min_labeled", "Auto-accept minimum labeled items", "No rule auto-accepts before it is measured on at least this many human- or gold-labeled items.", "int", MODELS, minimum=1, maximum=1_000_000),
    ProjectSetting("prefill", "Verify-the-model mode", "Step projects: pre-fill each step with the newest model pre-label; annotators confirm or change every step. Agreement leaves these labels out.", "bool", MODELS),
)  # fmt: skip

SETTINGS_BY_NAME = {s.name: s for s in PROJECT_SETTINGS}


def project_settings_for(project: Project) -> list[ProjectSetting]:
    """The settings that apply to the project's kind, in page order."""
    return [s for s in PROJECT_SETTINGS if s.applies_to(project)]
