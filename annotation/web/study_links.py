"""Managers' pages for study links: create, edit, pause, and the per-worker table used to
approve or reject payments on the platform."""

from __future__ import annotations

import csv
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from annotation.errors import ApplicationError
from annotation.models import Project, StudyLink
from annotation.selectors.projects import MANAGE
from annotation.selectors.study import study_link_get, study_link_list, study_worker_rows
from annotation.services.study import (
    CONSENT_MAX,
    QUOTA_MAX,
    TRAINING_MAX,
    WORKERS_MAX,
    study_link_create,
    study_link_set_paused,
    study_link_update,
)
from annotation.web.access import AuthedHttpRequest, project_for_role
from annotation.web.errors import form_add_error


class StudyLinkForm(forms.Form):
    """Shapes only; `annotation.services.study` validates and writes."""

    name = forms.CharField(max_length=200)
    completion_code = forms.CharField(
        max_length=64, help_text="Shown to workers who finish (letters, digits, - and _)."
    )
    completion_url = forms.CharField(
        max_length=2000,
        required=False,
        help_text="The platform's completion URL (http or https); finished workers are sent there.",
    )
    quota = forms.IntegerField(min_value=1, max_value=QUOTA_MAX, initial=10,
                               help_text="Items each worker labels (attention checks included).")  # fmt: skip
    max_workers = forms.IntegerField(min_value=1, max_value=WORKERS_MAX, initial=50,
                                     help_text="Workers let in, at most.")  # fmt: skip
    training_items = forms.IntegerField(
        min_value=0, max_value=TRAINING_MAX, initial=0,
        help_text="Gold items with feedback before real items (0: no training round).",
    )  # fmt: skip
    pass_mark = forms.FloatField(min_value=0, max_value=1, initial=0.8,
                                 help_text="Share right needed in training and attention checks.")  # fmt: skip
    attention_rate = forms.FloatField(min_value=0, max_value=1, initial=0.0,
                                      help_text="Share of items that are attention checks (gold).")  # fmt: skip
    failure_code = forms.CharField(max_length=64, required=False,
                                   help_text="Shown instead of the completion code to workers who fail.")  # fmt: skip
    consent_text = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}), max_length=CONSENT_MAX, required=False,
        help_text="Markdown. When set, workers must agree before labeling.",
    )  # fmt: skip
    platform = forms.CharField(max_length=32, initial="prolific")
    worker_param = forms.CharField(max_length=64, initial="PROLIFIC_PID")
    study_param = forms.CharField(max_length=64, initial="STUDY_ID")
    session_param = forms.CharField(max_length=64, initial="SESSION_ID")


def _manager_project(request: AuthedHttpRequest, slug: str) -> Project:
    return project_for_role(request, slug, MANAGE, "Only managers can run studies.")[0]


def _initial(link: StudyLink) -> dict[str, Any]:
    return {name: getattr(link, name) for name in StudyLinkForm.base_fields}


def study_entry_url(request: AuthedHttpRequest, link: StudyLink) -> str:
    """The URL to paste into the platform, with Prolific's placeholders for the ids."""
    base = request.build_absolute_uri(reverse("study_entry", args=[link.token]))
    params = [link.worker_param, link.study_param, link.session_param]
    return base + "?" + "&".join(f"{p}={{{{%{p}%}}}}" for p in params)


@login_required
@require_http_methods(["GET", "POST"])
def study_links(request: AuthedHttpRequest, slug: str) -> HttpResponse:
    """The project's study links and the form for a new one."""
    project = _manager_project(request, slug)
    form = StudyLinkForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            link = study_link_create(project=project, user=request.user, data=form.cleaned_data)
        except ApplicationError as exc:
            form_add_error(form, exc)
        else:
            messages.success(request, f"Study link “{link.name}” created.")
            return redirect("study_link_detail", slug=project.slug, link_id=link.id)
    links = list(study_link_list(project=project))
    return render(
        request,
        "web/study_links.html",
        {"project": project, "links": links, "form": form},
        status=422 if form.errors else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def study_link_detail(request: AuthedHttpRequest, slug: str, link_id: int) -> HttpResponse:
    """One link: its URL, its settings (editable) and its workers."""
    project = _manager_project(request, slug)
    link = study_link_get(project=project, link_id=link_id)
    if link is None:
        raise Http404("No such study link")
    form = StudyLinkForm(request.POST or None, initial=_initial(link))
    if request.method == "POST" and form.is_valid():
        try:
            study_link_update(link=link, data=form.cleaned_data)
        except ApplicationError as exc:
            form_add_error(form, exc)
        else:
            messages.success(request, "Saved.")
            return redirect("study_link_detail", slug=project.slug, link_id=link.id)
    context = {
        "project": project,
        "link": link,
        "form": form,
        "entry_url": study_entry_url(request, link),
        "rows": study_worker_rows(link=link),
    }
    return render(request, "web/study_link.html", context, status=422 if form.errors else 200)


@login_required
@require_POST
def study_link_pause(request: AuthedHttpRequest, slug: str, link_id: int) -> HttpResponse:
    project = _manager_project(request, slug)
    link = study_link_get(project=project, link_id=link_id)
    if link is None:
        raise Http404("No such study link")
    study_link_set_paused(link=link, paused=request.POST.get("paused") == "1")
    messages.success(request, "Paused." if link.paused else "Resumed.")
    return redirect("study_link_detail", slug=project.slug, link_id=link.id)


CSV_COLUMNS = (
    "worker_id", "study_id", "session_id", "status", "started_at", "finished_at", "minutes",
    "active_minutes", "items_done", "gold_total", "gold_correct", "gold_accuracy",
    "training_done", "training_correct", "training_passed", "completion_code",
)  # fmt: skip


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    # A spreadsheet would run a cell starting with one of these as a formula.
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


@login_required
@require_GET
def study_link_workers_csv(request: AuthedHttpRequest, slug: str, link_id: int) -> HttpResponse:
    """The workers' table as CSV, for approving and rejecting in bulk on the platform."""
    project = _manager_project(request, slug)
    link = study_link_get(project=project, link_id=link_id)
    if link is None:
        raise Http404("No such study link")
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="study-{link.id}-workers.csv"'
    writer = csv.writer(response)
    writer.writerow(CSV_COLUMNS)
    for row in study_worker_rows(link=link):
        writer.writerow([_cell(getattr(row, c)) for c in CSV_COLUMNS])
    return response
