"""What every labeling method shares: its input (`MethodContext`), its output (`ChunkOutput`)
and small helpers over items."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from annotation.models import Item, Project, Suggestion
from labeling_jobs.backends import BackendError, ModelBackend, SamplingParams
from labeling_jobs.models import LabelingJob

# Model outputs kept in a suggestion's `raw`, per output, at most this long.
RAW_TEXT_LIMIT = 4000


@dataclass
class ChunkOutput:
    suggestions: list[Suggestion] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    stats: Counter[str] = field(default_factory=Counter)
    routed_item_ids: set[int] = field(default_factory=set)
    # (item, first error index) pairs the consensus accepted as labels.
    consensus_labels: list[tuple[Item, int]] = field(default_factory=list)


@dataclass
class MethodContext:
    job: LabelingJob
    project: Project
    items: Sequence[Item]
    backend: ModelBackend | None
    params: dict[str, Any]
    seed: int

    def suggestion(self, item: Item, method: str, target: str, **kw: Any) -> Suggestion:
        return Suggestion(
            item=item, job_id=self.job.id, method=method, target=target,
            model_name=self.job.model_name, **kw,
        )  # fmt: skip

    def sampling(self) -> SamplingParams:
        p = self.params
        return SamplingParams(
            max_new_tokens=int(p["max_new_tokens"]),
            temperature=float(p["temperature"]),
            top_p=float(p["top_p"]),
            seed=self.seed,
        )


def with_reference(ctx: MethodContext, out: ChunkOutput) -> list[Item]:
    kept = []
    for item in ctx.items:
        if not item.reference_answer.strip():
            out.skipped["no reference answer"] += 1
        elif not list(item.steps.all()):
            out.skipped["no steps"] += 1
        else:
            kept.append(item)
    return kept


def backend_of(ctx: MethodContext) -> ModelBackend:
    """The job's model backend; BackendError for a job created without one."""
    if ctx.backend is None:
        raise BackendError(f"{ctx.job.kind} jobs need a model backend")
    return ctx.backend


def steps_of(item: Item) -> list[Any]:
    return list(item.steps.all())


def items_with_steps(ctx: MethodContext, out: ChunkOutput) -> list[Item]:
    items = [i for i in ctx.items if steps_of(i)]
    if len(items) < len(ctx.items):
        out.skipped["no steps"] += len(ctx.items) - len(items)
    return items
