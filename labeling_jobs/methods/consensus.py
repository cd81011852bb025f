"""Consensus of a judge, an MC job and (when there is one) a PRM job: a label is accepted
without a human only under the rule the project's calibration chose (measured accuracy on
human- or gold-labeled items reaching its target, `annotation.calibration`); disagreement
routes the item to humans."""

from __future__ import annotations

from annotation.calibration import Verdicts, rule_predict
from annotation.models import SuggestionMethod
from labeling_jobs.methods.base import ChunkOutput, MethodContext


def run_consensus(ctx: MethodContext) -> ChunkOutput:
    """Judge vs MC first error per trace (Qwen PRM lessons): disagreement, or a missing or
    unparsable verdict, routes the item to humans; agreement is a consensus suggestion, and
    a label only where the job's pinned auto-accept rule accepts the item."""
    from annotation.selectors.calibration import item_verdicts

    out = ChunkOutput()
    ids = [i.id for i in ctx.items]
    p = ctx.params
    jj, mj, pj = int(p["judge_job_id"]), int(p["mc_job_id"]), p.get("prm_job_id")
    verdicts = item_verdicts(
        project=ctx.project, item_ids=ids, job_ids={"judge": jj, "mc": mj, "prm": pj},
        with_reference=False,
    )  # fmt: skip
    choice = p.get("auto_accept_rule") or {}
    rule = (choice.get("rule") or {}).get("rule") if p.get("auto_accept") else None
    for item in ctx.items:
        v = verdicts.get(item.id, Verdicts())
        j, m = v.judge, v.mc
        if j is None or m is None:
            reason = "no judge verdict" if j is None else "no MC verdict"
        elif j != m:
            reason = "disagree"
        else:
            reason = ""
        raw = {"judge": j, "mc": m, "prm": v.prm, "judge_job_id": jj, "mc_job_id": mj,
               "prm_job_id": pj, "reason": reason or "agree", "rule": rule}  # fmt: skip
        accepted = rule_predict(rule, v) if rule else None
        if accepted is not None:
            # Accepted at the rule's measured accuracy: labeled, not routed to humans.
            out.consensus_labels.append((item, accepted))
            out.stats["auto_labeled"] += 1
            out.stats["agreed" if not reason else "accepted by the PRM rule"] += 1
            out.suggestions.append(
                ctx.suggestion(
                    item, SuggestionMethod.CONSENSUS, "item", label=str(accepted), score=1.0,
                    raw=raw,
                )
            )  # fmt: skip
            continue
        if p.get("auto_accept") and not reason:
            out.stats["agreed, left to humans"] += 1
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
        out.suggestions.append(
            ctx.suggestion(
                item, SuggestionMethod.CONSENSUS, "item", label=str(j), score=1.0, raw=raw
            )
        )
    return out
