"""ProcessBench's metric on hand-made cases, checked against a line-by-line copy of the
reference computation in QwenLM/ProcessBench code/run_eval.py (numpy means)."""

import math
import warnings

import numpy as np
import pytest

from labeling_jobs.evaluation import (
    processbench_score,
    step_agreement,
    step_labels_from_first_error,
)


def reference_run_eval(preds, labels):
    res_data = [{"label": lab, "match": p == lab} for p, lab in zip(preds, labels, strict=True)]
    data1 = [e for e in res_data if e["label"] != -1]
    data2 = [e for e in res_data if e["label"] == -1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        acc1 = np.mean([e["match"] for e in data1]) * 100
        acc2 = np.mean([e["match"] for e in data2]) * 100
        f1 = 2 * acc1 * acc2 / (acc1 + acc2)
    return float(acc1), float(acc2), float(f1)


CASES = {
    "mixed": ([2, -1, 0, None, -1, 1], [2, -1, 1, 3, 0, 1]),
    "perfect": ([0, -1, 3], [0, -1, 3]),
    "all_correct_set": ([-1, -1, 2], [-1, -1, -1]),
    "all_wrong_set": ([0, 1, None], [0, 2, 1]),
    "index_off_by_one": ([1, 2, -1, -1], [0, 1, -1, -1]),
    "predicts_error_on_correct": ([0, 0, 0], [0, -1, -1]),
}


@pytest.mark.parametrize("name", CASES)
def test_matches_processbench_reference(name):
    preds, labels = CASES[name]
    ours = processbench_score(preds, labels)
    acc1, acc2, f1 = reference_run_eval(preds, labels)
    for mine, theirs in ((ours.acc_error, acc1), (ours.acc_correct, acc2), (ours.f1, f1)):
        if math.isnan(theirs):
            assert math.isnan(mine)
        else:
            assert mine == pytest.approx(theirs, abs=1e-12)


def test_hand_values():
    s = processbench_score([2, -1, 0, None, -1, 1], [2, -1, 1, 3, 0, 1])
    assert (s.n_error, s.n_correct) == (5, 1)
    assert s.acc_error == pytest.approx(40.0)  # 2 of 5 exact
    assert s.acc_correct == pytest.approx(100.0)
    assert s.f1 == pytest.approx(2 * 40 * 100 / 140)


def test_all_correct_set_has_undefined_error_accuracy():
    s = processbench_score([-1, 0], [-1, -1])
    assert math.isnan(s.acc_error)
    assert s.acc_correct == 50.0
    assert math.isnan(s.f1)
    assert s.as_json()["f1"] is None


def test_all_wrong_predictions_give_zero_f1_not_nan():
    # ProcessBench's numpy gives NaN here (0/0); METHODS.md defines it as 0.
    s = processbench_score([1, 0], [0, -1])
    assert (s.acc_error, s.acc_correct, s.f1) == (0.0, 0.0, 0.0)


def test_step_labels_and_agreement():
    assert step_labels_from_first_error(-1, 3) == [1, 1, 1]
    assert step_labels_from_first_error(1, 4) == [1, 0, None, None]
    # item 1: pred -1 vs ref 1 on 3 steps: step0 agree, step1 disagree, step2 unlabelled by ref
    # item 2: no prediction: left out
    assert step_agreement([-1, None], [1, 0], [3, 2]) == (1, 2)
