"""Preference formats: trl_preference, openai_preference, helpsteer2."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from annotation.aggregation import Vote, most_similar_triple, rounded_mean
from annotation.exporters.base import ExportContext, Exporter, Row, item_agreement
from annotation.exporters.source import AnnotationData, ItemData
from annotation.models import Annotation

ASSISTANT_SPEAKERS = frozenset(
    {"assistant", "therapist", "counselor", "counsellor", "model", "bot", "ai", "gpt"}
)


def role_of(speaker: str) -> str:
    low = speaker.strip().lower()
    if low == "system":
        return "system"
    return "assistant" if low in ASSISTANT_SPEAKERS else "user"


def messages_of(item: ItemData) -> list[dict[str, str]]:
    """The item's context as chat messages: its turns, or its prompt as one user message."""
    if item.turns:
        return [{"role": role_of(s), "content": t} for s, t in item.turns]
    return [{"role": "user", "content": item.prompt}]


def prompt_text(item: ItemData) -> str:
    if item.turns:
        return "\n".join(f"{s}: {t}" for s, t in item.turns)
    return item.prompt


@dataclass(slots=True)
class Pair:
    """A judged pair of candidate indexes lo < hi; strength > 0 means hi is better."""

    lo: int
    hi: int
    strength: int
    confidence: float
    source: str
    annotator: str
    justifications: list[tuple[int, str]] = field(default_factory=list)  # (strength, text)


def _normalised(ann: AnnotationData) -> dict[tuple[int, int], int]:
    out = {}
    for a, b, strength, _margin, _left in ann.preferences:
        out[(a, b) if a < b else (b, a)] = strength if a < b else -strength
    return out


def _sign(x: float) -> int:
    return (x > 0) - (x < 0)


def item_pairs(ctx: ExportContext, item: ItemData) -> Iterator[list[Pair]]:
    """The pair sets to export for an item: one (final) or one per annotator."""
    raters = ctx.raters(item)
    if not ctx.final:
        for ann in raters:
            prefs = _normalised(ann)
            if not prefs:
                continue
            ctx.annotators_used[ann.annotator_id] += 1
            yield [
                Pair(lo, hi, s, 1.0, ann.source, ctx.name(ann.annotator_id),
                     [(s, ann.justification)])
                for (lo, hi), s in prefs.items()
            ]  # fmt: skip
        return
    adj = ctx.adjudicated(item)
    per_rater = [(a, _normalised(a)) for a in raters]
    adj_prefs = _normalised(adj) if adj is not None else {}
    keys = sorted({k for _, p in per_rater for k in p} | set(adj_prefs))
    if not keys:
        return
    min_agreement = ctx.options["min_agreement"]
    if min_agreement is not None and adj is None:
        agreement = item_agreement(
            [[_sign(p[k]) if k in p else None for _, p in per_rater] for k in keys]
        )
        if agreement is None or agreement < min_agreement:
            ctx.dropped["min_agreement"] += 1
            return
    pairs = []
    for key in keys:
        votes = [
            Vote(a.annotator_id, float(_sign(p[key])), a.source == Annotation.Source.CONSENSUS)
            for a, p in per_rater
            if key in p
        ]
        adjudicated = adj_prefs.get(key)
        fl = ctx.final_label(
            "preference_direction", votes,
            float(_sign(adjudicated)) if adjudicated is not None else None,
        )  # fmt: skip
        if fl is None:
            continue
        direction = int(fl.value)
        if adjudicated is not None:
            strength = adjudicated
        elif direction == 0:
            strength = 0
        else:
            agreeing = [p[key] for _, p in per_rater if key in p and _sign(p[key]) == direction]
            strength = rounded_mean(most_similar_triple(agreeing)) if agreeing else direction
            if _sign(strength) != direction:
                strength = direction
        justifications = [(p[key], a.justification) for a, p in per_rater if key in p]
        if adj is not None and key in adj_prefs:
            justifications.insert(0, (adj_prefs[key], adj.justification))
        pairs.append(Pair(key[0], key[1], strength, fl.confidence, fl.source, "final",
                          justifications))  # fmt: skip
    for a, _ in per_rater:
        ctx.annotators_used[a.annotator_id] += 1
    yield pairs


def oriented_pairs(ctx: ExportContext, pairs: list[Pair]) -> Iterator[tuple[int, int, Pair]]:
    """(chosen, rejected, pair) under the `pairs` option; ties come out as (lo, hi, pair)
    with strength 0. Pairs below `min_confidence` are dropped."""
    min_conf = ctx.options["min_confidence"]
    kept = []
    for p in pairs:
        if p.confidence < min_conf:
            ctx.dropped["min_confidence"] += 1
            continue
        kept.append(p)
    ties = [p for p in kept if p.strength == 0]
    decided = [p for p in kept if p.strength != 0]
    if ctx.options["pairs"] == "best_vs_rest" and decided:
        score: dict[int, int] = {}
        direct: dict[tuple[int, int], Pair] = {}
        for p in decided:
            win, lose = (p.hi, p.lo) if p.strength > 0 else (p.lo, p.hi)
            score[win] = score.get(win, 0) + abs(p.strength)
            score[lose] = score.get(lose, 0) - abs(p.strength)
            direct[(win, lose)] = p
        best = max(sorted(score), key=lambda c: score[c])
        for c in sorted(score):
            if c == best or score[c] >= score[best] or (c, best) in direct:
                continue
            found = direct.get((best, c))
            if found is None:
                lo, hi = min(best, c), max(best, c)
                found = Pair(lo, hi, 1 if hi == best else -1, 1.0, "ranking", "final")
            yield best, c, found
    else:
        for p in decided:
            yield (p.hi, p.lo, p) if p.strength > 0 else (p.lo, p.hi, p)
    for p in ties:
        yield p.lo, p.hi, p


class _PairExporter(Exporter):
    project_kinds = ("preference",)
    aggregate_fields = ("preference_direction",)
    task_categories = ("text-generation", "text-classification")
    tags = ("preference", "dpo", "reward-modeling", "rlhf")
    web_options = (*Exporter.web_options, "min_agreement", "ties", "pairs")

    def row(
        self, ctx: ExportContext, item: ItemData, chosen: int, rejected: int, p: Pair
    ) -> dict[str, Any]:
        raise NotImplementedError

    def records(self, ctx: ExportContext, items: list[ItemData]) -> Iterator[Row]:
        ties = ctx.options["ties"]
        for item in items:
            for pairs in item_pairs(ctx, item):
                for chosen, rejected, p in oriented_pairs(ctx, pairs):
                    tie = p.strength == 0
                    if tie and ties == "drop":
                        ctx.dropped["tie"] += 1
                        continue
                    yield Row(
                        self.row(ctx, item, chosen, rejected, p),
                        item.group_key,
                        "tie" if tie else "pair",
                        split="ties" if tie else None,
                    )

    def manifest_extra(self, ctx: ExportContext) -> dict[str, Any]:
        return {
            "pairs": ctx.options["pairs"],
            "ties": ctx.options["ties"],
            "strength": "-3..+3 relative to the pair; margin = |strength| (TRL RewardTrainer)",
            "conversational": ctx.conversational,
        }


class TrlPreferenceExporter(_PairExporter):
    name = "trl_preference"
    label = "TRL preference (DPOTrainer, RewardTrainer): prompt, chosen, rejected, margin"

    def row(
        self, ctx: ExportContext, item: ItemData, chosen: int, rejected: int, p: Pair
    ) -> dict[str, Any]:
        if ctx.conversational:
            prompt: Any = messages_of(item)
            ch: Any = [{"role": "assistant", "content": item.candidates[chosen]}]
            rj: Any = [{"role": "assistant", "content": item.candidates[rejected]}]
        else:
            prompt, ch, rj = item.prompt, item.candidates[chosen], item.candidates[rejected]
        return {
            "prompt": prompt,
            "chosen": ch,
            "rejected": rj,
            "margin": float(abs(p.strength)),
            "source": p.source if ctx.final else p.annotator,
            "id": item.external_id,
        }

    def arrow_schema(self, ctx: ExportContext) -> Any:
        import pyarrow as pa

        msg = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
        text = msg if ctx.conversational else pa.string()
        return pa.schema(
            [
                ("prompt", text),
                ("chosen", text),
                ("rejected", text),
                ("margin", pa.float64()),
                ("source", pa.string()),
                ("id", pa.string()),
            ]
        )


class OpenAIPreferenceExporter(_PairExporter):
    name = "openai_preference"
    label = "OpenAI preference fine-tuning JSONL: input, preferred_output, non_preferred_output"
    dedup_ignore = ()

    def row(
        self, ctx: ExportContext, item: ItemData, chosen: int, rejected: int, p: Pair
    ) -> dict[str, Any]:
        return {
            "input": {"messages": messages_of(item)},
            "preferred_output": [{"role": "assistant", "content": item.candidates[chosen]}],
            "non_preferred_output": [{"role": "assistant", "content": item.candidates[rejected]}],
        }

    def arrow_schema(self, ctx: ExportContext) -> Any:
        import pyarrow as pa

        msgs = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
        return pa.schema(
            [
                ("input", pa.struct([("messages", msgs)])),
                ("preferred_output", msgs),
                ("non_preferred_output", msgs),
            ]
        )


def _principles(
    ctx: ExportContext, item: ItemData, pair_raters: list[AnnotationData], cand: int | None
) -> list[dict[str, Any]]:
    values: dict[str, list[int]] = {}
    for ann in pair_raters:
        for principle, c, value in ann.principles:
            if c == cand:
                values.setdefault(principle, []).append(value)
    return [
        {"principle": k, "value": round(sum(v) / len(v), 4), "n": len(v)} for k, v in values.items()
    ]


class HelpSteer2Exporter(Exporter):
    name = "helpsteer2"
    label = "HelpSteer2-Preference layout: strength -3..+3, justification, principle ratings"
    project_kinds = ("preference",)
    aggregate_fields = ("preference_direction",)
    task_categories = ("text-classification", "text-generation")
    tags = ("preference", "helpsteer2", "reward-modeling")
    web_options = (*Exporter.web_options, "min_agreement", "ties")

    def records(self, ctx: ExportContext, items: list[ItemData]) -> Iterator[Row]:
        min_conf = ctx.options["min_confidence"]
        for item in items:
            raters = ctx.raters(item)
            by_name = {ctx.name(a.annotator_id): a for a in raters}
            for pairs in item_pairs(ctx, item):
                for p in pairs:
                    if p.confidence < min_conf:
                        ctx.dropped["min_confidence"] += 1
                        continue
                    if p.strength == 0 and ctx.options["ties"] == "drop":
                        ctx.dropped["tie"] += 1
                        continue
                    who = raters if ctx.final else [by_name[p.annotator]]
                    statement = next(
                        (j for s, j in p.justifications if j and _sign(s) == _sign(p.strength)), ""
                    )
                    data = {
                        "prompt": prompt_text(item),
                        "response_1": item.candidates[p.lo],
                        "response_2": item.candidates[p.hi],
                        "preference_strength": p.strength,
                        "preference_statement": statement,
                        "all_preferences_unprocessed": [
                            {"strength": s, "justification": j} for s, j in p.justifications
                        ],
                        "response_1_principles": _principles(ctx, item, who, p.lo),
                        "response_2_principles": _principles(ctx, item, who, p.hi),
                        "pair_principles": _principles(ctx, item, who, None),
                        "source": p.source if ctx.final else p.annotator,
                        "id": item.external_id,
                    }
                    yield Row(data, item.group_key, "tie" if p.strength == 0 else "pair")

    def arrow_schema(self, ctx: ExportContext) -> Any:
        import pyarrow as pa

        principles = pa.list_(
            pa.struct([("principle", pa.string()), ("value", pa.float64()), ("n", pa.int64())])
        )
        return pa.schema(
            [
                ("prompt", pa.string()),
                ("response_1", pa.string()),
                ("response_2", pa.string()),
                ("preference_strength", pa.int64()),
                ("preference_statement", pa.string()),
                (
                    "all_preferences_unprocessed",
                    pa.list_(pa.struct([("strength", pa.int64()), ("justification", pa.string())])),
                ),
                ("response_1_principles", principles),
                ("response_2_principles", principles),
                ("pair_principles", principles),
                ("source", pa.string()),
                ("id", pa.string()),
            ]
        )

    def manifest_extra(self, ctx: ExportContext) -> dict[str, Any]:
        return {
            "preference_strength": "-3: response_1 much better .. +3: response_2 much better; "
            "final = rounded mean of the three most similar ratings agreeing with the final "
            "direction (HelpSteer2 rule)",
            "principles": "mean per principle over the annotators (per response and per pair)",
        }
