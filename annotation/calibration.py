"""Calibrated auto-accept and uncertainty routing: pure functions over plain values.

A *rule* decides, from the model verdicts of one trace (first-error indexes of the judge, MC
and PRM, and the PRM's step scores), whether a model label is accepted without a human and
which one. Measured on the items that have human or gold labels, a rule has an accuracy
(accepted labels equal to the reference), a coverage (accepted / labeled items) and a
Wilson score interval on the accuracy. A project auto-accepts only with a rule whose
interval's *lower bound* reaches its target, measured on at least its minimum of labeled
items (`rule_choose`).

No ORM here: `annotation.selectors.calibration` builds the inputs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

# PRM margins tried as rules and drawn as the PRM's accuracy/coverage curve.
PRM_MARGINS = (0.05, 0.1, 0.2, 0.3, 0.4)
CURVE_MARGINS = tuple(round(0.05 * i, 2) for i in range(11))
Z95 = 1.959963984540054


@dataclass(frozen=True, slots=True)
class Verdicts:
    """The model verdicts of one item (None: the method gave none) and its reference label
    (None on unlabeled items, which routing still ranks)."""

    judge: int | None = None
    mc: int | None = None
    prm: int | None = None
    prm_scores: tuple[float | None, ...] = ()
    prm_threshold: float = 0.5
    reference: int | None = None


@dataclass(frozen=True, slots=True)
class RuleResult:
    rule: str
    label: str
    labeled: int
    accepted: int
    correct: int
    accuracy: float | None
    coverage: float
    low: float | None
    high: float | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def wilson_interval(correct: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion correct/n (95% by default); None for n=0."""
    if n <= 0:
        return None
    p = correct / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def prm_margin(v: Verdicts) -> float | None:
    """How far the PRM's verdict is from flipping: the smallest |score - threshold| over the
    steps that decide it (every step up to and including the first one under the
    threshold). None without a PRM verdict."""
    if v.prm is None or not v.prm_scores:
        return None
    last = len(v.prm_scores) - 1 if v.prm == -1 else v.prm
    deciding = [s for s in v.prm_scores[: last + 1] if s is not None]
    if not deciding:
        return None
    return min(abs(s - v.prm_threshold) for s in deciding)


def rule_names() -> list[tuple[str, str]]:
    """(rule, description) of every candidate rule, in the order the dashboard lists them."""
    out = [("judge_mc_agree", "judge and MC agree")]
    out += [(f"prm_margin_{m:g}", f"PRM score margin ≥ {m:g}") for m in PRM_MARGINS]
    out += [("all_agree", "judge, MC and PRM agree")]
    return out


def rule_predict(rule: str, v: Verdicts) -> int | None:
    """The label `rule` accepts for an item, or None when it leaves the item to humans."""
    if rule == "judge_mc_agree":
        return v.judge if v.judge is not None and v.judge == v.mc else None
    if rule == "all_agree":
        agree = v.judge is not None and v.judge == v.mc == v.prm
        return v.judge if agree else None
    if rule.startswith("prm_margin_"):
        m = float(rule.removeprefix("prm_margin_"))
        margin = prm_margin(v)
        return v.prm if margin is not None and margin >= m else None
    raise KeyError(rule)


def _result(rule: str, label: str, preds: Sequence[tuple[int | None, int]]) -> RuleResult:
    labeled = len(preds)
    accepted = [(p, r) for p, r in preds if p is not None]
    correct = sum(1 for p, r in accepted if p == r)
    ci = wilson_interval(correct, len(accepted))
    return RuleResult(
        rule=rule, label=label, labeled=labeled, accepted=len(accepted), correct=correct,
        accuracy=correct / len(accepted) if accepted else None,
        coverage=len(accepted) / labeled if labeled else 0.0,
        low=ci[0] if ci else None, high=ci[1] if ci else None,
    )  # fmt: skip


def rules_evaluate(items: Sequence[Verdicts]) -> list[RuleResult]:
    """Every candidate rule measured on the items with a reference label."""
    labeled = [v for v in items if v.reference is not None]
    return [
        _result(rule, label, [(rule_predict(rule, v), int(v.reference or 0)) for v in labeled])
        for rule, label in rule_names()
    ]


@dataclass(frozen=True, slots=True)
class RuleChoice:
    """The rule a project auto-accepts with (None: none qualifies) and why."""

    rule: RuleResult | None
    reason: str
    target: float
    min_labeled: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule.as_dict() if self.rule else None,
            "reason": self.reason,
            "target": self.target,
            "min_labeled": self.min_labeled,
        }


def rule_choose(results: Sequence[RuleResult], *, target: float, min_labeled: int) -> RuleChoice:
    """The rule with the largest coverage among those whose 95% Wilson lower bound reaches
    `target`; none when fewer than `min_labeled` items have reference labels or no rule
    qualifies. Ties keep the earlier (simpler) rule."""
    labeled = max((r.labeled for r in results), default=0)
    if labeled < min_labeled:
        why = f"only {labeled} labeled items; auto-accept needs at least {min_labeled}"
        return RuleChoice(None, why, target, min_labeled)
    ok = [r for r in results if r.low is not None and r.low >= target]
    if not ok:
        best = max((r.low or 0.0 for r in results), default=0.0)
        why = f"no rule's accuracy lower bound reaches {target:.2f} (best {best:.3f})"
        return RuleChoice(None, why, target, min_labeled)
    chosen = max(ok, key=lambda r: r.coverage)
    why = (
        f"{chosen.label}: accuracy {chosen.accuracy or 0:.3f} (95% CI {chosen.low:.3f}–"
        f"{chosen.high:.3f}) on {chosen.accepted} of {chosen.labeled} labeled items"
    )
    return RuleChoice(chosen, why, target, min_labeled)


def method_curves(items: Sequence[Verdicts]) -> dict[str, list[dict[str, float]]]:
    """Accuracy against coverage per method on the labeled items: the PRM as a curve over
    its score margin, the judge and MC (no confidence of their own) and their agreements
    as single points. Points with nothing accepted are left out."""
    labeled = [v for v in items if v.reference is not None]
    if not labeled:
        return {}

    def point(preds: list[tuple[int | None, int]], **extra: float) -> dict[str, float] | None:
        r = _result("", "", preds)
        if r.accuracy is None:
            return None
        return {"coverage": r.coverage, "accuracy": r.accuracy, "n": r.accepted, **extra}

    out: dict[str, list[dict[str, float]]] = {}
    ref = [int(v.reference or 0) for v in labeled]
    single = {
        "judge": [v.judge for v in labeled],
        "MC": [v.mc for v in labeled],
        "judge ∧ MC": [rule_predict("judge_mc_agree", v) for v in labeled],
        "all three": [rule_predict("all_agree", v) for v in labeled],
    }
    for name, preds in single.items():
        p = point(list(zip(preds, ref, strict=True)))
        if p:
            out[name] = [p]
    prm = []
    for m in CURVE_MARGINS:
        preds = [rule_predict(f"prm_margin_{m:g}", v) for v in labeled]
        p = point(list(zip(preds, ref, strict=True)), margin=m)
        if p:
            prm.append(p)
    if prm:
        out["PRM"] = prm
    return out


def uncertainty(v: Verdicts) -> float | None:
    """How much a human label of this item would change what we know, in [0, 1]; None when
    no model has looked at it.

    1.0 when the methods that gave a verdict disagree (judge, MC and PRM; a method with no
    verdict is not counted); otherwise the PRM's closeness to its threshold,
    1 - margin / max(threshold, 1 - threshold); 0.0 for agreeing methods without a PRM.
    """
    verdicts = [x for x in (v.judge, v.mc, v.prm) if x is not None]
    if len(set(verdicts)) > 1:
        return 1.0
    margin = prm_margin(v)
    if margin is not None:
        span = max(v.prm_threshold, 1 - v.prm_threshold) or 1.0
        return max(0.0, min(1.0, 1 - margin / span))
    return 0.0 if verdicts else None
