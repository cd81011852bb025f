"""The preference kind's review prefill: the final label started from the annotators'
aggregate, in the pair's own order (lower candidate index first)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from annotation.kinds.base import FieldSpec, Labels, Schema
from annotation.kinds.preference_schema import principle_names

if TYPE_CHECKING:
    from annotation.aggregation import FinalLabel
    from annotation.models import Item


class PreferenceReviewPrefill:
    """Mixed into PreferencePairs (annotation.kinds.preference): its review prefill hooks."""

    # --- review: the final label's starting point -------------------------------------------

    def prefill_votes(
        self, *, labels: Labels, item: Item, specs: Mapping[str, FieldSpec]
    ) -> dict[tuple[str, Any], float]:
        """Strength and per-pair principle values turned to the pair's own order (lower
        candidate index first), whichever side each annotator saw them on."""
        votes: dict[tuple[str, Any], float] = {}
        a, b, strength = (
            labels.get("candidate_a"),
            labels.get("candidate_b"),
            labels.get("strength"),
        )
        if not (isinstance(a, int) and isinstance(b, int) and isinstance(strength, int)) or a == b:
            return votes
        sign = 1 if a < b else -1
        pair = (min(a, b), max(a, b))
        votes[("preference_strength", pair)] = float(sign * strength)
        for p in labels.get("principles", []):
            cand = p.get("candidate")
            unit = cand if cand is not None else ("pair", pair)
            value = p["value"] if cand is not None else sign * p["value"]
            votes[(f"principle:{p['principle']}", unit)] = float(value)
        return votes

    def prefill_labels(
        self,
        *,
        finals: Mapping[tuple[str, Any], FinalLabel],
        item: Item,
        schema: Schema,
        specs: Mapping[str, FieldSpec],
    ) -> Labels:
        indexes = sorted(c.index for c in item.candidates.all())
        if len(indexes) < 2:
            return {}
        pair = (indexes[0], indexes[1])
        provenance: dict[str, FinalLabel] = {}
        out: Labels = {"candidate_a": pair[0], "candidate_b": pair[1], "principles": []}
        strength = finals.get(("preference_strength", pair))
        if strength is not None:
            out["strength"] = int(strength.value)
            provenance["strength"] = strength
        per_response = schema.get("principle_mode", "per_response") == "per_response"
        for name in principle_names(schema):
            units: list[Any] = list(pair) if per_response else [("pair", pair)]
            for unit in units:
                final = finals.get((f"principle:{name}", unit))
                if final is None:
                    continue
                cand = unit if isinstance(unit, int) else None
                out["principles"].append(
                    {"principle": name, "candidate": cand, "value": int(final.value)}
                )
                provenance[f"principle:{name}:{cand if cand is not None else 'pair'}"] = final
        if not provenance:
            return {}
        out["provenance"] = provenance
        return out
