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
from labeling_jobs.models import JobChunk, JobKind, LabelingJob, job_kinds_for


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
