"""ProcessBench's metric (QwenLM/ProcessBench code/run_eval.py), as pure functions.

For items whose reference label is an error index (label != -1), accuracy is exact index
match; for items whose label is -1, accuracy is predicting -1. Both are percentages, and F1
is their harmonic mean. A missing prediction (None) counts as wrong. Edge cases: a set with
no erroneous (or no correct) items has an undefined accuracy for that side, as numpy's
mean of an empty list is NaN there, so F1 is NaN too; when both accuracies are 0 the
harmonic mean is defined as 0 (METHODS.md §4), where numpy would give NaN.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class ProcessBenchScore:
    n: int
    n_error: int
    n_correct: int
    acc_error: float  # percent; NaN when n_error == 0
    acc_correct: float  # percent; NaN when n_correct == 0
    f1: float  # NaN when either accuracy is undefined

    def as_json(self) -> dict[str, Any]:
        return {
            k: (None if isinstance(v, float) and math.isnan(v) else v)
            for k, v in asdict(self).items()
        }


def processbench_score(
    predictions: Sequence[int | None], labels: Sequence[int]
) -> ProcessBenchScore:
    if len(predictions) != len(labels):
        raise ValueError("predictions and labels differ in length")
    err = [p == lab for p, lab in zip(predictions, labels, strict=True) if lab != -1]
    cor = [p == -1 for p, lab in zip(predictions, labels, strict=True) if lab == -1]
    acc_err = 100 * sum(err) / len(err) if err else math.nan
    acc_cor = 100 * sum(cor) / len(cor) if cor else math.nan
    if math.isnan(acc_err) or math.isnan(acc_cor):
        f1 = math.nan
    elif acc_err + acc_cor == 0:
        f1 = 0.0
    else:
        f1 = 2 * acc_err * acc_cor / (acc_err + acc_cor)
    return ProcessBenchScore(len(labels), len(err), len(cor), acc_err, acc_cor, f1)


def step_labels_from_first_error(first_error: int, n_steps: int) -> list[int | None]:
    """ProcessBench semantics: 1 before the first error, 0 at it, None (unlabelled) after."""
    return [1 if first_error == -1 or i < first_error else (0 if i == first_error else None)
            for i in range(n_steps)]  # fmt: skip


def step_agreement(
    predictions: Sequence[int | None], labels: Sequence[int], n_steps: Sequence[int]
) -> tuple[int, int]:
    """(agreeing steps, compared steps) over steps labelled by both sides; items without a
    prediction are left out."""
    agree = total = 0
    for pred, lab, n in zip(predictions, labels, n_steps, strict=True):
        if pred is None:
            continue
        for a, b in zip(
            step_labels_from_first_error(pred, n), step_labels_from_first_error(lab, n), strict=True
        ):
            if a is None or b is None:
                continue
            total += 1
            agree += int(a == b)
    return agree, total
