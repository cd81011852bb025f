"""Step-label formats: trl_stepwise, math_shepherd, processbench, prm800k."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from annotation.aggregation import FinalLabel, Vote
from annotation.exporters.base import ExportContext, Exporter, Row, item_agreement
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
    excluded = ctx.excluded_finish
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
            Vote(a.annotator_id, float(r[i]), a.source == Annotation.Source.CONSENSUS)
            for a, r in zip(raters, per_rater, strict=True)
            if r[i] is not None
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
        agreement = item_agreement(
            [[r[i] for r in per_rater] for i in range(n)]  # type: ignore[misc]
        )
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
    ctx: ExportContext, item: ItemData, ann: Any, excluded: frozenset[str]
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
    return _bool_ratings(ctx, item, view.ratings, view.confidence)


def _bool_ratings(
    ctx: ExportContext, item: ItemData, ratings: list[int | None], confidence: list[float] | None
) -> tuple[list[str], list[bool], list[float | None], list[int]] | None:
    """`_bool_steps` of per-step ratings; `confidence` None means 1.0 everywhere."""
    options = ctx.options
    neutral = options["neutral"]
    min_conf = options["min_confidence"]
    truncate = options["truncate_after_first_error"]
    mc_values = item.mc_values
    steps: list[str] = []
    labels: list[bool] = []
    mc: list[float | None] = []
    kept: list[int] = []
    for i, text in enumerate(item.steps):
        r = ratings[i]
        if r is None:
            break
        if confidence is not None and confidence[i] < min_conf:
            ctx.dropped["min_confidence"] += 1
            return None
        if r == 0:
            if neutral == "drop":
                continue
            label = neutral == "true"
        else:
            label = r == 1
        steps.append(text)
        labels.append(label)
        mc.append(mc_values.get(i))
        kept.append(i)
        if r == -1 and truncate:
            break
    if not steps:
        ctx.dropped["no_labels"] += 1
        return None
    # Counted in the order the classes first appear (the manifest lists them so).
    n_true = sum(labels)
    n_false = len(labels) - n_true
    counts = ctx.step_labels
    if labels[0]:
        counts["true"] += n_true
        if n_false:
            counts["false"] += n_false
    else:
        counts["false"] += n_false
        if n_true:
            counts["true"] += n_true
    return steps, labels, mc, kept


class _StepExporter(Exporter):
    project_kinds = ("step_labels",)
    balanceable = True
    aggregate_fields = ("step_rating", "first_error_index")
    task_categories = ("token-classification", "text-classification")
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
) -> Iterator[tuple[ItemData, str, Any]]:
    """(item, the record's `source` column, boolean steps) for every exportable view of
    every item.

    Items with one annotator and nothing adjudicated (a fresh import: most items of a big
    project) take a direct path with the same result as `_single_view` + `_bool_steps`,
    without building a view.
    """
    final = ctx.final
    keep = ctx.rater_sources
    direct = final and ctx.options["min_agreement"] is None
    excluded = ctx.excluded_finish
    for item in items:
        anns = item.annotations
        if direct and len(anns) == 1 and anns[0].source in keep:
            ann = anns[0]
            if ann.finish_reason in excluded:
                ctx.dropped["finish_reason"] += 1
                continue
            ratings = ann.step_ratings(len(item.steps))
            source = "single+consensus" if ann.source == _CONSENSUS else "single"
            ctx.final_sources[source] += sum(r is not None for r in ratings)
            ctx.annotators_used[ann.annotator_id] += 1
            built = _bool_ratings(ctx, item, ratings, None)
            if built is not None:
                yield item, source, built
            continue
        for view in step_views(ctx, item):
            if view is None:
                continue
            built = _bool_steps(ctx, item, view)
            if built is not None:
                yield item, view.source if final else view.annotator, built


_CONSENSUS = str(Annotation.Source.CONSENSUS)


class TrlStepwiseExporter(_StepExporter):
    name = "trl_stepwise"
    label = "TRL stepwise supervision (PRMTrainer): prompt, completions, labels"

    def records(self, ctx: ExportContext, items: list[ItemData]) -> Iterator[Row]:
        want_mc = ctx.options["mc_values"]
        for item, source, (steps, labels, mc, _) in _boolean_views(ctx, items):
            data: dict[str, Any] = {
                "prompt": item.prompt,
                "completions": steps,
                "labels": labels,
            }
            if want_mc:
                data["mc_values"] = mc
            data["id"] = item.external_id
            data["source"] = source
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
        for item, source, (steps, labels, _, _) in _boolean_views(ctx, items):
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
                "source": source,
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
            for view in step_views(ctx, item):
                if view is None:
                    continue
                last = max((i for i, r in enumerate(view.ratings) if r is not None), default=-1)
                if last < 0:
                    ctx.dropped["no_labels"] += 1
                    continue
                steps = [
                    {
                        "completions": [
                            {
                                "text": item.steps[i],
                                "rating": view.ratings[i],
                                "flagged": view.cant_judge[i],
                            }
                        ],
                        "human_completion": None,
                        "chosen_completion": 0,
                    }
                    for i in range(last + 1)
                ]
                finish = view.finish_reason or ("found_error" if -1 in view.ratings else "solution")
                data = {
                    "labeler": view.annotator,
                    "timestamp": view.timestamp,
                    "generation": None,
                    "is_quality_control_question": item.is_gold,
                    "is_initial_screening_question": False,
                    "question": {
                        "problem": item.prompt,
                        "ground_truth_answer": item.reference_answer,
                        "pre_generated_steps": list(item.steps),
                        "pre_generated_answer": item.final_answer,
                    },
                    "label": {"steps": steps, "total_time": view.time_ms, "finish_reason": finish},
                    "id": item.external_id,
                }
                negative = any(view.ratings[i] == -1 for i in range(last + 1))
                yield Row(data, item.group_key, "negative" if negative else "positive")

    def arrow_schema(self, ctx: ExportContext) -> Any:
        import pyarrow as pa

        completion = pa.struct(
            [("text", pa.string()), ("rating", pa.int64()), ("flagged", pa.bool_())]
        )
        step = pa.struct(
            [
                ("completions", pa.list_(completion)),
                ("human_completion", pa.string()),
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
            "are omitted; `generation` is null (not a PRM800K generation)",
        }
