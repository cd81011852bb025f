"""The methods' pure parts: value policies, votes, the binary search and pair verdicts."""

import math
import random

import pytest

from labeling_jobs.backends import Completion
from labeling_jobs.methods import (
    first_zero,
    majority_vote,
    pair_verdict,
    search_first_error,
    step_value,
)


def c(text, finish="stop"):
    return Completion(text=text, finish_reason=finish, n_tokens=len(text.split()))


ROLLOUTS = [
    c("The answer is: 18"),
    c("so #### 18"),
    c("The answer is: 17"),
    c("I am not sure"),  # unparsed? no: no number, no answer
    c("and then 5 plus", "length"),  # truncated: last number is no answer
    c("The answer is: 18 and more", "length"),  # cut off but answered explicitly
]


def test_step_value_incorrect_policy_counts_failures():
    v = step_value(ROLLOUTS, "18", policy="incorrect", min_valid=1)
    assert (v.n_rollouts, v.n_correct, v.n_truncated, v.n_unparsed) == (6, 3, 1, 1)
    assert v.value == pytest.approx(3 / 6)
    assert v.hard == 1
    assert v.raw("incorrect")["unfinished_policy"] == "incorrect"


def test_step_value_drop_policy_and_min_valid():
    v = step_value(ROLLOUTS, "18", policy="drop", min_valid=1)
    assert v.value == pytest.approx(3 / 4)
    unlabelled = step_value([c("x", "length"), c("nothing")], "18", policy="drop", min_valid=1)
    assert unlabelled.value is None
    assert unlabelled.hard is None
    assert step_value(ROLLOUTS[:3], "18", policy="drop", min_valid=4).value is None


def test_step_value_all_wrong_is_hard_zero():
    v = step_value([c("The answer is: 1")] * 4, "18", policy="incorrect", min_valid=1)
    assert v.value == 0
    assert v.hard == 0


def test_first_zero():
    assert first_zero([1, 1, 0, 1]) == 2
    assert first_zero([1, 1]) == -1
    assert first_zero([1, None, 0]) is None


def test_majority_vote_keeps_histogram_and_ignores_no_verdicts():
    best, hist = majority_vote([2, None, 2, 1, None, None])
    assert best == 2
    assert hist == {"2": 2, "1": 1, "none": 3}
    assert majority_vote([None, None]) == (None, {"none": 2})
    assert majority_vote([3, 1])[0] == 1  # tie: the earlier step


@pytest.mark.parametrize("n_steps", [1, 2, 3, 5, 8, 13, 30])
def test_binary_search_finds_first_dead_prefix_in_log_steps(n_steps):
    rng = random.Random(n_steps)
    for _ in range(20):
        first = rng.randrange(n_steps)  # the last step is dead when the final answer is wrong
        calls = []

        def estimate(i, first=first, calls=calls):
            calls.append(i)
            assert i < n_steps - 1, "the last step comes from the final-answer check"
            return 0.0 if i >= first else 0.5

        state = search_first_error(n_steps, False, estimate)
        assert state.first_error == first
        assert len(calls) <= math.ceil(math.log2(n_steps)) if n_steps > 1 else not calls


def test_search_with_correct_final_answer_spends_nothing():
    state = search_first_error(6, True, lambda i: pytest.fail("no rollouts expected"))
    assert state.first_error == -1


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        (0.9, 0.95, (True, -3)),  # A clearly better in both orders: strong, negative = A
        (0.6, 0.55, (True, -1)),
        (0.2, 0.3, (True, 2)),
        (0.7, 0.3, (False, 0)),  # position bias: inconsistent
        (0.5, 0.9, (False, 0)),
    ],
)
def test_pair_verdict(first, second, expected):
    consistent, p, strength = pair_verdict(first, second)
    assert (consistent, strength) == expected
    assert p == pytest.approx((first + second) / 2)
