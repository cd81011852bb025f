"""Monte-Carlo methods: per-step MC estimation (Math-Shepherd) and the first-error binary
search (OmegaPRM). Rollouts of every prefix of a chunk go to the backend in one call."""

from __future__ import annotations

from annotation.models import Item, SuggestionMethod
from labeling_jobs.backends import SamplingParams
from labeling_jobs.methods.base import (
    ChunkOutput,
    MethodContext,
    backend_of,
    steps_of,
    with_reference,
)
from labeling_jobs.methods.pure import (
    SearchState,
    StepValue,
    final_answer_value,
    first_zero,
    step_value,
)
from labeling_jobs.prompts import solver_messages, steps_prefix


def run_mc_estimate(ctx: MethodContext) -> ChunkOutput:
    out = ChunkOutput()
    backend = backend_of(ctx)
    policy, min_valid = ctx.params["unfinished_policy"], int(ctx.params["min_valid"])
    n = int(ctx.params["n_rollouts"])
    items = with_reference(ctx, out)
    keys: list[tuple[Item, int]] = []
    prompts: list[str] = []
    for item in items:
        texts = [s.text for s in steps_of(item)]
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
        steps = steps_of(item)
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


def run_first_error_search(ctx: MethodContext) -> ChunkOutput:
    out = ChunkOutput()
    backend = backend_of(ctx)
    policy, min_valid = ctx.params["unfinished_policy"], int(ctx.params["min_valid"])
    n = int(ctx.params["n_rollouts"])
    items = with_reference(ctx, out)
    states: dict[int, SearchState] = {}
    step_values: dict[tuple[int, int], StepValue] = {}
    for item in items:
        final = final_answer_value(item)
        step_values[(item.id, len(steps_of(item)) - 1)] = final
        states[item.id] = SearchState(len(steps_of(item)), bool(final.hard))
    by_id = {item.id: item for item in items}
    rnd = 0
    while active := [iid for iid, st in states.items() if not st.done]:
        prompts, keys = [], []
        for iid in active:
            item, i = by_id[iid], states[iid].mid
            texts = [s.text for s in steps_of(item)]
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
        steps = steps_of(item)
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
