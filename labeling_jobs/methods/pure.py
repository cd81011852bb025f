"""Pure parts of the methods (value policies, votes, the binary search, pair verdicts),
tested without a model."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from annotation.models import Item
from labeling_jobs.answers import answers_match, extract_answer


@dataclass
class StepValue:
    n_rollouts: int
    n_correct: int
    n_truncated: int
    n_unparsed: int
    n_grader_error: int
    value: float | None  # soft estimate; None = unlabelled under the policy
    answers: list[str | None]

    @property
    def hard(self) -> int | None:
        return None if self.value is None else int(self.value > 0)

    def raw(self, policy: str, source: str = "rollouts") -> dict[str, Any]:
        return {
            "source": source,
            "n_rollouts": self.n_rollouts,
            "n_correct": self.n_correct,
            "n_truncated": self.n_truncated,
            "n_unparsed": self.n_unparsed,
            "n_grader_error": self.n_grader_error,
            "unfinished_policy": policy,
            "answers": self.answers,
        }


def step_value(
    completions: Sequence[Any], reference: str, *, policy: str, min_valid: int
) -> StepValue:
    """MC value of one prefix from its rollouts (METHODS §0.3 and §1).

    A rollout that hit the token limit counts as truncated unless it already stated an
    answer explicitly; one that stopped without an answer is unparsed. Under "incorrect"
    both are failures in the denominator; under "drop" they leave it, and fewer than
    `min_valid` remaining rollouts leave the step unlabelled.
    """
    correct = truncated = unparsed = grader_error = 0
    answers: list[str | None] = []
    for c in completions:
        ans = extract_answer(c.text, explicit_only=c.finish_reason == "length")
        answers.append(ans)
        if ans is None:
            if c.finish_reason == "length":
                truncated += 1
            else:
                unparsed += 1
            continue
        ok = answers_match(ans, reference)
        if ok is None:
            grader_error += 1
        elif ok:
            correct += 1
    n = len(completions)
    valid = n - truncated - unparsed - grader_error if policy == "drop" else n
    value = correct / valid if valid > 0 and valid >= min_valid else None
    return StepValue(n, correct, truncated, unparsed, grader_error, value, answers)


def final_answer_value(item: Item) -> StepValue:
    """The last step is judged from the trace's own final answer, with no rollouts."""
    steps = [s.text for s in item.steps.all()]
    ans = item.final_answer.strip() or extract_answer(steps[-1] if steps else "")
    ok = answers_match(ans, item.reference_answer)
    return StepValue(0, int(bool(ok)), 0, int(ans is None), int(ok is None), float(bool(ok)), [ans])


def first_zero(values: Sequence[int | None]) -> int | None:
    """First index with hard label 0, -1 if none; None if an unlabelled step comes first."""
    for i, v in enumerate(values):
        if v is None:
            return None
        if v == 0:
            return i
    return -1


def majority_vote(verdicts: Sequence[int | None]) -> tuple[int | None, Counter[str]]:
    """The most frequent verdict (ties: the smaller index) and the histogram (None = "none")."""
    hist: Counter[str] = Counter("none" if v is None else str(v) for v in verdicts)
    votes = Counter(v for v in verdicts if v is not None)
    if not votes:
        return None, hist
    best = max(votes.items(), key=lambda kv: (kv[1], -kv[0]))[0]
    return best, hist


def pair_verdict(p_a_first: float, p_a_second: float) -> tuple[bool, float, int]:
    """From P(A is better) with A shown first and with A shown second: (consistent,
    mean P(A better), strength in -3..+3 with negative = A better; 0 when inconsistent)."""
    p = (p_a_first + p_a_second) / 2
    consistent = (p_a_first > 0.5 and p_a_second > 0.5) or (p_a_first < 0.5 and p_a_second < 0.5)
    if not consistent:
        return False, p, 0
    margin = abs(p - 0.5) * 2
    size = 1 if margin < 1 / 3 else 2 if margin < 2 / 3 else 3
    return True, p, -size if p > 0.5 else size


@dataclass
class SearchState:
    """OmegaPRM's binary search for the first prefix whose MC value is 0, over paragraph
    steps. The last step's value comes free from the final-answer check. Values are assumed
    monotone (a dead prefix stays dead), so a correct final answer ends the search at once
    with no error found."""

    n_steps: int
    final_correct: bool
    lo: int = 0
    hi: int = 0
    estimates: dict[int, float | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.hi = self.n_steps - 1
        if self.final_correct:
            self.lo = self.hi = -1

    @property
    def done(self) -> bool:
        return self.lo >= self.hi

    @property
    def mid(self) -> int:
        return (self.lo + self.hi) // 2

    def record(self, index: int, value: float | None) -> None:
        self.estimates[index] = value
        # An unlabelled prefix (policy "drop") is treated as dead: conservative for positives.
        if value is not None and value > 0:
            self.lo = index + 1
        else:
            self.hi = index

    @property
    def first_error(self) -> int:
        return -1 if self.final_correct else self.lo


def search_first_error(
    n_steps: int, final_correct: bool, estimate: Callable[[int], float | None]
) -> SearchState:
    """The search for one trace with an estimator callback (used by tests and the bench)."""
    state = SearchState(n_steps, final_correct)
    while not state.done:
        i = state.mid
        state.record(i, estimate(i))
    return state
