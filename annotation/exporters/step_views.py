"""The labelled versions of a step item that the step formats export: final labels
(aggregated over the annotators, or the one annotator's, or an adjudication) or one view per
annotator, and their boolean step labels under the export's options."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from annotation.aggregation import FinalLabel, Vote
from annotation.exporters.base import ExportContext, item_agreement
from annotation.exporters.source import ItemData
from annotation.models import Annotation


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


def boolean_views(ctx: ExportContext, items: list[ItemData]) -> Iterator[tuple[ItemData, str, Any]]:
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
