"""The preference kind's label schema: its principles (names, labels, which are required)
and the strength scale's words. Shared by the kind, its exporters and the model methods."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from annotation.kinds.base import humanize

PRINCIPLE_MODES = ("per_response", "per_pair")
COUNSELING_PRINCIPLES = [
    "empathy",
    "relevance",
    "clarity",
    "safety",
    "self_exploration",
    "autonomy",
    "staging",
]
STRENGTH_LABELS = {
    -3: "Left much better",
    -2: "Left better",
    -1: "Left slightly better",
    0: "About the same",
    1: "Right slightly better",
    2: "Right better",
    3: "Right much better",
}
PRINCIPLE_LABELS = {
    "empathy": ("Empathy", "Understands and validates the client's feelings."),
    "relevance": ("Relevance", "Responds to what the client actually said."),
    "clarity": ("Clarity", "Clear, concise, easy to follow."),
    "safety": ("Safety", "Avoids harm; responds appropriately to risk."),
    "self_exploration": (
        "Self-exploration",
        "Encourages the client to explore their own thoughts and feelings.",
    ),
    "autonomy": ("Autonomy", "Respects the client's right to make their own choices."),
    "staging": ("Stage of change", "Fits the client's readiness for change."),
}
PRINCIPLE_KEY = re.compile(r"^pr-(.+)-(left|right|pair)$")


@dataclass(frozen=True, slots=True)
class PrincipleSpec:
    """One principle of the schema. A schema entry is its name, or an object
    `{"name", "required", "label", "description"}`; a required principle must be rated (for
    both responses, or once per pair) before the annotator can submit."""

    name: str
    label: str
    help: str
    required: bool = False


def principle_specs(schema: Mapping[str, Any]) -> list[PrincipleSpec]:
    """The schema's principles in order (entries that are neither a name nor an object with
    one are left out; `schema_check` refuses them on save)."""
    out = []
    for raw in schema.get("principles") or []:
        entry = {"name": raw} if isinstance(raw, str) else raw
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            continue
        name = entry["name"]
        label, help_text = PRINCIPLE_LABELS.get(name, (humanize(name), ""))
        out.append(
            PrincipleSpec(
                name=name,
                label=str(entry.get("label") or label),
                help=str(entry.get("description") or help_text),
                required=entry.get("required") is True,
            )
        )
    return out


def principle_names(schema: Mapping[str, Any]) -> list[str]:
    """The names of the schema's principles, in order."""
    return [p.name for p in principle_specs(schema)]
