"""The labeling methods and their registry (`RUNNERS`, defaults per job kind). Each method
turns one chunk of items into unsaved Suggestion rows plus counters; the chunk service writes
them. The step methods live here, the counseling ones in `methods_counseling`. Model inference happens here, outside any
transaction. Pure helpers (value policies, the binary search, pair verdicts) are separate
functions so they are tested without a model.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from annotation.models import Item, SuggestionMethod
from labeling_jobs.answers import answers_match, extract_answer, parse_boxed_index
from labeling_jobs.backends import SamplingParams
from labeling_jobs.method_base import RAW_TEXT_LIMIT, ChunkOutput, MethodContext, model_backend
from labeling_jobs.methods_counseling import run_pair_judge, run_turn_coder
from labeling_jobs.models import JobKind
from labeling_jobs.prompts import (
    critique_messages,
    solver_messages,
    steps_prefix,
    verify_messages,
)

UNFINISHED_POLICIES = ("incorrect", "drop")

# Defaults per kind; a job stores the merged parameters so its results can be recomputed.
COMMON_DEFAULTS: dict[str, Any] = {"temperature": 0.7, "top_p": 1.0, "seed": 0}
KIND_DEFAULTS: dict[str, dict[str, Any]] = {
    JobKind.STEP_JUDGE: {"mode": "critique", "votes": 1, "max_new_tokens": 512, "temperature": 1.0, "top_p": 0.9},
    JobKind.MC_ESTIMATE: {"n_rollouts": 8, "max_new_tokens": 256, "unfinished_policy": "incorrect", "min_valid": 1},
    JobKind.FIRST_ERROR_SEARCH: {"n_rollouts": 8, "max_new_tokens": 256, "unfinished_policy": "incorrect", "min_valid": 1},
    JobKind.CONSENSUS: {"auto_accept": True, "routed_priority": 10},
    JobKind.PAIR_JUDGE: {"routed_priority": 10},
    JobKind.TURN_CODER: {"context_turns": 6},
}  # fmt: skip
NEEDS_MODEL = frozenset(set(JobKind) - {JobKind.CONSENSUS})


# --- pure helpers ---------------------------------------------------------------------


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


# --- methods --------------------------------------------------------------------------


def _with_reference(ctx: MethodContext, out: ChunkOutput) -> list[Item]:
    kept = []
    for item in ctx.items:
        if not item.reference_answer.strip():
            out.skipped["no reference answer"] += 1
        elif not list(item.steps.all()):
            out.skipped["no steps"] += 1
        else:
            kept.append(item)
    return kept


def _steps(item: Item) -> list[Any]:
    return list(item.steps.all())


def run_step_judge(ctx: MethodContext) -> ChunkOutput:
    out = ChunkOutput()
    backend = model_backend(ctx)
    items = [i for i in ctx.items if _steps(i)]
    if len(items) < len(ctx.items):
        out.skipped["no steps"] += len(ctx.items) - len(items)
    if ctx.params["mode"] == "verify":
        return _run_verify(ctx, items, out)
    votes = int(ctx.params["votes"])
    prompts = [
        backend.chat_prompt(critique_messages(i.prompt, [s.text for s in _steps(i)])) for i in items
    ]
    if votes <= 1:
        samples = [
            [c] for c in backend.greedy(prompts, max_new_tokens=int(ctx.params["max_new_tokens"]))
        ]
    else:
        samples = backend.sample(prompts, n=votes, params=ctx.sampling())
    for item, comps in zip(items, samples, strict=True):
        n_steps = len(_steps(item))
        verdicts = [parse_boxed_index(c.text, n_steps) for c in comps]
        best, hist = majority_vote(verdicts)
        out.stats["verdicts" if best is not None else "no_verdict"] += 1
        out.suggestions.append(
            ctx.suggestion(
                item, SuggestionMethod.JUDGE, "item",
                label="" if best is None else str(best),
                score=None if best is None else hist[str(best)] / len(comps),
                raw={
                    "mode": "critique", "votes": dict(hist), "parsed": verdicts,
                    "outputs": [c.text[:RAW_TEXT_LIMIT] for c in comps],
                    "finish_reasons": [c.finish_reason for c in comps],
                },
            )
        )  # fmt: skip
    return out


def _run_verify(ctx: MethodContext, items: list[Item], out: ChunkOutput) -> ChunkOutput:
    backend = model_backend(ctx)
    keys: list[tuple[Item, Any]] = []
    prompts: list[str] = []
    for item in items:
        steps = _steps(item)
        texts = [s.text for s in steps]
        for step in steps:
            keys.append((item, step))
            prompts.append(backend.chat_prompt(verify_messages(item.prompt, texts, step.index)))
    scores = backend.next_token_logprobs(prompts, ["Yes", "No"])
    by_item: dict[int, list[float]] = {}
    for (item, step), lp in zip(keys, scores, strict=True):
        from labeling_jobs.backends.base import normalise

        p_yes = normalise(lp)["Yes"]
        by_item.setdefault(item.id, []).append(p_yes)
        out.suggestions.append(
            ctx.suggestion(
                item, SuggestionMethod.VERIFY, f"step:{step.index}", step=step, score=p_yes,
                label="+" if p_yes >= 0.5 else "-",
                raw={"mode": "verify", "logp_yes": lp["Yes"], "logp_no": lp["No"]},
            )
        )  # fmt: skip
    for item in items:
        probs = by_item.get(item.id, [])
        fe = next((i for i, p in enumerate(probs) if p < 0.5), -1)
        out.stats["verdicts"] += 1
        out.suggestions.append(
            ctx.suggestion(
                item, SuggestionMethod.VERIFY, "item", label=str(fe),
                score=min(probs) if probs else None, raw={"mode": "verify", "p_yes": probs},
            )
        )  # fmt: skip
    return out


def run_mc_estimate(ctx: MethodContext) -> ChunkOutput:
    out = ChunkOutput()
    backend = model_backend(ctx)
    policy, min_valid = ctx.params["unfinished_policy"], int(ctx.params["min_valid"])
    n = int(ctx.params["n_rollouts"])
    items = _with_reference(ctx, out)
    keys: list[tuple[Item, int]] = []
    prompts: list[str] = []
    for item in items:
        texts = [s.text for s in _steps(item)]
        sep = (item.metadata or {}).get("step_separator") or "\n\n"
        for i in range(len(texts) - 1):
            keys.append((item, i))
            prompts.append(
                backend.chat_prompt(solver_messages(item.prompt), steps_prefix(texts, i, sep))
            )
    rollouts = backend.sample(prompts, n=n, params=ctx.sampling()) if prompts else []
    values: dict[tuple[int, int], StepValue] = {
        (item.id, i): step_value(comps, item.reference_answer, policy=policy, min_valid=min_valid)
        for (item, i), comps in zip(keys, rollouts, strict=True)
    }
    for item in items:
        steps = _steps(item)
        values[(item.id, len(steps) - 1)] = final_answer_value(item)
        hards = []
        spent = 0
        for step in steps:
            v = values[(item.id, step.index)]
            last = step.index == len(steps) - 1
            hards.append(v.hard)
            spent += v.n_rollouts
            out.stats["rollouts"] += v.n_rollouts
            out.stats["truncated"] += v.n_truncated
            out.stats["unparsed"] += v.n_unparsed
            out.suggestions.append(
                ctx.suggestion(
                    item, SuggestionMethod.MC, f"step:{step.index}", step=step, score=v.value,
                    label="" if v.hard is None else str(v.hard),
                    raw=v.raw(policy, "final_answer" if last else "rollouts"),
                )
            )  # fmt: skip
        fe = first_zero(hards)
        out.stats["verdicts" if fe is not None else "no_verdict"] += 1
        out.suggestions.append(
            ctx.suggestion(
                item, SuggestionMethod.MC, "item", label="" if fe is None else str(fe),
                raw={"hard": hards, "rollouts_spent": spent, "unfinished_policy": policy,
                     "n_rollouts": n},
            )
        )  # fmt: skip
    return out


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


def run_first_error_search(ctx: MethodContext) -> ChunkOutput:
    out = ChunkOutput()
    backend = model_backend(ctx)
    policy, min_valid = ctx.params["unfinished_policy"], int(ctx.params["min_valid"])
    n = int(ctx.params["n_rollouts"])
    items = _with_reference(ctx, out)
    states: dict[int, SearchState] = {}
    step_values: dict[tuple[int, int], StepValue] = {}
    for item in items:
        final = final_answer_value(item)
        step_values[(item.id, len(_steps(item)) - 1)] = final
        states[item.id] = SearchState(len(_steps(item)), bool(final.hard))
    by_id = {item.id: item for item in items}
    rnd = 0
    while active := [iid for iid, st in states.items() if not st.done]:
        prompts, keys = [], []
        for iid in active:
            item, i = by_id[iid], states[iid].mid
            texts = [s.text for s in _steps(item)]
            sep = (item.metadata or {}).get("step_separator") or "\n\n"
            keys.append((iid, i))
            prompts.append(
                backend.chat_prompt(solver_messages(item.prompt), steps_prefix(texts, i, sep))
            )
        params = ctx.sampling()
        params = SamplingParams(
            params.max_new_tokens, params.temperature, params.top_p, ctx.seed + 7919 * rnd
        )
        for (iid, i), comps in zip(keys, backend.sample(prompts, n=n, params=params), strict=True):
            v = step_value(comps, by_id[iid].reference_answer, policy=policy, min_valid=min_valid)
            step_values[(iid, i)] = v
            states[iid].record(i, v.value)
        rnd += 1
    for item in items:
        st = states[item.id]
        steps = _steps(item)
        spent = 0
        for step in steps:
            found = step_values.get((item.id, step.index))
            if found is None:
                continue
            spent += found.n_rollouts
            last = step.index == len(steps) - 1
            out.suggestions.append(
                ctx.suggestion(
                    item, SuggestionMethod.FIRST_ERROR_SEARCH, f"step:{step.index}", step=step,
                    score=found.value, label="" if found.hard is None else str(found.hard),
                    raw=found.raw(policy, "final_answer" if last else "rollouts"),
                )
            )  # fmt: skip
        per_step = n * (len(steps) - 1)
        out.stats["rollouts"] += spent
        out.stats["per_step_rollouts"] += per_step
        out.stats["verdicts"] += 1
        out.suggestions.append(
            ctx.suggestion(
                item, SuggestionMethod.FIRST_ERROR_SEARCH, "item", label=str(st.first_error),
                raw={"rollouts_spent": spent, "per_step_rollouts": per_step, "n_rollouts": n,
                     "estimates": {str(k): v for k, v in sorted(st.estimates.items())},
                     "unfinished_policy": policy, "search": "binary over paragraph steps"},
            )
        )  # fmt: skip
    return out


def run_consensus(ctx: MethodContext) -> ChunkOutput:
    """Judge vs MC first error per trace (Qwen PRM lessons): agreement is a consensus label,
    anything else (disagreement, a missing or unparsable verdict) routes the item to humans."""
    from annotation.selectors.suggestions import suggestion_item_verdicts

    out = ChunkOutput()
    ids = [i.id for i in ctx.items]
    jj, mj = int(ctx.params["judge_job_id"]), int(ctx.params["mc_job_id"])
    judge = suggestion_item_verdicts(item_ids=ids, job_id=jj, methods=ctx.params["judge_methods"])
    mc = suggestion_item_verdicts(item_ids=ids, job_id=mj, methods=ctx.params["mc_methods"])
    for item in ctx.items:
        j, m = judge.get(item.id), mc.get(item.id)
        if j is None or m is None:
            reason = "no judge verdict" if j is None else "no MC verdict"
        elif j != m:
            reason = "disagree"
        else:
            reason = ""
        raw = {
            "judge": j,
            "mc": m,
            "judge_job_id": jj,
            "mc_job_id": mj,
            "reason": reason or "agree",
        }
        if reason:
            out.routed_item_ids.add(item.id)
            out.stats["routed"] += 1
            out.stats[f"routed: {reason}"] += 1
            out.suggestions.append(
                ctx.suggestion(
                    item, SuggestionMethod.CONSENSUS, "item", label="", score=0.0, raw=raw
                )
            )
            continue
        out.stats["agreed"] += 1
        if ctx.params["auto_accept"] and j is not None:
            out.consensus_labels.append((item, int(j)))
            out.stats["auto_labeled"] += 1
        out.suggestions.append(
            ctx.suggestion(
                item, SuggestionMethod.CONSENSUS, "item", label=str(j), score=1.0, raw=raw
            )
        )
    return out


RUNNERS: dict[str, Callable[[MethodContext], ChunkOutput]] = {
    JobKind.STEP_JUDGE: run_step_judge,
    JobKind.MC_ESTIMATE: run_mc_estimate,
    JobKind.FIRST_ERROR_SEARCH: run_first_error_search,
    JobKind.CONSENSUS: run_consensus,
    JobKind.PAIR_JUDGE: run_pair_judge,
    JobKind.TURN_CODER: run_turn_coder,
}
