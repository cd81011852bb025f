"""Label schemas per project kind: defaults and validation.

A schema is configuration (how the UI asks), so it lives as JSON on the project; the labels
themselves are rows. `label_schema_validate` returns the normalised schema or raises
ValueError naming the offending field.
"""

from __future__ import annotations

from copy import deepcopy
from typing import Any

STEP_MODES = ("rate_every_step", "first_error")
PRINCIPLE_MODES = ("per_response", "per_pair")

DEFAULT_STEP_SCHEMA: dict[str, Any] = {
    "mode": "rate_every_step",
    "ratings": [
        {"value": -1, "name": "wrong", "help": "Wrong, off-topic or a clear dead end."},
        {"value": 0, "name": "neutral", "help": "Valid but makes no progress."},
        {"value": 1, "name": "right", "help": "Correct and advances the solution."},
    ],
}

DEFAULT_DIALOGUE_SCHEMA: dict[str, Any] = {
    "fields": [
        {
            "name": "main_therapist_behaviour",
            "role": "therapist",
            "choices": ["reflection", "question", "therapist_input", "other"],
        },
        {"name": "client_talk_type", "role": "client", "choices": ["change", "neutral", "sustain"]},
    ]
}

COUNSELING_PRINCIPLES = [
    "empathy",
    "relevance",
    "clarity",
    "safety",
    "self_exploration",
    "autonomy",
    "staging",
]

DEFAULT_PREFERENCE_SCHEMA: dict[str, Any] = {
    "strength_min": -3,
    "strength_max": 3,
    "principles": COUNSELING_PRINCIPLES,
    "principle_mode": "per_response",
    "principle_scale": [1, 5],
    "justification_required": True,
    "justification_min_length": 20,
}

_DEFAULTS = {
    "step_labels": DEFAULT_STEP_SCHEMA,
    "dialogue_coding": DEFAULT_DIALOGUE_SCHEMA,
    "preference": DEFAULT_PREFERENCE_SCHEMA,
}


def label_schema_default(kind: str) -> dict[str, Any]:
    """A fresh copy of the default schema for a project kind."""
    try:
        return deepcopy(_DEFAULTS[kind])
    except KeyError:
        raise ValueError(f"kind: unknown project kind {kind!r}") from None


def label_schema_validate(kind: str, schema: dict[str, Any] | None) -> dict[str, Any]:
    """Fill defaults and check a schema; raises ValueError('field: reason')."""
    merged = label_schema_default(kind)
    if schema:
        if not isinstance(schema, dict):
            raise ValueError("label_schema: must be an object")
        merged.update(schema)
    if kind == "step_labels":
        if merged["mode"] not in STEP_MODES:
            raise ValueError(f"label_schema.mode: must be one of {', '.join(STEP_MODES)}")
        values = [r.get("value") for r in merged["ratings"] if isinstance(r, dict)]
        if sorted(values) != [-1, 0, 1] or len(values) != len(merged["ratings"]):
            raise ValueError("label_schema.ratings: must name the values -1, 0 and 1 once each")
    elif kind == "dialogue_coding":
        fields = merged["fields"]
        if not isinstance(fields, list) or not fields:
            raise ValueError("label_schema.fields: must be a non-empty list")
        names = set()
        for i, f in enumerate(fields):
            if not isinstance(f, dict) or not f.get("name") or not f.get("role"):
                raise ValueError(f"label_schema.fields[{i}]: needs a name and a role")
            choices = f.get("choices")
            if not isinstance(choices, list) or not choices or len(choices) > 9:
                raise ValueError(f"label_schema.fields[{i}].choices: 1 to 9 choices")
            if f["name"] in names:
                raise ValueError(f"label_schema.fields[{i}].name: duplicate {f['name']!r}")
            names.add(f["name"])
    elif kind == "preference":
        if (merged["strength_min"], merged["strength_max"]) != (-3, 3):
            raise ValueError("label_schema.strength_min/strength_max: the scale is -3..+3")
        if not isinstance(merged["principles"], list):
            raise ValueError("label_schema.principles: must be a list")
        if merged["principle_mode"] not in PRINCIPLE_MODES:
            raise ValueError(
                f"label_schema.principle_mode: must be one of {', '.join(PRINCIPLE_MODES)}"
            )
        if not isinstance(merged["justification_min_length"], int):
            raise ValueError("label_schema.justification_min_length: must be an integer")
    return merged
