"""Reads of labeling jobs: lists for the pages and API, summaries, and the evaluation of the
methods' first-error predictions against an annotator or imported source."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from annotation.models import Project, SuggestionMethod
from annotation.selectors.suggestions import (
    annotation_first_errors,
    step_counts,
    suggestion_item_verdicts,
)
from labeling_jobs.evaluation import processbench_score, step_agreement
from labeling_jobs.models import JobChunk, JobKind, JobStatus, LabelingJob, job_kinds_for


def labeling_job_list(*, project: Project, limit: int = 50) -> QuerySet[LabelingJob]:
    return (
        LabelingJob.objects.filter(project=project)
        .select_related("created_by")
        .order_by("-id")[:limit]
    )


def labeling_job_get(*, project: Project, job_id: int) -> LabelingJob | None:
    return (
        LabelingJob.objects.filter(project=project, id=job_id).select_related("created_by").first()
    )


def labeling_job_open_chunk_ids(*, job_id: int) -> list[int]:
    """Ids of a job's chunks that have not ended (pending, or running in a worker)."""
    return list(
        JobChunk.objects.filter(
            job_id=job_id, status__in=[JobChunk.Status.PENDING, JobChunk.Status.RUNNING]
        )
        .order_by("index")
        .values_list("id", flat=True)
    )


def consensus_summary(*, project: Project) -> dict[str, Any] | None:
    """Auto-labeled and routed counts of the newest finished consensus job."""
    job = (
        LabelingJob.objects.filter(project=project, kind=JobKind.CONSENSUS, progress_done__gt=0)
        .order_by("-id")
        .first()
    )
    if job is None:
        return None
    stats = job.stats or {}
    return {
        "job": job,
        "auto_labeled": stats.get("auto_labeled", 0),
        "agreed": stats.get("agreed", 0),
        "routed": stats.get("routed", 0),
        "reasons": {k.split(": ", 1)[1]: v for k, v in stats.items() if k.startswith("routed: ")},
    }


# method name -> (job kind, suggestion methods, extra filter on params)
EVALUATED = {
    "judge": (JobKind.STEP_JUDGE, [SuggestionMethod.JUDGE], {"mode": "critique"}),
    "verify": (JobKind.STEP_JUDGE, [SuggestionMethod.VERIFY], {"mode": "verify"}),
    "mc": (JobKind.MC_ESTIMATE, [SuggestionMethod.MC], {}),
    "first_error_search": (JobKind.FIRST_ERROR_SEARCH, [SuggestionMethod.FIRST_ERROR_SEARCH], {}),
    "consensus": (JobKind.CONSENSUS, [SuggestionMethod.CONSENSUS], {}),
    "prm": (JobKind.PRM_SCORE, [SuggestionMethod.PRM], {}),
}


def evaluates_first_errors(*, project: Project) -> bool:
    """Whether any job kind that `evaluation_report` scores runs on this project's kind."""
    kinds = set(job_kinds_for(project.kind))
    return any(kind in kinds for kind, _, _ in EVALUATED.values())


def _latest_job_for(project: Project, kind: str, params: dict[str, Any]) -> LabelingJob | None:
    jobs = LabelingJob.objects.filter(project=project, kind=kind, progress_done__gt=0).order_by(
        "-id"
    )
    for job in jobs[:50]:
        if all(
            job.params.get(k, "critique" if k == "mode" else None) == v for k, v in params.items()
        ):
            return job
    return None


def evaluation_report(
    *, project: Project, against: str, job_ids: dict[str, int] | None = None
) -> dict[str, Any]:
    """ProcessBench accuracy/F1 and per-step agreement of each method's newest job (or the
    given job per method) against the first-error labels of the annotator `against`.

    `f1` counts items without a verdict as wrong (as ProcessBench does); `coverage` is the
    share of reference items with a verdict, and `f1_covered` the F1 on those items only
    (what matters for consensus, which abstains by design).
    """
    reference = annotation_first_errors(project=project, annotator_username=against)
    item_ids = sorted(reference)
    labels = [reference[i] for i in item_ids]
    steps = step_counts(item_ids=item_ids)
    n_steps = [steps.get(i, 0) for i in item_ids]
    report: dict[str, Any] = {
        "project": project.slug,
        "against": against,
        "n_reference_items": len(item_ids),
        "methods": {},
    }
    for name, (kind, methods, params) in EVALUATED.items():
        job = None
        if job_ids and name in job_ids:
            job = LabelingJob.objects.filter(project=project, id=job_ids[name]).first()
        else:
            job = _latest_job_for(project, kind, params)
        if job is None or not item_ids:
            continue
        verdicts = suggestion_item_verdicts(item_ids=item_ids, job_id=job.id, methods=methods)
        preds = [verdicts.get(i) for i in item_ids]
        covered = [(p, lab) for p, lab in zip(preds, labels, strict=True) if p is not None]
        agree, total = step_agreement(preds, labels, n_steps)
        report["methods"][name] = {
            "job_id": job.id,
            "job_status": job.status,
            "model": job.model_name,
            "n_predicted": len(covered),
            "coverage": len(covered) / len(item_ids),
            **processbench_score(preds, labels).as_json(),
            "f1_covered": processbench_score(
                [p for p, _ in covered], [lab for _, lab in covered]
            ).as_json()["f1"]
            if covered
            else None,
            "step_agreement": agree / total if total else None,
            "steps_compared": total,
        }
    return report


def seconds_per_item_measured(
    *, kind: str, model_name: str, mode: str | None = None
) -> tuple[float, LabelingJob] | None:
    """Seconds per item of the newest finished job of this kind and model (and judge mode)
    on this installation, or None when none ran yet."""
    jobs = LabelingJob.objects.filter(
        kind=kind, model_name=model_name, status=JobStatus.SUCCEEDED,
        progress_done__gt=0, wall_seconds__gt=0,
    ).order_by("-id")  # fmt: skip
    for job in jobs[:20]:
        if mode is None or job.params.get("mode") == mode:
            return job.wall_seconds / job.progress_done, job
    return None


def job_estimate(*, kind: str, model_name: str, mode: str | None, n_items: int) -> dict[str, Any]:
    """How long a job over `n_items` will take: items x seconds per item, measured on the
    newest like job here, else the typical figure for this machine's device."""
    from labeling_jobs.hardware import typical_seconds_per_item, worker_device

    measured = seconds_per_item_measured(kind=kind, model_name=model_name, mode=mode)
    if measured:
        per_item, job = measured
        basis = f"measured on job #{job.id} ({job.progress_done} items in {job.wall_seconds:.0f} s)"
    else:
        per_item = typical_seconds_per_item(kind, mode)
        basis = (
            f"typical for the demo model on {worker_device().upper()}; nothing measured here yet"
        )
    return {"seconds_per_item": per_item, "seconds": per_item * n_items, "items": n_items,
            "basis": basis}  # fmt: skip


def job_eta(*, job: LabelingJob) -> dict[str, Any] | None:
    """Time left for an active job: from its own pace once items are done, else the
    estimate from earlier jobs."""
    from django.utils import timezone

    if not job.is_active:
        return None
    left = job.progress_total - job.progress_done
    if job.progress_done and job.started_at:
        elapsed = (timezone.now() - job.started_at).total_seconds()
        per_item = elapsed / job.progress_done
        return {"seconds": per_item * left, "seconds_per_item": per_item,
                "basis": f"this job so far ({job.progress_done} items in {elapsed:.0f} s)"}  # fmt: skip
    est = job_estimate(kind=job.kind, model_name=job.model_name,
                       mode=job.params.get("mode"), n_items=left)  # fmt: skip
    return est


def job_item_results(*, job: LabelingJob, limit: int = 50) -> dict[str, Any]:
    """What the model answered per item (first `limit` items): the item verdict and its raw
    output (critique text, votes, P(Yes) or PRM score per step, MC values per step)."""
    from annotation.models import Suggestion

    base = Suggestion.objects.filter(job_id=job.id)
    item_ids = list(
        base.order_by("item_id").values_list("item_id", flat=True).distinct()[: limit + 1]
    )
    more = len(item_ids) > limit
    item_ids = item_ids[:limit]
    rows = (
        base.filter(item_id__in=item_ids)
        .select_related("item", "step", "turn", "candidate")
        .order_by("item_id", "id")
    )
    by_item: dict[int, dict[str, Any]] = {}
    for s in rows:
        entry = by_item.setdefault(
            s.item_id, {"item": s.item, "verdict": None, "parts": [], "method": s.method}
        )
        if s.target == "item":
            entry["verdict"] = s
        else:
            entry["parts"].append(s)
    for entry in by_item.values():
        entry["parts"].sort(key=lambda s: (s.step.index if s.step else 0, s.target))
    return {"items": [by_item[i] for i in item_ids if i in by_item], "more": more,
            "total": base.filter(target="item").count()}  # fmt: skip


def job_scope_size(*, project: Project, limit: int | None = None) -> int:
    """How many items a job over the whole project (capped at `limit`) covers."""
    from annotation.models import Item

    n = Item.objects.filter(project=project).count()
    return min(n, limit) if limit else n
