"""Methods for preference and dialogue projects: the pair judge and the turn coder, both
scored from next-token log-probabilities, all prompts of a chunk in one backend call."""

from __future__ import annotations

import string
from collections.abc import Sequence
from typing import Any

from annotation.kinds.preference_schema import principle_names
from annotation.models import Item, SuggestionMethod
from labeling_jobs.backends import ModelBackend
from labeling_jobs.backends.base import normalise
from labeling_jobs.methods.base import ChunkOutput, MethodContext, backend_of
from labeling_jobs.methods.pure import pair_verdict
from labeling_jobs.prompts import pair_messages, turn_messages


def _context_text(item: Item) -> str:
    turns = list(item.turns.all())
    if turns:
        return "\n".join(f"{t.speaker}: {t.text}" for t in turns)
    return item.prompt


def run_pair_judge(ctx: MethodContext) -> ChunkOutput:
    out = ChunkOutput()
    backend = backend_of(ctx)
    principles = principle_names(ctx.project.label_schema or {})
    jobs: list[tuple[Item, Any, Any]] = []
    prompts: list[str] = []
    for item in ctx.items:
        cands = list(item.candidates.all())
        if len(cands) < 2:
            out.skipped["fewer than two candidates"] += 1
            continue
        context = _context_text(item)
        for other in cands[1:]:
            a, b = cands[0], other
            jobs.append((item, a, b))
            prompts.append(backend.chat_prompt(pair_messages(context, a.text, b.text, principles)))
            prompts.append(backend.chat_prompt(pair_messages(context, b.text, a.text, principles)))
    scores = backend.next_token_logprobs(prompts, ["A", "B"]) if prompts else []
    for k, (item, a, b) in enumerate(jobs):
        first, second = normalise(scores[2 * k]), normalise(scores[2 * k + 1])
        consistent, p_a, strength = pair_verdict(first["A"], second["B"])
        if not consistent:
            out.routed_item_ids.add(item.id)
            out.stats["inconsistent"] += 1
        else:
            out.stats["consistent"] += 1
        out.suggestions.append(
            ctx.suggestion(
                item, SuggestionMethod.PAIR_JUDGE, f"pair:{a.index}-{b.index}", candidate=b,
                score=p_a, label=str(strength) if consistent else "",
                raw={"p_a_better_ab": first["A"], "p_a_better_ba": second["B"],
                     "consistent": consistent, "candidate_a": a.index, "candidate_b": b.index,
                     "sign": "negative = candidate_a better", "principles": principles},
            )
        )  # fmt: skip
    return out


def code_labels(backend: ModelBackend, choices: Sequence[str]) -> list[str]:
    """Score the code names themselves when their first tokens differ, else letters."""
    if backend.distinct_first_tokens(list(choices)):
        return list(choices)
    return list(string.ascii_uppercase[: len(choices)])


def run_turn_coder(ctx: MethodContext) -> ChunkOutput:
    out = ChunkOutput()
    backend = backend_of(ctx)
    fields = (ctx.project.label_schema or {}).get("fields") or []
    window = int(ctx.params["context_turns"])
    groups: dict[tuple[int, ...], list[tuple[Item, Any, int, dict[str, Any], str]]] = {}
    labels_for: dict[int, list[str]] = {}
    for k, fld in enumerate(fields):
        labels_for[k] = code_labels(backend, fld["choices"])
    for item in ctx.items:
        turns = list(item.turns.all())
        if not turns:
            out.skipped["no turns"] += 1
            continue
        for pos, turn in enumerate(turns):
            history = [(t.speaker, t.text) for t in turns[max(0, pos - window + 1) : pos + 1]]
            for k, fld in enumerate(fields):
                if str(fld.get("role", "")).lower() != turn.speaker.lower():
                    continue
                prompt = backend.chat_prompt(
                    turn_messages(history, fld["name"], fld["choices"], labels_for[k])
                )
                groups.setdefault((k,), []).append((item, turn, k, fld, prompt))
    for (k,), rows in groups.items():
        labels = labels_for[k]
        scores = backend.next_token_logprobs([r[4] for r in rows], labels)
        for (item, turn, _, fld, _), lp in zip(rows, scores, strict=True):
            probs_by_label = normalise(lp)
            probs = {c: probs_by_label[lab] for c, lab in zip(fld["choices"], labels, strict=True)}
            best = max(probs, key=lambda c: probs[c])
            out.stats["turns_coded"] += 1
            out.suggestions.append(
                ctx.suggestion(
                    item, SuggestionMethod.TURN_CODER, f"turn:{turn.index}:{k}", turn=turn,
                    score=probs[best], label=best,
                    raw={"field": fld["name"], "probs": probs, "scored_tokens": labels},
                )
            )  # fmt: skip
    return out
