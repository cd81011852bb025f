"""The labeling methods. Each turns one chunk of items into unsaved Suggestion rows plus
counters; the chunk service writes them. Model inference happens here, outside any
transaction. Pure helpers (value policies, the binary search, pair verdicts) live in
`pure` so they are tested without a model.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from labeling_jobs.methods.base import RAW_TEXT_LIMIT, ChunkOutput, MethodContext
from labeling_jobs.methods.coding import code_labels, run_pair_judge, run_turn_coder
from labeling_jobs.methods.consensus import run_consensus
from labeling_jobs.methods.judge import run_step_judge
from labeling_jobs.methods.prm import run_prm_score, run_prm_train
from labeling_jobs.methods.pure import (
    SearchState,
    StepValue,
    final_answer_value,
    first_zero,
    majority_vote,
    pair_verdict,
    search_first_error,
    step_value,
)
from labeling_jobs.methods.rollouts import run_first_error_search, run_mc_estimate
from labeling_jobs.models import JobKind

UNFINISHED_POLICIES = ("incorrect", "drop")

# Defaults per kind; a job stores the merged parameters so its results can be recomputed.
# The step judge's mode is chosen from the model's settings (`setup.job_model_prepare`).
COMMON_DEFAULTS: dict[str, Any] = {"temperature": 0.7, "top_p": 1.0, "seed": 0}
KIND_DEFAULTS: dict[str, dict[str, Any]] = {
    JobKind.STEP_JUDGE: {"votes": 1, "max_new_tokens": 512, "temperature": 1.0, "top_p": 0.9, "threshold": 0.5},
    JobKind.MC_ESTIMATE: {"n_rollouts": 8, "max_new_tokens": 256, "unfinished_policy": "incorrect", "min_valid": 1},
    JobKind.FIRST_ERROR_SEARCH: {"n_rollouts": 8, "max_new_tokens": 256, "unfinished_policy": "incorrect", "min_valid": 1},
    JobKind.CONSENSUS: {"auto_accept": True, "routed_priority": 10},
    JobKind.PAIR_JUDGE: {"routed_priority": 10},
    JobKind.TURN_CODER: {"context_turns": 6},
    JobKind.PRM_SCORE: {"threshold": 0.5},
    JobKind.PRM_TRAIN: {},
}  # fmt: skip
# Kinds that get a generic model backend; PRM kinds load their own model (`prm`, `training`).
NEEDS_MODEL = frozenset(set(JobKind) - {JobKind.CONSENSUS, JobKind.PRM_SCORE, JobKind.PRM_TRAIN})
# Kinds whose work is one piece (a training run), not a chunk per few items.
SINGLE_CHUNK = frozenset({JobKind.PRM_TRAIN})

RUNNERS: dict[str, Callable[[MethodContext], ChunkOutput]] = {
    JobKind.STEP_JUDGE: run_step_judge,
    JobKind.MC_ESTIMATE: run_mc_estimate,
    JobKind.FIRST_ERROR_SEARCH: run_first_error_search,
    JobKind.CONSENSUS: run_consensus,
    JobKind.PAIR_JUDGE: run_pair_judge,
    JobKind.TURN_CODER: run_turn_coder,
    JobKind.PRM_SCORE: run_prm_score,
    JobKind.PRM_TRAIN: run_prm_train,
}

__all__ = [
    "COMMON_DEFAULTS", "KIND_DEFAULTS", "NEEDS_MODEL", "RAW_TEXT_LIMIT", "RUNNERS",
    "SINGLE_CHUNK", "UNFINISHED_POLICIES", "ChunkOutput", "MethodContext", "SearchState",
    "StepValue", "code_labels", "final_answer_value", "first_zero", "majority_vote",
    "pair_verdict", "search_first_error", "step_value",
]  # fmt: skip
