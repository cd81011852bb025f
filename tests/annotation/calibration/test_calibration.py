"""Calibrated auto-accept and uncertainty (annotation.calibration): the Wilson interval,
each rule, the choice under a target and a minimum, and the ProcessBench GSM8K file's expert
labels with synthetic predictions of known accuracy (choose on one half, check on the other)."""

from __future__ import annotations

import json
import random

import pytest

from annotation.calibration import (
    RuleResult,
    Verdicts,
    method_curves,
    prm_margin,
    rule_choose,
    rule_predict,
    rules_evaluate,
    uncertainty,
    wilson_interval,
)
from tests.conftest import shared_file


def test_wilson_interval_known_values():
    # Reference values (statsmodels proportion_confint(method="wilson")).
    low, high = wilson_interval(45, 50)
    assert low == pytest.approx(0.7864, abs=1e-4)
    assert high == pytest.approx(0.9565, abs=1e-4)
    low, high = wilson_interval(2, 2)
    assert low == pytest.approx(0.3424, abs=1e-4)
    assert high == 1.0
    assert wilson_interval(0, 0) is None
    low, high = wilson_interval(0, 10)
    assert low == 0.0
    assert high == pytest.approx(0.2775, abs=1e-4)


def test_rules_predict_or_abstain():
    v = Verdicts(judge=2, mc=2, prm=2, prm_scores=(0.9, 0.8, 0.3, 0.9), reference=2)
    assert rule_predict("judge_mc_agree", v) == 2
    assert rule_predict("all_agree", v) == 2
    # Deciding steps are 0..2; step 3 (after the error) does not count.
    assert prm_margin(v) == pytest.approx(0.2)
    assert rule_predict("prm_margin_0.2", v) == 2
    assert rule_predict("prm_margin_0.3", v) is None
    split = Verdicts(judge=1, mc=2, prm=-1, prm_scores=(0.6, 0.95))
    assert rule_predict("judge_mc_agree", split) is None
    assert rule_predict("all_agree", split) is None
    assert prm_margin(split) == pytest.approx(0.1)
    assert rule_predict("judge_mc_agree", Verdicts(judge=None, mc=None)) is None
    assert prm_margin(Verdicts(judge=1)) is None


def test_uncertainty_orders_disagreement_then_closeness():
    disagree = Verdicts(judge=1, mc=-1, prm=-1, prm_scores=(0.99, 0.99))
    close = Verdicts(judge=-1, mc=-1, prm=-1, prm_scores=(0.55, 0.99))
    sure = Verdicts(judge=-1, mc=-1, prm=-1, prm_scores=(0.99, 0.98))
    assert uncertainty(disagree) == 1.0
    assert uncertainty(close) == pytest.approx(0.9)
    assert uncertainty(sure) == pytest.approx(0.04)
    assert uncertainty(Verdicts(judge=0, mc=0)) == 0.0
    assert uncertainty(Verdicts()) is None
    # A method with no verdict is not a disagreement.
    assert uncertainty(Verdicts(judge=0, mc=None)) == 0.0


def _result(rule, accepted, correct, labeled=100):
    low_high = wilson_interval(correct, accepted)
    return RuleResult(rule, rule, labeled, accepted, correct, correct / accepted,
                      accepted / labeled, *low_high)  # fmt: skip


def test_choose_uses_the_lower_bound_and_the_minimum():
    results = [_result("a", 90, 88), _result("b", 40, 40), _result("c", 99, 90)]
    # a: 88/90 has low 0.922; b: 40/40 low 0.912; c: 90/99 low 0.836.
    choice = rule_choose(results, target=0.9, min_labeled=50)
    assert choice.rule is not None
    assert choice.rule.rule == "a"  # the larger coverage of those that qualify
    assert "accuracy 0.978" in choice.reason
    assert rule_choose(results, target=0.95, min_labeled=50).rule is None
    too_few = rule_choose(results, target=0.5, min_labeled=101)
    assert too_few.rule is None
    assert "only 100 labeled items" in too_few.reason


def test_curves_on_known_points():
    items = [
        Verdicts(judge=0, mc=0, prm=0, prm_scores=(0.1,), reference=0),
        Verdicts(judge=0, mc=1, prm=-1, prm_scores=(0.55,), reference=0),
        Verdicts(judge=None, mc=None),  # unlabeled: not measured
    ]
    curves = method_curves(items)
    assert curves["judge"] == [{"coverage": 1.0, "accuracy": 1.0, "n": 2}]
    assert curves["MC"] == [{"coverage": 1.0, "accuracy": 0.5, "n": 2}]
    prm = {p["margin"]: p for p in curves["PRM"]}
    assert prm[0.0]["coverage"] == 1.0
    assert prm[0.0]["accuracy"] == 0.5
    assert prm[0.1]["coverage"] == 0.5
    assert prm[0.1]["accuracy"] == 1.0
    assert 0.45 not in prm  # nothing accepted at that margin


def _wrong(rng: random.Random, label: int, n: int) -> int:
    return rng.choice([x for x in range(-1, n) if x != label])


def synthetic_verdicts(records: list[dict], rng: random.Random) -> list[Verdicts]:
    """Predictions of known accuracy. A quarter of the items are hard: there the judge is
    right with probability 0.6 and MC 0.55, elsewhere 0.93 and 0.9; when both are wrong they
    make the same mistake (the step after the expert's) 70% of the time, as correlated
    methods do. The PRM's verdict is right with probability 0.5 + its margin u ~ U(0, 0.5),
    its deciding steps scored exactly u away from the 0.5 threshold."""
    out = []
    for rec in records:
        n, ref = len(rec["steps"]), int(rec["label"])
        hard = rng.random() < 0.25
        judge_ok = rng.random() < (0.6 if hard else 0.93)
        mc_ok = rng.random() < (0.55 if hard else 0.9)
        common = ref + 1 if ref + 1 < n else -1 if ref != -1 else 0
        judge = ref if judge_ok else _wrong(rng, ref, n)
        mc = ref if mc_ok else _wrong(rng, ref, n)
        if not judge_ok and not mc_ok and rng.random() < 0.7:
            judge = mc = common
        u = rng.uniform(0.0, 0.5)
        prm = ref if rng.random() < 0.5 + u else _wrong(rng, ref, n)
        scores = [
            (0.5 + u if i < prm or prm == -1 else 0.5 - u) if prm == -1 or i <= prm
            else rng.random()
            for i in range(n)
        ]  # fmt: skip
        out.append(Verdicts(judge=judge, mc=mc, prm=prm, prm_scores=tuple(scores),
                            reference=ref))  # fmt: skip
    return out


def _choose_and_hold_out(records, seed, target=0.9):
    rng = random.Random(seed)
    verdicts = synthetic_verdicts(records, rng)
    order = list(range(len(verdicts)))
    rng.shuffle(order)
    half = len(order) // 2
    choose = [verdicts[i] for i in order[:half]]
    held = [verdicts[i] for i in order[half:]]
    choice = rule_choose(rules_evaluate(choose), target=target, min_labeled=50)
    assert choice.rule is not None, choice.reason
    measured = {r.rule: r for r in rules_evaluate(held)}[choice.rule.rule]
    return choice.rule, measured


def test_processbench_chosen_rule_holds_on_held_out_items():
    records = json.loads(shared_file("processbench_gsm8k.json").read_text())
    assert len(records) == 400
    rule, held = _choose_and_hold_out(records, seed=11)
    assert rule.labeled == 200
    assert rule.low >= 0.9
    assert rule.accepted >= 50
    # The measured accuracy on the other half lies inside the interval of the chosen rule.
    assert rule.low <= held.accuracy <= rule.high, (rule, held)
    # Over many splits it mostly does (each is a fresh sample, so not always): a check that
    # the interval is honest, not fitted to one seed.
    # Misses are mostly a held-out 1.0 above an upper bound below 1; what auto-accept relies
    # on is the lower bound, which the held-out accuracy falls under far less often.
    inside = above_low = 0
    for seed in range(40):
        r, h = _choose_and_hold_out(records, seed=seed)
        inside += r.low <= h.accuracy <= r.high
        above_low += h.accuracy >= r.low
    assert inside >= 28, inside
    assert above_low >= 36, above_low


def test_processbench_refuses_with_too_few_labels():
    records = json.loads(shared_file("processbench_gsm8k.json").read_text())[:40]
    verdicts = synthetic_verdicts(records, random.Random(0))
    choice = rule_choose(rules_evaluate(verdicts), target=0.9, min_labeled=50)
    assert choice.rule is None
    assert "only 40 labeled items" in choice.reason
