"""The preference kind's label schema: its principles (names, labels, which are required)
and the strength scale's words. Shared by the kind, its exporters and the model methods."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from annotation.kinds.base import Schema, SchemaOrphan, check_name, humanize, invalid
from annotation.models import PrincipleRating

if TYPE_CHECKING:
    from annotation.models import Project

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


def principle_label(name: str) -> str:
    """The display name of a principle the schema does not describe (as the labeling page
    shows it)."""
    return PRINCIPLE_LABELS.get(name, (humanize(name), ""))[0]


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
        described = (schema.get("principle_labels") or {}).get(name) or {}
        label = described.get("label") or label
        help_text = described.get("help") or help_text
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


def preference_schema_check(schema: Schema, modes: tuple[str, ...]) -> None:
    """Refuse a preference schema that the labeling form or the exports could not use,
    naming the field."""
    if (schema["strength_min"], schema["strength_max"]) != (-3, 3):
        raise invalid("label_schema.strength_min/strength_max", "the scale is -3..+3")
    principles = schema["principles"]
    if not isinstance(principles, list) or len(principles) > 20:
        raise invalid("label_schema.principles", "must be a list of at most 20 principles")
    seen: set[str] = set()
    for i, raw in enumerate(principles):
        where = f"label_schema.principles[{i}]"
        entry = {"name": raw} if isinstance(raw, str) else raw
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("name"), str)
            or set(entry) - {"name", "required", "label", "description"}
        ):
            raise invalid(
                where, 'must be a name or an object {"name", "required", "label", "description"}'
            )
        name = check_name(entry.get("name"), f"{where}.name")
        if name in seen:
            raise invalid(f"{where}.name", f"duplicate principle {name!r}: each principle once")
        seen.add(name)
        if not isinstance(entry.get("required", False), bool):
            raise invalid(f"{where}.required", "must be true or false")
        for key in ("label", "description"):
            if not isinstance(entry.get(key, ""), str) or len(entry.get(key, "")) > 500:
                raise invalid(f"{where}.{key}", "must be a text of at most 500 characters")
    if schema["principle_mode"] not in modes:
        raise invalid("label_schema.principle_mode", f"must be one of {', '.join(modes)}")
    scale = schema["principle_scale"]
    if (
        not isinstance(scale, list)
        or len(scale) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in scale)
        or not -10 <= scale[0] < scale[1] <= 10
    ):
        raise invalid(
            "label_schema.principle_scale",
            "must be [low, high]: integers, -10 ≤ low < high ≤ 10",
        )
    length = schema["justification_min_length"]
    if not isinstance(length, int) or isinstance(length, bool) or not 0 <= length <= 5000:
        raise invalid("label_schema.justification_min_length", "must be an integer 0..5000")
    if not isinstance(schema["justification_required"], bool):
        raise invalid("label_schema.justification_required", "must be true or false")
    described = schema.get("principle_labels")
    if described is None:
        return
    if not isinstance(described, dict):
        raise invalid("label_schema.principle_labels", "must be an object")
    for name, info in described.items():
        where = f"label_schema.principle_labels.{name}"
        if name not in seen:
            raise invalid(where, "names no principle of the schema")
        if not isinstance(info, dict) or set(info) - {"label", "help"}:
            raise invalid(where, 'must be {"label": ..., "help": ...}')
        for key in ("label", "help"):
            if not isinstance(info.get(key, ""), str) or len(info.get(key, "")) > 500:
                raise invalid(f"{where}.{key}", "must be a text of at most 500 characters")


def preference_schema_orphans(*, project: Project, old: Schema, new: Schema) -> list[SchemaOrphan]:
    """What a schema change would leave without a place: ratings of removed principles, of
    the other principle mode, or outside a narrowed scale (each with its annotation count)."""
    ratings = PrincipleRating.objects.filter(annotation__item__project=project)
    out = []

    def count(qs: Any) -> int:
        return int(qs.values("annotation_id").distinct().count())

    new_names = principle_names(new)
    gone = set(principle_names(old)) - set(new_names)
    removed = ratings.filter(principle__in=gone)
    used = sorted(set(removed.values_list("principle", flat=True).distinct())) if gone else []
    if used:
        out.append(SchemaOrphan(f"principles {', '.join(repr(u) for u in used)}", count(removed)))
    kept = ratings.filter(principle__in=new_names)
    if new["principle_mode"] != old.get("principle_mode", new["principle_mode"]):
        per_response = new["principle_mode"] == "per_response"
        # Ratings of the other mode: per response ratings name a candidate.
        other = kept.filter(candidate__isnull=per_response)
        if n := count(other):
            out.append(SchemaOrphan(f"ratings {old.get('principle_mode')}", n))
    elif new["principle_mode"] == "per_response":
        lo, hi = new["principle_scale"]
        outside = kept.filter(candidate__isnull=False).exclude(value__gte=lo, value__lte=hi)
        if n := count(outside):
            out.append(SchemaOrphan(f"principle ratings outside {lo}..{hi}", n))
    return out
