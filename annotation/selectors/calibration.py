"""Reads for the model loop: each item's model verdicts (judge, MC, PRM) and its reference
label (gold, adjudicated, imported expert or human), as `annotation.calibration.Verdicts`."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from annotation.calibration import (
    RuleChoice,
    RuleResult,
    Verdicts,
    method_curves,
    rule_choose,
    rules_evaluate,
)
from annotation.models import Annotation, Project, Suggestion, SuggestionMethod

# The item-level suggestion methods of each verdict family.
FAMILIES: dict[str, tuple[str, ...]] = {
    "judge": (SuggestionMethod.JUDGE, SuggestionMethod.VERIFY),
    "mc": (SuggestionMethod.MC, SuggestionMethod.FIRST_ERROR_SEARCH),
    "prm": (SuggestionMethod.PRM,),
}
# A reference label from a stronger source wins over a weaker one.
_SOURCE_RANK: dict[str, int] = {
    Annotation.Source.GOLD: 0,
    Annotation.Source.ADJUDICATION: 1,
    Annotation.Source.IMPORTED: 2,
    Annotation.Source.HUMAN: 3,
}


def _as_index(label: str) -> int | None:
    return int(label) if label.lstrip("-").isdigit() else None


def reference_first_errors(
    *, project: Project, item_ids: Iterable[int] | None = None
) -> dict[int, int]:
    """Item id -> the reference first-error index: a gold answer, else an adjudication, else
    imported expert labels, else the humans' majority (items whose humans tie are left out).
    Model consensus labels never count."""
    qs = Annotation.objects.filter(
        item__project=project, source__in=list(_SOURCE_RANK), first_error_index__isnull=False
    )
    if item_ids is not None:
        qs = qs.filter(item_id__in=list(item_ids))
    best: dict[int, tuple[int, Counter[int]]] = {}
    for item_id, source, fe in qs.values_list("item_id", "source", "first_error_index"):
        if fe is None:
            continue
        rank = _SOURCE_RANK[source]
        cur = best.get(item_id)
        if cur is None or rank < cur[0]:
            best[item_id] = (rank, Counter({fe: 1}))
        elif rank == cur[0]:
            cur[1][fe] += 1
    out = {}
    for item_id, (_, votes) in best.items():
        top = votes.most_common(2)
        if len(top) == 1 or top[0][1] > top[1][1]:
            out[item_id] = top[0][0]
    return out


def item_verdicts(
    *,
    project: Project,
    item_ids: Iterable[int] | None = None,
    job_ids: Mapping[str, int | None] | None = None,
    with_reference: bool = True,
) -> dict[int, Verdicts]:
    """Item id -> its verdicts: per family the newest job's item-level verdict, or the job
    given in `job_ids[family]`. Items no model looked at are absent."""
    ids = list(item_ids) if item_ids is not None else None
    job_ids = job_ids or {}
    found: dict[int, dict[str, Any]] = {}
    for family, methods in FAMILIES.items():
        qs = Suggestion.objects.filter(
            item__project=project, target="item", method__in=list(methods)
        )
        if ids is not None:
            qs = qs.filter(item_id__in=ids)
        pinned = job_ids.get(family)
        if pinned:
            qs = qs.filter(job_id=pinned)
        fields: tuple[str, ...] = ("item_id", "label")
        if family == "prm":
            fields += ("raw__scores", "raw__threshold")
        seen: set[int] = set()
        for row in qs.order_by("-job_id", "-id").values_list(*fields):
            if row[0] in seen:
                continue
            seen.add(row[0])
            got = found.setdefault(row[0], {})
            got[family] = _as_index(row[1])
            if family == "prm":
                scores = row[2] if isinstance(row[2], list) else []
                got["prm_scores"] = tuple(
                    float(s) if isinstance(s, int | float) else None for s in scores
                )
                got["prm_threshold"] = float(row[3]) if isinstance(row[3], int | float) else 0.5
    refs = reference_first_errors(project=project, item_ids=ids) if with_reference else {}
    return {item_id: Verdicts(**got, reference=refs.get(item_id)) for item_id, got in found.items()}


def calibration_report(
    *, project: Project, job_ids: Mapping[str, int | None] | None = None
) -> dict[str, Any]:
    """Every rule measured on the project's labeled items, the rule it would auto-accept
    with under its settings, and the accuracy/coverage curve per method."""
    # Only labeled items are measured: read the references first, then their verdicts.
    refs = reference_first_errors(project=project)
    found = item_verdicts(project=project, item_ids=list(refs), job_ids=job_ids,
                          with_reference=False)  # fmt: skip
    verdicts = [replace(v, reference=refs[item_id]) for item_id, v in found.items()]
    results: list[RuleResult] = rules_evaluate(verdicts)
    choice: RuleChoice = rule_choose(
        results, target=project.auto_accept_target, min_labeled=project.auto_accept_min_labeled
    )
    return {
        "rules": [r.as_dict() for r in results],
        "choice": choice.as_dict(),
        "curves": method_curves(verdicts),
        "labeled": max((r.labeled for r in results), default=0),
    }
