"""Writes of labeling jobs: create, run one chunk, cancel, retry.

Lifecycle: `labeling_job_create` writes the job and its chunks and, after commit, queues one
task per chunk on the `gpu` queue. A task claims its chunk with a conditional UPDATE that
also counts the attempt, runs the method outside any transaction, then in one transaction
upserts the suggestions and moves the chunk to done (only once: a redelivered chunk writes
the same rows and counts nothing twice). A chunk found with `max_attempts` earlier attempts
that never finished (its worker was killed, e.g. out of memory) fails the job with a message
saying so. Cancel flips the job; chunks not yet started see it and stop.
"""

from __future__ import annotations

import logging
import socket
from collections import Counter
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from annotation.dispatch import enqueue_on_commit
from annotation.errors import ApplicationError
from annotation.models import Item, Project, Routing, SuggestionMethod, User
from annotation.selectors.calibration import calibration_report
from annotation.services.model_loop import item_routing_recompute
from annotation.services.runs import RunBeat, exception_message
from annotation.services.stats import project_stats_changed
from annotation.services.suggestions import (
    consensus_annotation_upsert,
    item_priority_raise,
    suggestion_bulk_upsert,
)
from labeling_jobs.backends import BackendUnavailable, backend_get
from labeling_jobs.methods import (
    COMMON_DEFAULTS,
    KIND_DEFAULTS,
    NEEDS_MODEL,
    RUNNERS,
    SINGLE_CHUNK,
    UNFINISHED_POLICIES,
    MethodContext,
)
from labeling_jobs.methods.setup import job_model_prepare
from labeling_jobs.models import (
    ACTIVE_STATUSES,
    JOB_KIND_SPECS,
    Backend,
    JobChunk,
    JobKind,
    JobStatus,
    LabelingJob,
)

logger = logging.getLogger(__name__)

# Names of the senders labeling_jobs.tasks registers (annotation.dispatch).
CHUNK_SENDER = "labeling_jobs.chunk"
# Jobs whose verdicts feed uncertainty routing.
ROUTING_KINDS = frozenset(
    {JobKind.STEP_JUDGE, JobKind.MC_ESTIMATE, JobKind.FIRST_ERROR_SEARCH, JobKind.PRM_SCORE,
     JobKind.CONSENSUS}
)  # fmt: skip
SCOPE_KEYS = frozenset({"dataset_id", "item_ids", "external_ids", "is_complete", "limit"})


def chunk_size_default() -> int:
    return int(settings.STEPWISE_LABELING_CHUNK_SIZE)


def max_attempts() -> int:
    return int(settings.STEPWISE_LABELING_MAX_ATTEMPTS)


def _params_merge(kind: str, params: dict[str, Any] | None) -> dict[str, Any]:
    merged = {**COMMON_DEFAULTS, **KIND_DEFAULTS[kind], **(params or {})}
    for key in ("temperature", "top_p"):
        if not isinstance(merged[key], int | float) or merged[key] < 0:
            raise ApplicationError("must be a non-negative number", field=f"params.{key}")
    for key in ("max_new_tokens", "n_rollouts", "votes", "min_valid", "seed", "context_turns"):
        if key in merged and (not isinstance(merged[key], int) or merged[key] < 0):
            raise ApplicationError("must be a non-negative integer", field=f"params.{key}")
    if merged.get("n_rollouts") == 0 or merged.get("max_new_tokens") == 0:
        raise ApplicationError("n_rollouts and max_new_tokens must be at least 1", field="params")
    if "unfinished_policy" in merged and merged["unfinished_policy"] not in UNFINISHED_POLICIES:
        raise ApplicationError(
            f"one of {', '.join(UNFINISHED_POLICIES)}", field="params.unfinished_policy"
        )
    if kind == JobKind.STEP_JUDGE and merged["mode"] not in ("critique", "verify"):
        raise ApplicationError("critique or verify", field="params.mode")
    return merged


def _latest_job(project: Project, kinds: tuple[str, ...]) -> LabelingJob | None:
    return (
        LabelingJob.objects.filter(project=project, kind__in=kinds, status=JobStatus.SUCCEEDED)
        .order_by("-id")
        .first()
    )


def _consensus_params(project: Project, params: dict[str, Any]) -> dict[str, Any]:
    """Pin the judge and MC jobs the consensus compares (the latest succeeded ones unless
    given), so that the job's result can be reproduced."""
    pairs = (
        ("judge_job_id", (JobKind.STEP_JUDGE,), "a step_judge"),
        ("mc_job_id", (JobKind.MC_ESTIMATE, JobKind.FIRST_ERROR_SEARCH), "an mc_estimate or first_error_search"),
    )  # fmt: skip
    for key, kinds, what in pairs:
        if params.get(key):
            job = LabelingJob.objects.filter(
                project=project, id=params[key], kind__in=kinds
            ).first()
            if job is None:
                raise ApplicationError(
                    f"no {what} job {params[key]} in this project",
                    code="not_found_in_project",
                    field=f"params.{key}",
                )
        else:
            job = _latest_job(project, kinds)
            if job is None:
                raise ApplicationError(
                    f"run {what} job to completion first", code="prerequisite", field="kind"
                )
        params[key] = job.id
        if key == "judge_job_id":
            mode = job.params.get("mode", "critique")
            params["judge_methods"] = [
                SuggestionMethod.VERIFY if mode == "verify" else SuggestionMethod.JUDGE
            ]
        else:
            params["mc_methods"] = list(JOB_KIND_SPECS[JobKind(job.kind)].methods)
    params["prm_job_id"] = _prm_job_id(project, params.get("prm_job_id"))
    if params.get("auto_accept"):
        # The rule is chosen once, here, from the labels there are now, and pinned with its
        # measured accuracy: the job's labels can be explained and reproduced later.
        report = calibration_report(
            project=project,
            job_ids={"judge": params["judge_job_id"], "mc": params["mc_job_id"],
                     "prm": params["prm_job_id"]},
        )  # fmt: skip
        params["auto_accept_rule"] = report["choice"]
    return params


def _prm_job_id(project: Project, given: Any) -> int | None:
    """The PRM job the consensus uses for its PRM rules: the given one, else the latest
    succeeded prm_score job, else none."""
    if given:
        job = LabelingJob.objects.filter(project=project, id=given, kind=JobKind.PRM_SCORE).first()
        if job is None:
            raise ApplicationError(
                f"no prm_score job {given} in this project",
                code="not_found_in_project",
                field="params.prm_job_id",
            )
        return job.id
    latest = _latest_job(project, (JobKind.PRM_SCORE,))
    return latest.id if latest else None


def _scope_item_ids(project: Project, scope: dict[str, Any]) -> list[int]:
    unknown = set(scope) - SCOPE_KEYS
    if unknown:
        raise ApplicationError(f"unknown key(s) {', '.join(sorted(unknown))}", field="scope")
    qs = Item.objects.filter(project=project)
    if scope.get("dataset_id"):
        qs = qs.filter(dataset_id=scope["dataset_id"])
    if scope.get("item_ids"):
        qs = qs.filter(id__in=scope["item_ids"])
    if scope.get("external_ids"):
        qs = qs.filter(external_id__in=scope["external_ids"])
    if "is_complete" in scope:
        qs = qs.filter(is_complete=bool(scope["is_complete"]))
    ids = qs.order_by("id").values_list("id", flat=True)
    if scope.get("limit"):
        ids = ids[: int(scope["limit"])]
    return list(ids)


def labeling_job_create(
    *,
    project: Project,
    kind: str,
    user: User | None = None,
    backend: str | None = None,
    model_name: str | None = None,
    params: dict[str, Any] | None = None,
    scope: dict[str, Any] | None = None,
    limit: int | None = None,
    chunk_size: int | None = None,
    enqueue: bool = True,
) -> LabelingJob:
    """Create a job over the items in `scope` and queue its chunks after commit.

    Raises ApplicationError naming the field for a kind that does not fit the project, bad
    parameters or an empty scope. Without `model_name` the demo model is used.
    """
    if kind not in JobKind.values:
        raise ApplicationError(f"one of {', '.join(JobKind.values)}", field="kind")
    needs = JOB_KIND_SPECS[JobKind(kind)].project_kind
    if needs != project.kind:
        raise ApplicationError(
            f"{kind} jobs need a {needs} project, not {project.kind}",
            code="wrong_kind",
            field="kind",
        )
    backend, model_name, params = job_model_prepare(
        project=project, kind=kind, backend=backend, model_name=model_name, params=params
    )
    merged = _params_merge(kind, params)
    if kind == JobKind.CONSENSUS:
        if "auto_accept" not in (params or {}):
            # The project's setting, unless this job says otherwise; the calibrated rule is
            # then chosen (or refused) for it by _consensus_params.
            merged["auto_accept"] = project.consensus_auto_accept
        merged = _consensus_params(project, merged)
        backend, model_name = Backend.NONE, "consensus"
    else:
        backend = backend or Backend.TRANSFORMERS
        if backend not in (Backend.TRANSFORMERS, Backend.OPENAI):
            raise ApplicationError("transformers or openai", field="backend")
        model_name = model_name or settings.STEPWISE_DEMO_MODEL
    scope = dict(scope or {})
    if limit:
        scope["limit"] = int(limit)
    ids = _scope_item_ids(project, scope)
    if not ids:
        raise ApplicationError("no items match", code="empty", field="scope")
    size = len(ids) if kind in SINGLE_CHUNK else max(1, int(chunk_size or chunk_size_default()))
    with transaction.atomic():
        job = LabelingJob.objects.create(
            project=project, kind=kind, scope=scope, backend=backend, model_name=model_name,
            params={**merged, "chunk_size": size}, progress_total=len(ids), created_by=user,
        )  # fmt: skip
        chunks = JobChunk.objects.bulk_create(
            JobChunk(job=job, index=n, item_ids=ids[start : start + size])
            for n, start in enumerate(range(0, len(ids), size))
        )
        if enqueue:
            _enqueue_after_commit(
                [c.id for c in chunks] or list(job.chunks.values_list("id", flat=True))
            )
    return job


def _enqueue_after_commit(chunk_ids: list[int]) -> None:
    enqueue_on_commit(CHUNK_SENDER, chunk_ids)


def _merge_counts(into: dict[str, Any], add: Counter[str]) -> dict[str, Any]:
    out = dict(into or {})
    for key, value in add.items():
        out[key] = out.get(key, 0) + value
    return out


def _elapsed(job: LabelingJob) -> float:
    return (timezone.now() - job.started_at).total_seconds() if job.started_at else 0.0


def _job_fail(job_id: int, message: str) -> None:
    with transaction.atomic():
        job = LabelingJob.objects.select_for_update().get(id=job_id)
        if job.status not in ACTIVE_STATUSES:
            return
        job.status, job.error, job.finished_at = JobStatus.FAILED, message, timezone.now()
        job.wall_seconds = _elapsed(job)
        job.save(update_fields=["status", "error", "finished_at", "wall_seconds"])


def labeling_job_chunk_fail(*, chunk_id: int, message: str) -> None:
    """Fail a chunk and its job (a transient error that outlived its retries, a crash)."""
    chunk = JobChunk.objects.get(id=chunk_id)
    JobChunk.objects.filter(id=chunk_id).exclude(status=JobChunk.Status.DONE).update(
        status=JobChunk.Status.FAILED, error=message, finished_at=timezone.now()
    )
    _job_fail(chunk.job_id, f"chunk {chunk.index}: {message}")


def labeling_job_chunk_run(*, chunk_id: int, worker: str = "") -> str:
    """Claim and run one chunk; returns what happened ("done", "noop", "cancelled",
    "failed", "attempts_exhausted"). Safe to call any number of times for the same chunk.

    Raises BackendUnavailable (with the chunk put back to pending and the attempt not
    counted) so that the task can retry it later.
    """
    chunk = JobChunk.objects.select_related("job", "job__project").filter(id=chunk_id).first()
    if chunk is None or chunk.status in (
        JobChunk.Status.DONE,
        JobChunk.Status.FAILED,
        JobChunk.Status.CANCELLED,
    ):
        return "noop"
    job = chunk.job
    if job.status not in ACTIVE_STATUSES:
        JobChunk.objects.filter(
            id=chunk.id, status__in=[JobChunk.Status.PENDING, JobChunk.Status.RUNNING]
        ).update(status=JobChunk.Status.CANCELLED, finished_at=timezone.now())
        return "cancelled"
    if chunk.attempts >= max_attempts():
        why = chunk.error or "its worker process died each time (killed, or out of memory)"
        message = (
            f"chunk {chunk.index} ({len(chunk.item_ids)} items from item {chunk.item_ids[0]}) was "
            f"started {chunk.attempts} times without finishing: {why}. Giving up."
        )
        labeling_job_chunk_fail(chunk_id=chunk.id, message=message)
        return "attempts_exhausted"
    now = timezone.now()
    worker = worker or socket.gethostname()
    claimed = JobChunk.objects.filter(
        id=chunk.id,
        attempts=chunk.attempts,
        status__in=[JobChunk.Status.PENDING, JobChunk.Status.RUNNING],
    ).update(
        status=JobChunk.Status.RUNNING,
        attempts=F("attempts") + 1,
        claimed_at=now,
        worker=worker[:255],
    )
    if not claimed:
        return "noop"  # another delivery claimed it first
    LabelingJob.objects.filter(id=job.id).update(attempts=F("attempts") + 1, heartbeat_at=now)
    LabelingJob.objects.filter(id=job.id, status=JobStatus.QUEUED).update(
        status=JobStatus.RUNNING, started_at=Coalesce("started_at", Value(now))
    )

    try:
        # Several workers may run chunks of one job: any of them beats it (attempt None).
        with RunBeat(run=job, attempt=None):
            out, tokens = _chunk_compute(job, chunk)
    except BackendUnavailable as exc:
        JobChunk.objects.filter(id=chunk.id, status=JobChunk.Status.RUNNING).update(
            status=JobChunk.Status.PENDING, attempts=F("attempts") - 1, error=f"transient: {exc}"
        )
        raise
    except Exception as exc:
        # Any failure ends the chunk and its job with the message, never leaves them running.
        logger.exception("labeling job %s chunk %s failed", job.id, chunk.index)
        labeling_job_chunk_fail(chunk_id=chunk.id, message=exception_message(exc))
        return "failed"

    try:
        moved = _chunk_record(job, chunk, out, tokens)
    except Exception as exc:
        logger.exception("labeling job %s chunk %s: results not written", job.id, chunk.index)
        labeling_job_chunk_fail(chunk_id=chunk.id, message=exception_message(exc))
        return "failed"
    if moved:
        _after_job(job)
    return "done" if moved else "noop"


def _after_job(job: LabelingJob) -> None:
    """Once a scoring job has succeeded, re-rank the project's task stream if it routes by
    uncertainty: once per job, never per claim."""
    if job.kind not in ROUTING_KINDS:
        return
    done = LabelingJob.objects.filter(id=job.id, status=JobStatus.SUCCEEDED).exists()
    project = Project.objects.get(id=job.project_id)
    if done and project.routing == Routing.UNCERTAINTY:
        item_routing_recompute(project=project)


@transaction.atomic
def _chunk_record(job: LabelingJob, chunk: JobChunk, out: Any, tokens: int) -> bool:
    """Upsert a chunk's results, move it to done (once) and the job's progress with it."""
    suggestion_bulk_upsert(suggestions=out.suggestions)
    item_priority_raise(
        item_ids=out.routed_item_ids, priority=int(job.params.get("routed_priority", 10))
    )
    consensus_annotation_upsert(labels=out.consensus_labels, note=f"labeling job {job.id}")
    moved = JobChunk.objects.filter(id=chunk.id, status=JobChunk.Status.RUNNING).update(
        status=JobChunk.Status.DONE,
        finished_at=timezone.now(),
        tokens_generated=tokens,
        error="",
    )
    locked = LabelingJob.objects.select_for_update().get(id=job.id)
    if moved:
        locked.progress_done += len(chunk.item_ids)
        locked.tokens_generated += tokens
        locked.skipped = _merge_counts(locked.skipped, out.skipped)
        locked.stats = _merge_counts(locked.stats, out.stats)
    open_chunks = locked.chunks.filter(
        status__in=[JobChunk.Status.PENDING, JobChunk.Status.RUNNING]
    ).exists()
    locked.wall_seconds = _elapsed(locked)
    locked.heartbeat_at = timezone.now()
    fields = ["progress_done", "tokens_generated", "skipped", "stats", "wall_seconds"]
    fields += ["heartbeat_at"]
    # Queued too: the sweep may have requeued the job while this chunk finished.
    if locked.status in ACTIVE_STATUSES and not open_chunks:
        locked.status, locked.finished_at = JobStatus.SUCCEEDED, timezone.now()
        fields += ["status", "finished_at"]
        # Its suggestions and consensus labels are in the dashboard's figures.
        project_stats_changed(project_id=locked.project_id)
    locked.save(update_fields=fields)
    return bool(moved)


def _chunk_compute(job: LabelingJob, chunk: JobChunk) -> tuple[Any, int]:
    items = list(
        Item.objects.filter(id__in=chunk.item_ids)
        .prefetch_related("steps", "turns", "candidates")
        .order_by("id")
    )
    backend = None
    if job.kind in NEEDS_MODEL:
        options: dict[str, Any] = {}
        if job.backend == Backend.TRANSFORMERS:
            options["max_batch_sequences"] = int(settings.STEPWISE_LABELING_BATCH_SEQUENCES)
            options["token_budget"] = int(settings.STEPWISE_LABELING_TOKEN_BUDGET)
        backend = backend_get(job.backend, job.model_name, **options)
    before = backend.tokens_generated if backend else 0
    ctx = MethodContext(
        job=job, project=job.project, items=items, backend=backend, params=job.params,
        seed=int(job.params.get("seed", 0)) * 100_003 + chunk.index,
    )  # fmt: skip
    out = RUNNERS[job.kind](ctx)
    return out, (backend.tokens_generated - before) if backend else 0


def labeling_job_cancel(*, job: LabelingJob) -> bool:
    """Stop a queued or running job between chunks; a chunk already running finishes and
    keeps its results. Returns False when the job had already ended."""
    with transaction.atomic():
        locked = LabelingJob.objects.select_for_update().get(id=job.id)
        if locked.status not in ACTIVE_STATUSES:
            return False
        locked.status, locked.finished_at = JobStatus.CANCELLED, timezone.now()
        locked.wall_seconds = _elapsed(locked)
        locked.save(update_fields=["status", "finished_at", "wall_seconds"])
        locked.chunks.filter(status=JobChunk.Status.PENDING).update(
            status=JobChunk.Status.CANCELLED
        )
        project_stats_changed(project_id=locked.project_id)
    return True


def labeling_job_retry(*, job: LabelingJob, enqueue: bool = True) -> int:
    """Run a failed or cancelled job again from where it stopped: chunks that are not done
    start over with fresh attempts; finished chunks keep their results. Returns the number
    of chunks queued (0 when the job is not failed or cancelled)."""
    with transaction.atomic():
        locked = LabelingJob.objects.select_for_update().get(id=job.id)
        if locked.status not in (JobStatus.FAILED, JobStatus.CANCELLED):
            return 0
        todo = list(locked.chunks.exclude(status=JobChunk.Status.DONE).values_list("id", flat=True))
        JobChunk.objects.filter(id__in=todo).update(
            status=JobChunk.Status.PENDING, attempts=0, error="", claimed_at=None, finished_at=None
        )
        locked.status, locked.error, locked.finished_at = JobStatus.QUEUED, "", None
        if not todo:
            locked.status, locked.finished_at = JobStatus.SUCCEEDED, timezone.now()
        locked.save(update_fields=["status", "error", "finished_at"])
        if enqueue and todo:
            _enqueue_after_commit(todo)
    return len(todo)


def labeling_job_run_inline(
    *, job: LabelingJob, progress: Callable[[LabelingJob], None] | None = None
) -> LabelingJob:
    """Run every open chunk of a job in this process, in order (the CLI's --inline, tests).
    Transient backend errors fail the job here, since there is no task to retry them."""
    for chunk_id in job.chunks.order_by("index").values_list("id", flat=True):
        try:
            labeling_job_chunk_run(chunk_id=chunk_id, worker="inline")
        except BackendUnavailable as exc:
            labeling_job_chunk_fail(chunk_id=chunk_id, message=f"backend unavailable: {exc}")
        job.refresh_from_db()
        if progress:
            progress(job)
        if job.status not in ACTIVE_STATUSES:
            break
    job.refresh_from_db()
    return job
