"""Model pre-labels as ratings of the agreement fields: what each (method, model) said on
the units of a field, for comparing models with the human raters (`field_report`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from annotation.kinds.base import FieldSpec
from annotation.models import Candidate, Project, Suggestion


def pair_key(a: int, b: int) -> int:
    """One unit key for an unordered candidate pair."""
    lo, hi = (a, b) if a < b else (b, a)
    return (lo << 32) | hi


_POSITIVE = {"1", "+1", "+", "correct", "right", "positive", "true", "yes", "good", "great"}
_NEGATIVE = {"-1", "-", "incorrect", "wrong", "negative", "false", "no", "bad"}
_NEUTRAL = {"0", "neutral", "okay", "ok"}


def suggestion_step_value(label: str, score: float | None) -> float | None:
    """A step suggestion as a −1/0/+1 rating: its label when it names one, else its score
    (P(correct) or an MC estimate) thresholded at 0.5."""
    low = (label or "").strip().lower()
    if low in _POSITIVE:
        return 1.0
    if low in _NEGATIVE:
        return -1.0
    if low in _NEUTRAL:
        return 0.0
    if score is not None:
        return 1.0 if score >= 0.5 else -1.0
    return None


def _int_label(label: str) -> int | None:
    try:
        return int(str(label).strip())
    except (TypeError, ValueError):
        return None


@dataclass(slots=True)
class ModelRatings:
    method: str
    model_name: str
    field: str
    units: list[int]
    values: list[float]


def suggestion_ratings(*, project: Project, spec: FieldSpec) -> list[ModelRatings]:
    """Each (method, model) pre-labeler's values on the units of `spec`.

    Conventions read from Suggestion rows: step targets (`step:N`, with `step` set) for
    `step_rating`/`step_correct`; item targets whose label is an integer (the first wrong
    step, −1 none) for `first_error_index`; turn targets with the field in `raw["field"]`
    (or a label `field=value`) for `turn:<field>`; item targets of pair judges with an
    integer strength label (or `a`/`b`/`tie`) between candidates `raw["candidate_a"]`
    and `raw["candidate_b"]` (indexes, default 0 and 1) for the preference fields.
    """
    qs = Suggestion.objects.filter(item__project=project)
    out: dict[tuple[str, str], ModelRatings] = {}

    def add(method: str, model: str, unit: int, value: float) -> None:
        key = (method, model)
        if key not in out:
            out[key] = ModelRatings(method, model, spec.key, [], [])
        out[key].units.append(unit)
        out[key].values.append(value)

    if spec.key in ("step_rating", "step_correct"):
        step_rows = qs.filter(step__isnull=False).values_list(
            "method", "model_name", "step_id", "label", "score"
        )
        for method, model, step_id, label, score in step_rows.iterator(chunk_size=20_000):
            v = suggestion_step_value(label, score)
            if v is None:
                continue
            if spec.key == "step_correct":
                v = 1.0 if v >= 0 else 0.0
            add(method, model, step_id, v)
    elif spec.key == "first_error_index":
        item_rows = qs.filter(target="item").values_list("method", "model_name", "item_id", "label")
        for method, model, item_id, label in item_rows.iterator(chunk_size=20_000):
            v = _int_label(label)
            if v is not None and v >= -1:
                add(method, model, item_id, float(v))
    elif spec.key.startswith("turn:"):
        name = spec.key.split(":", 1)[1]
        code_of = {c: float(i) for i, c in enumerate(spec.codes or ())}
        turn_rows = qs.filter(turn__isnull=False).values_list(
            "method", "model_name", "turn_id", "label", "raw"
        )
        for method, model, turn_id, label, raw in turn_rows.iterator(chunk_size=20_000):
            fld, value = (raw or {}).get("field"), label
            if fld is None and "=" in (label or ""):
                fld, value = label.split("=", 1)
            if fld == name and value in code_of:
                add(method, model, turn_id, code_of[value])
    elif spec.key in ("preference_direction", "preference_strength"):
        pair_rows = list(
            qs.filter(target="item").values_list("method", "model_name", "item_id", "label", "raw")
        )
        cand = {}
        if pair_rows:
            cand = {
                (i, x): cid
                for i, x, cid in Candidate.objects.filter(
                    item_id__in={r[2] for r in pair_rows}
                ).values_list("item_id", "index", "id")
            }
        for method, model, item_id, label, raw in pair_rows:
            raw = raw or {}
            low = (label or "").strip().lower()
            s = {"a": -1, "b": 1, "tie": 0}.get(low, _int_label(label))
            a = cand.get((item_id, raw.get("candidate_a", 0)))
            b = cand.get((item_id, raw.get("candidate_b", 1)))
            if s is None or a is None or b is None or not -3 <= s <= 3:
                continue
            s = s if a < b else -s
            add(
                method, model, pair_key(a, b),
                float(np.sign(s)) if spec.key == "preference_direction" else float(s),
            )  # fmt: skip
    return list(out.values())
