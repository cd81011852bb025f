"""The step judge: a critique that names the first wrong paragraph (ProcessBench's critic
protocol), or verify mode, P(Yes) for "is step k correct?" at every step."""

from __future__ import annotations

from annotation.models import Item, SuggestionMethod
from labeling_jobs.answers import parse_boxed_index
from labeling_jobs.backends.base import normalise
from labeling_jobs.methods.base import (
    RAW_TEXT_LIMIT,
    ChunkOutput,
    MethodContext,
    backend_of,
    items_with_steps,
    steps_of,
)
from labeling_jobs.methods.pure import majority_vote
from labeling_jobs.prompts import critique_messages, verify_pieces


def run_step_judge(ctx: MethodContext) -> ChunkOutput:
    out = ChunkOutput()
    items = items_with_steps(ctx, out)
    if ctx.params["mode"] == "verify":
        return run_verify(ctx, items, out)
    backend = backend_of(ctx)
    votes = int(ctx.params["votes"])
    prompts = [
        backend.chat_prompt(critique_messages(i.prompt, [s.text for s in steps_of(i)]))
        for i in items
    ]
    # Every item of the chunk in one batch: the backend decodes them together.
    if votes <= 1:
        samples = [
            [c] for c in backend.greedy(prompts, max_new_tokens=int(ctx.params["max_new_tokens"]))
        ]
    else:
        samples = backend.sample(prompts, n=votes, params=ctx.sampling())
    for item, comps in zip(items, samples, strict=True):
        n_steps = len(steps_of(item))
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


def run_verify(ctx: MethodContext, items: list[Item], out: ChunkOutput) -> ChunkOutput:
    """P(Yes) per step. The prompts of one trace share the problem and the earlier steps,
    so the backend encodes each trace once (`branch_logprobs`), all traces of the chunk
    batched together."""
    backend = backend_of(ctx)
    threshold = float(ctx.params.get("threshold", 0.5))
    head, tail = backend.chat_parts()
    trunks, branches = [], []
    for item in items:
        pieces, questions = verify_pieces(item.prompt, [s.text for s in steps_of(item)])
        trunks.append([head + pieces[0], *pieces[1:]])
        branches.append([(k + 1, q + tail) for k, q in enumerate(questions)])
    scores = backend.branch_logprobs(trunks, branches, ["Yes", "No"]) if items else []
    for item, per_step in zip(items, scores, strict=True):
        probs = []
        for step, lp in zip(steps_of(item), per_step, strict=True):
            p_yes = normalise(lp)["Yes"]
            probs.append(p_yes)
            out.suggestions.append(
                ctx.suggestion(
                    item, SuggestionMethod.VERIFY, f"step:{step.index}", step=step, score=p_yes,
                    label="+" if p_yes >= threshold else "-",
                    raw={"mode": "verify", "logp_yes": lp["Yes"], "logp_no": lp["No"]},
                )
            )  # fmt: skip
        fe = next((i for i, p in enumerate(probs) if p < threshold), -1)
        out.stats["verdicts"] += 1
        out.suggestions.append(
            ctx.suggestion(
                item, SuggestionMethod.VERIFY, "item", label=str(fe),
                score=min(probs) if probs else None,
                raw={"mode": "verify", "p_yes": probs, "threshold": threshold},
            )
        )  # fmt: skip
    return out
