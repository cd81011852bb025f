"""One PRM800K record (phase-2 shape) from an item and one labelled view of its steps.

For an item imported from PRM800K, the record is written back as it came: the labeler's
rated alternative completions (`metadata["alternatives"]`) sit beside the rated step in the
order they had, `chosen_completion` is null where it was (the step where the labeler
stopped), a step the labeler wrote is their `human_completion`, and a phase 1 record keeps
`pre_generated_steps: null`. Importing the export gives the same steps, ratings and
alternatives. Other items get one completion per step, steps up to the last rated one.
"""

from __future__ import annotations

from typing import Any

from annotation.importers.prm800k import ANNOTATOR_PREFIX, ANNOTATOR_UNKNOWN


def _owner(meta: dict[str, Any]) -> str:
    labeler = meta.get("labeler") or ""
    return ANNOTATOR_PREFIX + labeler if labeler else ANNOTATOR_UNKNOWN


def prm800k_label_steps(
    *,
    steps: list[str],
    ratings: list[int | None],
    flagged: list[bool],
    meta: dict[str, Any],
    annotator: str,
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """(label.steps, the item's PRM800K details when this view carries them, else None).

    The details (alternatives, null choices, human steps) belong to the imported labeler's
    labels: they go with that labeler's view and with the final labels, not with another
    annotator's."""
    prm = meta.get("prm800k") if isinstance(meta.get("prm800k"), dict) else None
    if prm is not None and annotator not in ("final", _owner(meta)):
        prm = None
    alternatives: dict[int, list[dict[str, Any]]] = {}
    if prm is not None:
        for alt in meta.get("alternatives") or []:
            alternatives.setdefault(int(alt["step"]), []).append(alt)
    last = max((i for i, r in enumerate(ratings) if r is not None), default=-1)
    n = last + 1
    if prm is not None:
        n = max(n, int(prm.get("labelled_steps") or 0), max(alternatives, default=-1) + 1)
    chosen_null = set(prm.get("chosen_null") or []) if prm else set()
    human = set(prm.get("human_completion") or []) if prm else set()
    was_flagged = set(prm.get("flagged") or []) if prm else set()
    out = []
    for i in range(n):
        alts = sorted(alternatives.get(i, []), key=lambda a: a.get("completion", 1 << 30))
        completions = [
            {
                "text": a.get("text", ""),
                "rating": a.get("rating"),
                "flagged": bool(a.get("flagged")),
            }
            for a in alts
        ]
        entry: dict[str, Any] = {"completions": completions, "human_completion": None}
        in_trajectory = i < len(steps)
        if in_trajectory and i in human:
            entry["human_completion"] = {"text": steps[i], "rating": ratings[i]}
            entry["chosen_completion"] = None
        elif in_trajectory:
            used = {a.get("completion") for a in alts}
            at = next(k for k in range(len(alts) + 1) if k not in used)
            step = {
                "text": steps[i],
                "rating": ratings[i],
                "flagged": flagged[i] or i in was_flagged,
            }
            completions.insert(at, step)
            entry["chosen_completion"] = None if i in chosen_null else at
        else:
            entry["chosen_completion"] = None
        out.append(entry)
    return out, prm


def prm800k_question(
    *, problem: str, reference: str, steps: list[str], answer: str, prm: dict[str, Any] | None
) -> dict[str, Any]:
    phase1 = prm is not None and prm.get("trajectory") == "completions"
    return {
        "problem": problem,
        "ground_truth_answer": reference,
        "pre_generated_steps": None if phase1 else list(steps),
        "pre_generated_answer": None if phase1 else answer,
    }
