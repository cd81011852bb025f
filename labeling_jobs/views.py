"""Managers' pages for labeling jobs: list and start, watch (htmx progress polling), cancel,
retry. Non-members get 404, members who are not managers 403."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from annotation.errors import ApplicationError
from annotation.models import Project
from annotation.selectors.projects import MANAGE
from annotation.web.access import AuthedHttpRequest, project_for_role
from annotation.web.errors import form_add_error
from labeling_jobs.models import Backend, JobKind, LabelingJob, job_kinds_for
from labeling_jobs.selectors import (
    consensus_summary,
    evaluates_first_errors,
    evaluation_report,
    labeling_job_get,
    labeling_job_list,
)
from labeling_jobs.services import (
    labeling_job_cancel,
    labeling_job_create,
    labeling_job_retry,
)


class JobStartForm(forms.Form):
    kind = forms.ChoiceField(choices=JobKind.choices)
    backend = forms.ChoiceField(
        choices=[
            (Backend.TRANSFORMERS, "transformers (local)"),
            (Backend.OPENAI, "OpenAI-compatible"),
        ],
        initial=Backend.TRANSFORMERS,
    )
    model = forms.CharField(required=False, max_length=300, help_text="Empty: the demo model.")
    limit = forms.IntegerField(required=False, min_value=1, help_text="At most this many items.")
    n_rollouts = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=64,
        help_text="MC / search rollouts per prefix (default 8).",
    )
    max_new_tokens = forms.IntegerField(required=False, min_value=1, max_value=8192)
    judge_mode = forms.ChoiceField(
        required=False,
        choices=[
            ("critique", "critique (first wrong step)"),
            ("verify", "verify (P(Yes) per step)"),
        ],
    )

    def __init__(self, *args: Any, project: Project, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        kinds = [(k.value, k.label) for k in job_kinds_for(project.kind)]
        cast(forms.ChoiceField, self.fields["kind"]).choices = kinds

    def params(self) -> dict[str, object]:
        d = self.cleaned_data
        out: dict[str, object] = {}
        if d.get("n_rollouts") and d["kind"] in (JobKind.MC_ESTIMATE, JobKind.FIRST_ERROR_SEARCH):
            out["n_rollouts"] = d["n_rollouts"]
        if d.get("max_new_tokens"):
            out["max_new_tokens"] = d["max_new_tokens"]
        if d["kind"] == JobKind.STEP_JUDGE and d.get("judge_mode"):
            out["mode"] = d["judge_mode"]
        return out


def _manager_project(request: AuthedHttpRequest, slug: str) -> Project:
    return project_for_role(request, slug, MANAGE, "Only managers run labeling jobs.")[0]


def _job_or_404(project: Project, job_id: int) -> LabelingJob:
    job = labeling_job_get(project=project, job_id=job_id)
    if job is None:
        raise Http404("No such job")
    return job


@login_required
@require_http_methods(["GET", "POST"])
def jobs(request: AuthedHttpRequest, slug: str) -> HttpResponse:
    project = _manager_project(request, slug)
    form = JobStartForm(request.POST or None, project=project)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            job = labeling_job_create(
                project=project, kind=d["kind"], user=request.user, backend=d["backend"],
                model_name=d["model"] or None, params=form.params(), limit=d.get("limit"),
            )  # fmt: skip
        except ApplicationError as exc:
            form_add_error(form, exc)
        else:
            messages.success(
                request,
                f"Job {job.id} queued: {job.get_kind_display()} on {job.progress_total} items.",
            )
            return redirect("labeling_jobs:job_detail", slug=project.slug, job_id=job.id)
    against = request.GET.get("against", "processbench-experts")
    report = (
        evaluation_report(project=project, against=against)
        if evaluates_first_errors(project=project)
        else None
    )
    return render(
        request,
        "labeling_jobs/jobs.html",
        {
            "project": project,
            "jobs": labeling_job_list(project=project),
            "form": form,
            "consensus": consensus_summary(project=project),
            "report": report if report and report["n_reference_items"] else None,
            "against": against,
        },
    )


@login_required
@require_GET
def job_detail(request: AuthedHttpRequest, slug: str, job_id: int) -> HttpResponse:
    project = _manager_project(request, slug)
    job = _job_or_404(project, job_id)
    return render(request, "labeling_jobs/job_detail.html", {"project": project, "job": job})


@login_required
@require_GET
def job_progress(request: AuthedHttpRequest, slug: str, job_id: int) -> HttpResponse:
    project = _manager_project(request, slug)
    job = _job_or_404(project, job_id)
    return render(request, "labeling_jobs/_job_progress.html", {"project": project, "job": job})


@login_required
@require_POST
def job_cancel(request: AuthedHttpRequest, slug: str, job_id: int) -> HttpResponse:
    project = _manager_project(request, slug)
    job = _job_or_404(project, job_id)
    if labeling_job_cancel(job=job):
        messages.info(request, f"Job {job.id} cancelled; a chunk already running finishes first.")
    return _after_action(request, project, job)


@login_required
@require_POST
def job_retry(request: AuthedHttpRequest, slug: str, job_id: int) -> HttpResponse:
    project = _manager_project(request, slug)
    job = _job_or_404(project, job_id)
    n = labeling_job_retry(job=job)
    if n:
        messages.info(request, f"Job {job.id} queued again: {n} chunk(s) to run.")
    return _after_action(request, project, job)


def _after_action(request: AuthedHttpRequest, project: Project, job: LabelingJob) -> HttpResponse:
    if getattr(request, "htmx", False):
        job.refresh_from_db()
        return render(request, "labeling_jobs/_job_progress.html", {"project": project, "job": job})
    return redirect("labeling_jobs:job_detail", slug=project.slug, job_id=job.id)
