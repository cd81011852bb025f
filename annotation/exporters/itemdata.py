"""What the exporters read: an item with its parts and its annotations' labels, as plain
objects (the readers in `annotation.exporters.source` fill them)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class AnnotationData:
    id: int
    annotator_id: int
    source: str
    first_error_index: int | None
    finish_reason: str
    justification: str
    time_spent_ms: int | None
    created_at: Any
    # step index -> (rating or None, cant_judge)
    ratings: dict[int, tuple[int | None, bool]] = field(default_factory=dict)
    # (turn index, field, value)
    turn_labels: list[tuple[int, str, str]] = field(default_factory=list)
    # (candidate index a, candidate index b, strength, margin, left candidate index or None)
    preferences: list[tuple[int, int, int, float | None, int | None]] = field(default_factory=list)
    # (principle, candidate index or None, value)
    principles: list[tuple[str, int | None, int]] = field(default_factory=list)

    def first_error(self, n_steps: int) -> int | None:
        """The stored first-error index, else the first step rated −1 (−1 when all rated
        steps are fine), else None (no step labels at all)."""
        if self.first_error_index is not None:
            return self.first_error_index
        rated = [(i, r) for i, (r, _) in sorted(self.ratings.items()) if r is not None]
        if not rated:
            return None
        return next((i for i, r in rated if r == -1), -1)

    def step_ratings(self, n_steps: int) -> list[int | None]:
        """Per-step ratings; derived from the first-error index when no step was rated."""
        ratings = self.ratings
        for r, _ in ratings.values():
            if r is not None:
                return [ratings[i][0] if i in ratings else None for i in range(n_steps)]
        fe = self.first_error_index
        if fe is None:
            return [None] * n_steps
        return [1 if fe == -1 or i < fe else (-1 if i == fe else None) for i in range(n_steps)]


@dataclass(slots=True)
class ItemData:
    id: int
    external_id: str
    group_key: str
    prompt: str
    reference_answer: str
    final_answer: str
    final_answer_correct: bool | None
    generator_model: str
    # The item's metadata as JSON text; `metadata` parses it when a format asks.
    metadata_json: str
    dataset_id: int
    is_gold: bool
    steps: list[str] = field(default_factory=list)
    step_ids: list[int] = field(default_factory=list)
    turns: list[tuple[str, str]] = field(default_factory=list)
    candidates: list[str] = field(default_factory=list)
    candidate_models: list[str] = field(default_factory=list)
    annotations: list[AnnotationData] = field(default_factory=list)
    # step index -> MC value (Suggestion method=mc), only when asked for.
    mc_values: dict[int, float] = field(default_factory=dict)

    @property
    def metadata(self) -> dict[str, Any]:
        raw = self.metadata_json
        if isinstance(raw, dict):  # SQLite drivers may hand JSON back decoded
            return raw
        return json.loads(raw) if raw else {}
