"""Step-label formats: trl_stepwise, math_shepherd, processbench, prm800k."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from annotation.aggregation import FinalLabel, Vote
from annotation.exporters.base import ExportContext, Exporter, Row, item_agreement
from annotation.exporters.prm800k_record import prm800k_label_steps, prm800k_question
from annotation.exporters.source import ItemData
from annotation.models import Annotation

_STEP_PREFIX = re.compile(r"^\s*Step\s+\d+\s*:", re.IGNORECASE)


@dataclass(slots=True)
class StepView:
    """One labelled version of an item's steps: final (aggregated) or one annotator's."""

    ratings: list[int | None]
    confidence: list[float]
    first_error: int | None
    first_error_confidence: float
    finish_reason: str
    source: str
    annotator: str
    cant_judge: list[bool]
    time_ms: int | None
    timestamp: str


def _final_source(labels: list[FinalLabel | None]) -> str:
    kinds = Counter(fl.source for fl in labels if fl is not None)
    return kinds.most_common(1)[0][0] if kinds else ""


def step_views(ctx: ExportContext, item: ItemData) -> Iterator[StepView | None]:
    """The versions of this item to export under the `labels` option."""
    n = len(item.steps)
    raters = ctx.raters(item)
    excluded = set(ctx.options["exclude_finish_reasons"])
    if not ctx.final:
        for ann in raters:
            if ann.finish_reason in excluded:
                ctx.dropped["finish_reason"] += 1
                continue
            ctx.annotators_used[ann.annotator_id] += 1
            ratings = ann.step_ratings(n)
            yield StepView(
                ratings=ratings,
                confidence=[1.0] * n,
                first_error=ann.first_error(n),
                first_error_confidence=1.0,
                finish_reason=ann.finish_reason,
                source=ann.source,
                annotator=ctx.name(ann.annotator_id),
                cant_judge=[ann.ratings.get(i, (None, False))[1] for i in range(n)],
                time_ms=ann.time_spent_ms,
                timestamp=ann.created_at.isoformat() if ann.created_at else "",
            )
        return
    adj = ctx.adjudicated(item)
    if not raters and adj is None:
        return
    if len(raters) == 1 and adj is None:
        yield _single_view(ctx, item, raters[0], excluded)
        return
    per_rater = [a.step_ratings(n) for a in raters]
    adj_ratings = adj.step_ratings(n) if adj is not None else [None] * n
    finals: list[FinalLabel | None] = []
    for i in range(n):
        votes = [
            Vote(a.annotator_id, float(rating), a.source == Annotation.Source.CONSENSUS)
            for a, r in zip(raters, per_rater, strict=True)
            if (rating := r[i]) is not None
        ]
        adjudicated = adj_ratings[i]
        finals.append(
            ctx.final_label(
                "step_rating", votes, float(adjudicated) if adjudicated is not None else None
            )
        )
    fe_votes = []
    for a in raters:
        fe = a.first_error(n)
        if fe is not None:
            fe_votes.append(Vote(a.annotator_id, float(fe), a.source == "consensus"))
    adj_fe = adj.first_error(n) if adj is not None else None
    fe_final = ctx.final_label(
        "first_error_index", fe_votes, float(adj_fe) if adj_fe is not None else None
    )
    min_agreement = ctx.options["min_agreement"]
    if min_agreement is not None and adj is None:
        agreement = item_agreement([[r[i] for r in per_rater] for i in range(n)])
        if agreement is None or agreement < min_agreement:
            ctx.dropped["min_agreement"] += 1
            return
    reasons = Counter(a.finish_reason for a in raters if a.finish_reason)
    finish = adj.finish_reason if adj is not None and adj.finish_reason else (
        reasons.most_common(1)[0][0] if reasons else ""
    )  # fmt: skip
    if finish in excluded:
        ctx.dropped["finish_reason"] += 1
        return
    for a in raters:
        ctx.annotators_used[a.annotator_id] += 1
    yield StepView(
        ratings=[int(fl.value) if fl is not None else None for fl in finals],
        confidence=[fl.confidence if fl is not None else 0.0 for fl in finals],
        first_error=int(fe_final.value) if fe_final is not None else None,
        first_error_confidence=fe_final.confidence if fe_final is not None else 0.0,
        finish_reason=finish,
        source=_final_source(finals) if adj is None else "adjudication",
        annotator="final",
        cant_judge=[False] * n,
        time_ms=None,
        timestamp="",
    )


def _single_view(
    ctx: ExportContext, item: ItemData, ann: Any, excluded: set[str]
) -> StepView | None:
    """Final labels of an item with one annotator: theirs, confidence 1 (the common case
    of a fresh import; no aggregation to do)."""
    n = len(item.steps)
    if ann.finish_reason in excluded:
        ctx.dropped["finish_reason"] += 1
        return None
    if ctx.options["min_agreement"] is not None:
        ctx.dropped["min_agreement"] += 1
        return None
    ratings = ann.step_ratings(n)
    mark = "+consensus" if ann.source == Annotation.Source.CONSENSUS else ""
    ctx.final_sources["single" + mark] += sum(r is not None for r in ratings)
    ctx.annotators_used[ann.annotator_id] += 1
    return StepView(
        ratings=ratings,
        confidence=[1.0] * n,
        first_error=ann.first_error(n),
        first_error_confidence=1.0,
        finish_reason=ann.finish_reason,
        source="single" + mark,
        annotator="final",
        cant_judge=[False] * n,
        time_ms=None,
        timestamp="",
    )


def _bool_steps(
    ctx: ExportContext, item: ItemData, view: StepView
) -> tuple[list[str], list[bool], list[float | None], list[int]] | None:
    """(steps, labels, mc values, step indexes) under the neutral mapping and the
    truncation option; None when the view fails the confidence filter or has no label."""
    neutral = ctx.options["neutral"]
    min_conf = ctx.options["min_confidence"]
    steps: list[str] = []
    labels: list[bool] = []
    mc: list[float | None] = []
    kept: list[int] = []
    for i, text in enumerate(item.steps):
        r = view.ratings[i]
        if r is None:
            break
        if view.confidence[i] < min_conf:
            ctx.dropped["min_confidence"] += 1
            return None
        if r == 0 and neutral == "drop":
            continue
        label = r == 1 or (r == 0 and neutral == "true")
        steps.append(text)
        labels.append(label)
        mc.append(item.mc_values.get(i))
        kept.append(i)
        if r == -1 and ctx.options["truncate_after_first_error"]:
            break
    if not steps:
        ctx.dropped["no_labels"] += 1
        return None
    for lab in labels:
        ctx.step_labels["true" if lab else "false"] += 1
    return steps, labels, mc, kept


class _StepExporter(Exporter):
    project_kinds = ("step_labels",)
    balanceable = True
    aggregate_fields = ("step_rating", "first_error_index")
    task_categories: ClassVar[tuple[str, ...]] = ("token-classification", "text-classification")
    tags = ("process-supervision", "prm", "step-labels")

    def manifest_extra(self, ctx: ExportContext) -> dict[str, Any]:
        neutral = ctx.options["neutral"]
        return {
            "label_mapping": {
                "+1": True,
                "0": {"true": True, "false": False, "drop": "step dropped"}[neutral],
                "-1": False,
            },
            "truncate_after_first_error": ctx.options["truncate_after_first_error"],
            "unlabelled_steps": "the record ends at the first step without a label",
            "step_labels": dict(ctx.step_labels),
        }


def _boolean_views(
    ctx: ExportContext, items: list[ItemData]
) -> Iterator[tuple[ItemData, Any, Any]]:
    """(item, label view, boolean steps) for every exportable view of every item."""
    for item in items:
        for view in step_views(ctx, item):
            if view is None:
                continue
            built = _bool_steps(ctx, item, view)
            if built is not None:
                yield item, view, built


class TrlStepwiseExporter(_StepExporter):
    name = "trl_stepwise"
    label = "TRL stepwise supervision (PRMTrainer): prompt, completions, labels"

    def records(self, ctx: ExportContext, items: list[ItemData]) -> Iterator[Row]:
        want_mc = ctx.options["mc_values"]
        for item, view, (steps, labels, mc, _) in _boolean_views(ctx, items):
            data: dict[str, Any] = {
                "prompt": item.prompt,
                "completions": steps,
                "labels": labels,
            }
            if want_mc:
                data["mc_values"] = mc
            data["id"] = item.external_id
            data["source"] = view.source if ctx.final else view.annotator
            yield Row(data, item.group_key, "positive" if all(labels) else "negative")

    def arrow_schema(self, ctx: ExportContext) -> Any:
        import pyarrow as pa

        fields = [
            ("prompt", pa.string()),
            ("completions", pa.list_(pa.string())),
            ("labels", pa.list_(pa.bool_())),
        ]
        if ctx.options["mc_values"]:
            fields.append(("mc_values", pa.list_(pa.float64())))
        fields += [("id", pa.string()), ("source", pa.string())]
        return pa.schema(fields)

    def manifest_extra(self, ctx: ExportContext) -> dict[str, Any]:
        out = super().manifest_extra(ctx)
        out["step_separator"] = "\n (TRL PRMTrainer default; use the same at inference)"
        out["mc_values"] = (
            "mean Monte-Carlo estimate per step (Suggestion method=mc), null where none"
            if ctx.options["mc_values"]
            else "not exported"
        )
        return out


class MathShepherdExporter(_StepExporter):
    name = "math_shepherd"
    label = "Math-Shepherd tagged input/label strings (OpenRLHF PRM layout)"

    def records(self, ctx: ExportContext, items: list[ItemData]) -> Iterator[Row]:
        tag = ctx.options["step_tag"]
        for item, view, (steps, labels, _, _) in _boolean_views(ctx, items):
            parts_in, parts_label = [], []
            for k, (text, lab) in enumerate(zip(steps, labels, strict=True), start=1):
                clean = text.replace(tag, "").strip()
                if not _STEP_PREFIX.match(clean):
                    clean = f"Step {k}: {clean}"
                parts_in.append(f"{clean} {tag}")
                parts_label.append(f"{clean} {'+' if lab else '-'}")
            prompt = item.prompt.replace(tag, "").strip()
            data = {
                "input": f"{prompt} " + "\n".join(parts_in),
                "label": f"{prompt} " + "\n".join(parts_label),
                "task": ctx.options["task"] or str(item.metadata.get("task", "")),
                "id": item.external_id,
                "source": view.source if ctx.final else view.annotator,
            }
            yield Row(data, item.group_key, "positive" if all(labels) else "negative")

    def arrow_schema(self, ctx: ExportContext) -> Any:
        import pyarrow as pa

        return pa.schema([(c, pa.string()) for c in ("input", "label", "task", "id", "source")])

    def manifest_extra(self, ctx: ExportContext) -> dict[str, Any]:
        out = super().manifest_extra(ctx)
        out["step_tag"] = ctx.options["step_tag"]
        out["layout"] = (
            "input = problem + ' ' + 'Step k: ... <tag>' joined by newlines; label is input "
            "with each tag replaced by + or - in order"
        )
        return out


class ProcessBenchExporter(_StepExporter):
    name = "processbench"
    label = "ProcessBench records: id, generator, problem, steps, final_answer_correct, label"
    balanceable = False
    task_categories = ("text-classification",)

    def records(self, ctx: ExportContext, items: list[ItemData]) -> Iterator[Row]:
        min_conf = ctx.options["min_confidence"]
        for item in items:
            for view in step_views(ctx, item):
                if view is None:
                    continue
                if view.first_error is None:
                    ctx.dropped["no_labels"] += 1
                    continue
                if view.first_error_confidence < min_conf:
                    ctx.dropped["min_confidence"] += 1
                    continue
                data: dict[str, Any] = {
                    "id": item.external_id,
                    "generator": item.generator_model,
                    "problem": item.prompt,
                    "steps": list(item.steps),
                    "final_answer_correct": item.final_answer_correct,
                    "label": view.first_error,
                }
                if not ctx.final:
                    data["annotator"] = view.annotator
                yield Row(data, item.group_key, "error" if view.first_error >= 0 else "correct")

    def arrow_schema(self, ctx: ExportContext) -> Any:
        import pyarrow as pa

        fields = [
            ("id", pa.string()),
            ("generator", pa.string()),
            ("problem", pa.string()),
            ("steps", pa.list_(pa.string())),
            ("final_answer_correct", pa.bool_()),
            ("label", pa.int64()),
        ]
        if not ctx.final:
            fields.append(("annotator", pa.string()))
        return pa.schema(fields)

    def manifest_extra(self, ctx: ExportContext) -> dict[str, Any]:
        return {"label": "0-based index of the earliest wrong step, -1 when every step is right"}


class Prm800kExporter(_StepExporter):
    name = "prm800k"
    label = "PRM800K records (phase-2 shape) with per-step ratings"
    balanceable = False

    def records(self, ctx: ExportContext, items: list[ItemData]) -> Iterator[Row]:
        for item in items:
            meta = item.metadata or {}
            for view in step_views(ctx, item):
                if view is None:
                    continue
                steps, prm = prm800k_label_steps(
                    steps=item.steps, ratings=view.ratings, flagged=view.cant_judge, meta=meta,
                    annotator=view.annotator,
                )  # fmt: skip
                if not steps:
                    ctx.dropped["no_labels"] += 1
                    continue
                finish = view.finish_reason or ("found_error" if -1 in view.ratings else "solution")
                own = prm is not None and view.annotator != "final"
                data = {
                    "labeler": meta.get("labeler") if own else view.annotator,
                    "timestamp": view.timestamp,
                    "generation": meta.get("generation") if prm is not None else None,
                    "is_quality_control_question": item.is_gold,
                    "is_initial_screening_question": bool(
                        prm is not None and meta.get("is_initial_screening_question")
                    ),
                    "question": prm800k_question(
                        problem=item.prompt,
                        reference=item.reference_answer,
                        steps=item.steps,
                        answer=item.final_answer,
                        prm=prm,
                    ),  # fmt: skip
                    "label": {
                        "steps": steps,
                        "total_time": view.time_ms
                        if view.time_ms is not None or prm is None
                        else meta.get("total_time_ms"),
                        "finish_reason": finish,
                    },
                    "id": item.external_id,
                }
                negative = any(r == -1 for r in view.ratings)
                yield Row(data, item.group_key, "negative" if negative else "positive")

    def arrow_schema(self, ctx: ExportContext) -> Any:
        import pyarrow as pa

        completion = pa.struct(
            [("text", pa.string()), ("rating", pa.int64()), ("flagged", pa.bool_())]
        )
        step = pa.struct(
            [
                ("completions", pa.list_(completion)),
                ("human_completion", pa.struct([("text", pa.string()), ("rating", pa.int64())])),
                ("chosen_completion", pa.int64()),
            ]
        )
        return pa.schema(
            [
                ("labeler", pa.string()),
                ("timestamp", pa.string()),
                ("generation", pa.int64()),
                ("is_quality_control_question", pa.bool_()),
                ("is_initial_screening_question", pa.bool_()),
                (
                    "question",
                    pa.struct(
                        [
                            ("problem", pa.string()),
                            ("ground_truth_answer", pa.string()),
                            ("pre_generated_steps", pa.list_(pa.string())),
                            ("pre_generated_answer", pa.string()),
                        ]
                    ),
                ),
                (
                    "label",
                    pa.struct(
                        [
                            ("steps", pa.list_(step)),
                            ("total_time", pa.int64()),
                            ("finish_reason", pa.string()),
                        ]
                    ),
                ),
                ("id", pa.string()),
            ]
        )

    def manifest_extra(self, ctx: ExportContext) -> dict[str, Any]:
        return {
            "ratings": "-1 bad, 0 okay, +1 great (PRM800K); steps after the last rated one "
            "are omitted; items imported from PRM800K keep their rated alternative "
            "completions, null choices, human steps and generation; for others "
            "`generation` is null (not a PRM800K generation)",
        }
