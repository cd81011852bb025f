"""PRM methods: `prm_score` (a PRM scores every step of a trace in one forward pass) and
`prm_train` (the project trains its own PRM from its labels; see `labeling_jobs.training`)."""

from __future__ import annotations

from django.conf import settings

from annotation.models import SuggestionMethod
from labeling_jobs.methods.base import ChunkOutput, MethodContext, items_with_steps, steps_of
from labeling_jobs.model_settings import model_settings_get
from labeling_jobs.prm import first_below, prm_step_scores


def run_prm_score(ctx: MethodContext) -> ChunkOutput:
    out = ChunkOutput()
    items = items_with_steps(ctx, out)
    model = model_settings_get(ctx.job.model_name)
    threshold = float(ctx.params["threshold"])
    traces = [(item.prompt, [s.text for s in steps_of(item)]) for item in items]
    scores = prm_step_scores(
        model, traces, token_budget=int(settings.STEPWISE_LABELING_TOKEN_BUDGET)
    )
    for item, per_step in zip(items, scores, strict=True):
        for step, score in zip(steps_of(item), per_step, strict=True):
            out.suggestions.append(
                ctx.suggestion(
                    item, SuggestionMethod.PRM, f"step:{step.index}", step=step, score=score,
                    label="" if score is None else ("+" if score >= threshold else "-"),
                    raw={"format": model.format, "model": model.name,
                         **({"note": "past the model's max_length"} if score is None else {})},
                )
            )  # fmt: skip
        fe = first_below(per_step, threshold)
        out.stats["verdicts" if fe is not None else "no_verdict"] += 1
        known = [s for s in per_step if s is not None]
        out.suggestions.append(
            ctx.suggestion(
                item, SuggestionMethod.PRM, "item", label="" if fe is None else str(fe),
                score=min(known) if known else None,
                raw={"scores": per_step, "threshold": threshold, "format": model.format,
                     "model": model.name},
            )
        )  # fmt: skip
    return out


def run_prm_train(ctx: MethodContext) -> ChunkOutput:
    from labeling_jobs.training import prm_train_run

    out = ChunkOutput()
    result = prm_train_run(
        job_id=ctx.job.id, project=ctx.project, item_ids=[i.id for i in ctx.items],
        base_model=ctx.job.model_name, params=ctx.params,
    )  # fmt: skip
    out.stats.update({k: v for k, v in result["counts"].items() if isinstance(v, int)})
    return out
