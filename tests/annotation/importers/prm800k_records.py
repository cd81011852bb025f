"""PRM800K records written for the tests, in the shape of the dataset's own files.

README_RECORD follows the annotated example in PRM800K's README (phase 2, generation 9): a
pre-generated solution of 16 steps to "the greatest common factor of 20! and 200,000"; the
labeler rated the first three steps 0, 0, -1 and stopped at that first mistake, and the third
step lists five rated completions with `chosen_completion: null` (the first of them is the
pre-generated step). The texts are written for this test in the README's words; no PRM800K
file is copied here. PHASE2_SOLUTION is a phase 2 record rated to the end, PHASE1_RECORD a
phase 1 record (no pre-generated solution: the trajectory is the chosen completions and a
step the labeler wrote).
"""

from __future__ import annotations

import copy
import json
from typing import Any

LABELER = "340d89bc-f5b7-45e9-b272-909ba68ee363"

GCF_STEPS = [
    "I want to find the largest positive integer that divides both $20 !$ and $200,\\!000$ evenly.",
    "One way to do this is to factor both numbers into prime factors and look for the common ones.",
    "I know that $200,\\!000 = 2^5\\cdot 10^4 = 2^9\\cdot 5^4$.",
    "To find the prime factorization of $20 !$, I can use the fact that it is the product of all the positive integers from $1$ to $20$.",
    "For each prime number $p$ between $1$ and $20$, I can count how many multiples of $p$ are in that range.",
    "For example, there are $10$ multiples of $2$ between $1$ and $20$, namely $2, 4, 6, \\dots, 20$.",
    "But some of these multiples are also multiples of $4, 8, 16$, which have more factors of $2$.",
    "To account for this, I can use the formula that the exponent of $p$ in $20 !$ is $\\sum_{k=1}^{\\infty} \\lfloor \\frac{20}{p^k} \\rfloor$, where $\\lfloor x \\rfloor$ is the floor function.",
    "Using this formula, I get that the exponent of $2$ in $20 !$ is $\\lfloor \\frac{20}{2} \\rfloor + \\lfloor \\frac{20}{4} \\rfloor + \\lfloor \\frac{20}{8} \\rfloor + \\lfloor \\frac{20}{16} \\rfloor = 10 + 5 + 2 + 1 = 18$.",
    "Similarly, the exponent of $5$ in $20 !$ is $\\lfloor \\frac{20}{5} \\rfloor + \\lfloor \\frac{20}{25} \\rfloor = 4 + 0 = 4$.",
    "The exponents of $3, 7, 11, 13, 17, 19$ in $20 !$ are not relevant for the greatest common factor, since they do not divide $200,\\!000$.",
    "So, the prime factorization of $20 !$ is $2^{18}\\cdot 5^4\\cdot 3^a\\cdot 7^b\\cdot 11^c\\cdot 13^d\\cdot 17^e\\cdot 19^f$, where $a, b, c, d, e, f$ are some positive integers.",
    "Now, to find the greatest common factor of $20 !$ and $200,\\!000$, I need to take the lowest power of each common prime factor.",
    "The common prime factors are $2$ and $5$.",
    "The lowest powers are $2^9$ and $5^4$, respectively.",
    "So, the greatest common factor is $2^9\\cdot 5^4 = 320,\\!000$.\n\n# Answer\n\n320,000",
]  # fmt: skip

# The third step's five rated completions; the first is the pre-generated step.
GCF_STEP3 = [
    (GCF_STEPS[2], -1),
    ("To find the greatest common factor, I need to take the lowest power of each prime factor that appears in both numbers.", 0),
    ("I know that $200,\\!000 = 2^5\\cdot 10^4$, so its prime factorization is $2^5\\cdot 2^4\\cdot 5^4 = 2^9\\cdot 5^4$.", -1),
    ("I know that $200,\\!000 = 2^6\\cdot 5^5$, so it has six factors of $2$ and five factors of $5$.", 1),
    ("I know that $200,\\!000 = 2^5\\cdot 10^4$, so its prime factors are $2$ and $5$.", 0),
]  # fmt: skip


def completion(text: str, rating: int | None, flagged: bool | None = None) -> dict[str, Any]:
    return {"text": text, "rating": rating, "flagged": flagged}


def step(completions: list[dict], chosen: int | None = 0, human: Any = None) -> dict[str, Any]:
    return {"completions": completions, "human_completion": human, "chosen_completion": chosen}


README_RECORD: dict[str, Any] = {
    "labeler": LABELER,
    "timestamp": "2023-01-22T04:34:27.052924",
    "generation": 9,
    "is_quality_control_question": False,
    "is_initial_screening_question": False,
    "question": {
        "problem": "What is the greatest common factor of $20 !$ and $200,\\!000$?  (Reminder: If $n$ is a positive integer, then $n!$ stands for the product $1\\cdot 2\\cdot 3\\cdot \\cdots \\cdot (n-1)\\cdot n$.)",
        "ground_truth_solution": "The prime factorization of $200,000$ is $2^6 \\cdot 5^5$. Then count the number of factors of $2$ and $5$ in $20!$. Since there are $10$ even numbers, there are more than $6$ factors of $2$. There are $4$ factors of $5$. So the greatest common factor is $2^6 \\cdot 5^4=\\boxed{40,\\!000}$.",
        "ground_truth_answer": "40,\\!000",
        "pre_generated_steps": GCF_STEPS,
        "pre_generated_answer": "320,000",
        "pre_generated_verifier_score": 0.010779580529581414,
    },
    "label": {
        "steps": [
            step([completion(GCF_STEPS[0], 0)]),
            step([completion(GCF_STEPS[1], 0)]),
            step([completion(text, rating) for text, rating in GCF_STEP3], chosen=None),
        ],
        "total_time": 278270,
        "finish_reason": "found_error",
    },
}  # fmt: skip

# Phase 2, rated to the end (a correct solution), the second step flagged by the labeler.
MINUTES_STEPS = [
    "7.8 minutes is 7 minutes and 0.8 minutes.",
    "There are 60 * 7 = 420 seconds in 7 minutes and 60 * 0.8 = 48 in 0.8 minutes.",
    "So there are 420 + 48 = 468 seconds.\n\n# Answer\n\n468",
]
PHASE2_SOLUTION: dict[str, Any] = {
    "labeler": "9f1c2b4e-7a55-4c1e-8d0b-3e2f6a7b8c9d",
    "timestamp": "2023-02-03T11:02:10.000001",
    "generation": 4,
    "is_quality_control_question": True,
    "is_initial_screening_question": False,
    "question": {
        "problem": "How many seconds are in 7.8 minutes?",
        "ground_truth_solution": "7.8 minutes is $7.8\\cdot 60=\\boxed{468}$ seconds.",
        "ground_truth_answer": "468",
        "pre_generated_steps": MINUTES_STEPS,
        "pre_generated_answer": None,
        "pre_generated_verifier_score": 0.93,
    },
    "label": {
        "steps": [
            step([completion(MINUTES_STEPS[0], 1)]),
            step([completion(MINUTES_STEPS[1], 1, True)]),
            step([completion(MINUTES_STEPS[2], 1)]),
        ],
        "total_time": 41000,
        "finish_reason": "solution",
    },
}

# Phase 1: no pre-generated solution. The labeler rated two alternatives at the first step
# and chose the second; rated the only completion of step 2 wrong and wrote their own step;
# chose the first of two at step 3; then finished.
PHASE1_RECORD: dict[str, Any] = {
    "labeler": "e90a38f3-3135-4465-87af-3e6322e3d772",
    "timestamp": "2022-07-17T16:56:51.323252",
    "generation": None,
    "is_quality_control_question": False,
    "is_initial_screening_question": False,
    "question": {
        "problem": "Find $x$ if $2x + 3 = 11$.",
        "ground_truth_solution": "Subtracting 3 gives $2x = 8$, so $x = \\boxed{4}$.",
        "ground_truth_answer": "4",
    },
    "label": {
        "steps": [
            step(
                [completion("Add 3 to both sides: $2x = 14$.", -1),
                 completion("Subtract 3 from both sides: $2x = 8$.", 1)],
                chosen=1,
            ),
            step(
                [completion("Divide by 3: $x = 8/3$.", -1)],
                chosen=None,
                human={"text": "Divide both sides by 2: $x = 4$.", "rating": None},
            ),
            step(
                [completion("So $x = \\boxed{4}$.\n\n# Answer\n\n4", 1),
                 completion("So $x = 4$, and $2 \\cdot 4 + 3 = 11$ checks.", 1)],
                chosen=0,
            ),
        ],
        "total_time": 90000,
        "finish_reason": "solution",
    },
}  # fmt: skip


def jsonl(*records: dict[str, Any]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


def variant(record: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(record)
