"""Consensus of a judge and an MC job (Qwen PRM lessons): agreement becomes a label,
anything else routes the item to humans."""

from __future__ import annotations

from annotation.models import SuggestionMethod
from labeling_jobs.methods.base import ChunkOutput, MethodContext


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
