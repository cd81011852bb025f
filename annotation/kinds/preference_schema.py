"""The preference kind's label schema: its checks and what a change would orphan."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from annotation.kinds.base import Schema, SchemaOrphan, check_name, invalid
from annotation.models import PrincipleRating

if TYPE_CHECKING:
    from annotation.models import Project


def preference_schema_check(schema: Schema, modes: tuple[str, ...]) -> None:
    if (schema["strength_min"], schema["strength_max"]) != (-3, 3):
        raise invalid("label_schema.strength_min/strength_max", "the scale is -3..+3")
    principles = schema["principles"]
    if not isinstance(principles, list) or len(principles) > 20:
        raise invalid("label_schema.principles", "must be a list of at most 20 principles")
    for i, name in enumerate(principles):
        check_name(name, f"label_schema.principles[{i}]")
    if len(set(principles)) != len(principles):
        raise invalid("label_schema.principles", "each principle once")
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
        if name not in principles:
            raise invalid(where, "names no principle of the schema")
        if not isinstance(info, dict) or set(info) - {"label", "help"}:
            raise invalid(where, 'must be {"label": ..., "help": ...}')
        for key in ("label", "help"):
            if not isinstance(info.get(key, ""), str) or len(info.get(key, "")) > 500:
                raise invalid(f"{where}.{key}", "must be a text of at most 500 characters")


def preference_schema_orphans(*, project: Project, old: Schema, new: Schema) -> list[SchemaOrphan]:
    ratings = PrincipleRating.objects.filter(annotation__item__project=project)
    out = []

    def count(qs: Any) -> int:
        return int(qs.values("annotation_id").distinct().count())

    gone = set(old.get("principles", [])) - set(new["principles"])
    removed = ratings.filter(principle__in=gone)
    used = sorted(set(removed.values_list("principle", flat=True).distinct())) if gone else []
    if used:
        out.append(SchemaOrphan(f"principles {', '.join(repr(u) for u in used)}", count(removed)))
    kept = ratings.filter(principle__in=new["principles"])
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
