"""Step-label formats: trl_stepwise, math_shepherd, processbench, prm800k."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, ClassVar

from annotation.exporters.base import ExportContext, Exporter, Row, serialise_parts
from annotation.exporters.prm800k_record import prm800k_label_steps, prm800k_question
from annotation.exporters.source import ItemData
from annotation.exporters.step_views import boolean_views, step_views

_STEP_PREFIX = re.compile(r"^\s*Step\s+\d+\s*:", re.IGNORECASE)


class _StepExporter(Exporter):
    project_kinds = ("step_labels",)
    balanceable = True
    aggregate_fields = ("step_rating", "first_error_index")
    task_categories: ClassVar[tuple[str, ...]] = ("token-classification", "text-classification")
    tags = ("process-supervision", "prm", "step-labels")
    web_options = (
        *Exporter.web_options, "min_agreement", "neutral", "truncate_after_first_error",
        "balance",
    )  # fmt: skip

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


class TrlStepwiseExporter(_StepExporter):
    name = "trl_stepwise"
    label = "TRL stepwise supervision (PRMTrainer): prompt, completions, labels"
    web_options = (*_StepExporter.web_options, "mc_values")

    def records(self, ctx: ExportContext, items: list[ItemData]) -> Iterator[Row]:
        want_mc = ctx.options["mc_values"]
        # The JSON line is made here, from the columns that tell rows apart and then the two
        # that do not (id, source, in `dedup_ignore` order), as `serialise` would make it.
        for item, source, (steps, labels, mc, _) in boolean_views(ctx, items):
            data: dict[str, Any] = {
                "prompt": item.prompt,
                "completions": steps,
                "labels": labels,
            }
            if want_mc:
                data["mc_values"] = mc
            tail = {"id": item.external_id, "source": source}
            line, digest = serialise_parts(data, tail)
            data.update(tail)
            label = "positive" if all(labels) else "negative"
            yield Row(data, item.group_key, label, line=line, digest=digest)

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
        for item, source, (steps, labels, _, _) in boolean_views(ctx, items):
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
