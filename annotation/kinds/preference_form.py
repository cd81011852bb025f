"""What the preference kind's form and review table show, apart from the kind class: the
context turns, the principle rows, and candidate identities (#1, #2) for review."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from annotation.kinds.base import Choice, Labels, Part, Schema
from annotation.kinds.preference_schema import principle_specs
from annotation.web.rendering import rich_text

if TYPE_CHECKING:
    from annotation.models import Annotation, Item


def context_turns(item: Item) -> list[Part]:
    """The conversation before the responses, its last client message highlighted."""
    turns = list(item.turns.all())
    last_client = next((t.index for t in reversed(turns) if t.speaker == "client"), None)
    return [
        Part(index=t.index, number=t.index + 1, html=rich_text(t.text), speaker=t.speaker,
             highlight=t.index == last_client)
        for t in turns
    ]  # fmt: skip


def principle_rows(
    schema: Schema,
    labels: Labels,
    side_of: dict[int | None, str],
    flipped: bool,
    scale: tuple[int, int],
    provenance: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    per_response = schema["principle_mode"] == "per_response"
    provenance = provenance or {}
    index_of = {side: index for index, side in side_of.items()}
    given: dict[tuple[str, str], int] = {}
    for p in labels.get("principles", []):
        side = side_of.get(p.get("candidate"), "pair") if per_response else "pair"
        value = p["value"]
        if not per_response and flipped:
            value = -value
        given[(p["principle"], side)] = value
    lo, hi = scale
    rows = []
    for spec in principle_specs(schema):
        name = spec.name
        sides = ("left", "right") if per_response else ("pair",)
        rows.append(
            {
                "name": name,
                "label": spec.label,
                "help": spec.help,
                "required": spec.required,
                "groups": [
                    {
                        "side": side,
                        "input_name": f"pr-{name}-{side}",
                        "source": provenance.get(
                            f"principle:{name}:{index_of.get(side) if per_response else 'pair'}"
                        ),
                        "choices": [
                            Choice(value=v, label=str(v), checked=given.get((name, side)) == v)
                            for v in range(lo, hi + 1)
                        ],
                    }
                    for side in sides
                ],
            }
        )
    return rows


def identity_strength(value: int, left: int, right: int) -> str:
    """A strength of the screen's scale said with candidate numbers (the review form)."""
    if value == 0:
        return "About the same"
    better = left if value < 0 else right
    how = {1: "slightly better", 2: "better", 3: "much better"}[abs(value)]
    return f"#{better} {how}"


def left_index_of(annotation: Annotation | None, item: Item) -> int | None:
    """The index of the candidate the annotator saw on the left (prefetched label rows)."""
    if annotation is None:
        return None
    prefs = list(annotation.preference_labels.all())
    if not prefs or prefs[0].left_candidate_id is None:
        return None
    by_id = {c.id: c.index for c in item.candidates.all()}
    return by_id.get(prefs[0].left_candidate_id)


def excerpt(text: str, limit: int = 90) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"
