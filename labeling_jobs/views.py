"""Managers' pages for labeling jobs: list and start, watch (htmx progress polling), cancel,
retry. Non-members get 404, members who are not managers 403."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from annotation.errors import ApplicationError
from annotation.models import Project
from annotation.selectors.projects import MANAGE
from annotation.web.access import AuthedHttpRequest, project_for_role
from annotation.web.errors import form_add_error
from labeling_jobs.hardware import form_defaults, worker_device
from labeling_jobs.model_settings import model_list, model_settings_get
from labeling_jobs.models import Backend, JobKind, LabelingJob, job_kinds_for
from labeling_jobs.selectors import (
    consensus_summary,
    evaluates_first_errors,
    evaluation_report,
    job_estimate,
    job_eta,
    job_item_results,
    job_scope_size,
    labeling_job_get,
    labeling_job_list,
)
from labeling_jobs.services import (
    labeling_job_cancel,
    labeling_job_create,
    labeling_job_retry,
)


class JobStartForm(forms.Form):
    """The start form. Defaults per kind come from what finishes on the worker's device
    (`hardware.form_defaults`); changing the kind re-renders the form with its defaults
    (htmx), changing anything else only refreshes the duration estimate."""

    kind = forms.ChoiceField(choices=JobKind.choices)
    backend = forms.ChoiceField(
        choices=[
            (Backend.TRANSFORMERS, "transformers (local)"),
            (Backend.OPENAI, "OpenAI-compatible"),
        ],
        initial=Backend.TRANSFORMERS,
    )
    model = forms.ChoiceField(
        required=False, help_text="Empty: the demo model (PRM scoring: the newest PRM)."
    )
    model_other = forms.CharField(
        required=False, max_length=300, label="Other model",
        help_text="A model directory, GGUF file or cached hub id (instead of the list).",
    )  # fmt: skip
    limit = forms.IntegerField(
        required=False, min_value=1, max_value=2**31 - 1, help_text="At most this many items."
    )
    n_rollouts = forms.IntegerField(
        required=False, min_value=1, max_value=64, help_text="MC / search rollouts per prefix."
    )
    max_new_tokens = forms.IntegerField(required=False, min_value=1, max_value=8192)
    judge_mode = forms.ChoiceField(
        required=False,
        choices=[
            ("", "as the model's settings say"),
            ("critique", "critique (first wrong step)"),
            ("verify", "verify (P(Yes) per step)"),
        ],
    )
    threshold = forms.FloatField(
        required=False, min_value=0, max_value=1,
        help_text="Verify / PRM: a step under this score is the first error (default 0.5).",
    )  # fmt: skip
    max_traces = forms.IntegerField(
        required=False, min_value=2, max_value=1_000_000, help_text="PRM training: traces used."
    )
    epochs = forms.IntegerField(required=False, min_value=1, max_value=20)

    def __init__(self, *args: Any, project: Project, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        kinds = [(k.value, k.label) for k in job_kinds_for(project.kind)]
        cast(forms.ChoiceField, self.fields["kind"]).choices = kinds
        cast(forms.ChoiceField, self.fields["model"]).choices = [("", "default")] + [
            (m.name, f"{m.name}{' (PRM)' if m.is_prm else ''}")
            for m in model_list(project_slug=project.slug)
        ]
        url = reverse("labeling_jobs:job_form", args=[project.slug])
        for name in ("kind", "limit", "judge_mode", "model", "model_other", "max_traces"):
            self.fields[name].widget.attrs.update(
                {
                    "hx-get": url,
                    "hx-target": "#job-form",
                    "hx-swap": "outerHTML",
                    "hx-include": "closest form",
                    "hx-trigger": "change",
                }  # fmt: skip
            )

    def model_name(self) -> str | None:
        d = self.cleaned_data
        return (d.get("model_other") or "").strip() or d.get("model") or None

    def params(self) -> dict[str, object]:
        d = self.cleaned_data
        kind = d["kind"]
        out: dict[str, object] = {}
        if d.get("n_rollouts") and kind in (JobKind.MC_ESTIMATE, JobKind.FIRST_ERROR_SEARCH):
            out["n_rollouts"] = d["n_rollouts"]
        if d.get("max_new_tokens") and kind not in (JobKind.PRM_SCORE, JobKind.PRM_TRAIN):
            out["max_new_tokens"] = d["max_new_tokens"]
        if kind == JobKind.STEP_JUDGE and d.get("judge_mode"):
            out["mode"] = d["judge_mode"]
        if d.get("threshold") is not None and kind in (
            JobKind.STEP_JUDGE,
            JobKind.PRM_SCORE,
            JobKind.PRM_TRAIN,
        ):
            out["threshold"] = d["threshold"]
        if kind == JobKind.PRM_TRAIN:
            for key in ("max_traces", "epochs"):
                if d.get(key):
                    out[key] = d[key]
        return out


def _form_for_kind(project: Project, data: QueryDict | None) -> JobStartForm:
    """A bound form for the htmx re-render: a new kind gets that kind's defaults."""
    kinds = job_kinds_for(project.kind)
    kind = (data.get("kind") if data else None) or (kinds[0] if kinds else "")
    values = {"backend": Backend.TRANSFORMERS, "kind": kind, **form_defaults(kind)}
    if data and data.get("prev_kind") == kind:
        values.update({k: v for k, v in data.items() if k in JobStartForm.base_fields})
    return JobStartForm(values, project=project)


def _estimate(project: Project, form: JobStartForm) -> dict[str, object] | None:
    if not form.is_valid():
        return None
    d = form.cleaned_data
    model = form.model_name() or settings.STEPWISE_DEMO_MODEL
    mode = None
    if d["kind"] == JobKind.STEP_JUDGE:
        try:
            can = model_settings_get(model).can_critique
        except ApplicationError as exc:  # a model folder with a broken settings file
            form_add_error(form, exc)
            return None
        mode = d.get("judge_mode") or ("critique" if can else "verify")
    if d["kind"] == JobKind.PRM_TRAIN:
        n = d.get("max_traces") or form_defaults(d["kind"]).get("max_traces", 300)
    else:
        n = job_scope_size(project=project, limit=d.get("limit"))
    return job_estimate(kind=d["kind"], model_name=model, mode=mode, n_items=n)


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
    if request.method == "POST":
        form = JobStartForm(request.POST, project=project)
    else:
        form = _form_for_kind(project, None)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            job = labeling_job_create(
                project=project, kind=d["kind"], user=request.user, backend=d["backend"],
                model_name=form.model_name(), params=form.params(), limit=d.get("limit"),
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
            "estimate": _estimate(project, form),
            "device": worker_device(),
        },
    )


@login_required
@require_GET
def job_form(request: AuthedHttpRequest, slug: str) -> HttpResponse:
    """The start form alone (htmx): the chosen kind's defaults and the duration estimate."""
    project = _manager_project(request, slug)
    form = _form_for_kind(project, request.GET)
    context = {"project": project, "form": form, "estimate": _estimate(project, form),
               "device": worker_device()}  # fmt: skip
    return render(request, "labeling_jobs/_job_form.html", context)


@login_required
@require_GET
def job_detail(request: AuthedHttpRequest, slug: str, job_id: int) -> HttpResponse:
    project = _manager_project(request, slug)
    job = _job_or_404(project, job_id)
    context = {"project": project, "job": job, "eta": job_eta(job=job),
               "results": job_item_results(job=job)}  # fmt: skip
    return render(request, "labeling_jobs/job_detail.html", context)


@login_required
@require_GET
def job_progress(request: AuthedHttpRequest, slug: str, job_id: int) -> HttpResponse:
    project = _manager_project(request, slug)
    job = _job_or_404(project, job_id)
    context = {"project": project, "job": job, "eta": job_eta(job=job)}
    return render(request, "labeling_jobs/_job_progress.html", context)


@login_required
@require_GET
def job_row(request: AuthedHttpRequest, slug: str, job_id: int) -> HttpResponse:
    """One job as a row of the jobs list; the row polls this while the job is active."""
    project = _manager_project(request, slug)
    job = _job_or_404(project, job_id)
    return render(request, "labeling_jobs/jobs.html#job-row", {"project": project, "job": job})


@login_required
@require_GET
def job_results(request: AuthedHttpRequest, slug: str, job_id: int) -> HttpResponse:
    """The job's per-item answers; the section polls this while the job is active, so new
    answers appear as chunks finish."""
    project = _manager_project(request, slug)
    job = _job_or_404(project, job_id)
    context = {"project": project, "job": job, "results": job_item_results(job=job)}
    return render(request, "labeling_jobs/job_detail.html#job-results", context)


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
        context = {"project": project, "job": job, "eta": job_eta(job=job)}
        return render(request, "labeling_jobs/_job_progress.html", context)
    return redirect("labeling_jobs:job_detail", slug=project.slug, job_id=job.id)
