"""A crowd worker's pages, reached through a study link: /s/<token>/…

The entry URL carries the worker's ids (`?PROLIFIC_PID=…&STUDY_ID=…&SESSION_ID=…`, names
set per link). It signs the worker in to their own account, marks the session as limited to
this link (`annotation.middleware.StudySessionMiddleware`: everything else answers 404),
and sends them to the instructions and consent page, then to the labeling page, one item at
a time, with the labeling form of the project's kind and a quota counter, then to the
completion page with their code. Training items show whether the answer was right before the
next one. The rules (training, attention checks, quota) are in `annotation.services.study`.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth import login
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from annotation.errors import ApplicationError
from annotation.middleware import STUDY_SESSION_KEY
from annotation.models import Assignment, StudyLink, StudyWorker
from annotation.selectors.annotations import (
    annotation_labels,
    assignment_for_annotator,
    item_for_labeling,
)
from annotation.selectors.gold import item_gold_annotation
from annotation.selectors.study import study_link_by_token, study_worker_for_user
from annotation.services.assignments import assignment_mark_rendered
from annotation.services.study import (
    study_arrival_parse,
    study_claim_next,
    study_in_training,
    study_submit,
    study_worker_consent,
    study_worker_enter,
)
from annotation.web.labeling import labels_from_post, page_templates, sides, task_context
from annotation.web.rendering import rich_text

FEEDBACK_KEY = "stepwise:study-feedback"
BACKEND = "django.contrib.auth.backends.ModelBackend"


def _link(token: str) -> StudyLink:
    link = study_link_by_token(token=token)
    if link is None:
        raise Http404("No such study")
    return link


def _message(request: HttpRequest, *, title: str, text: str, status: int) -> HttpResponse:
    return render(
        request,
        "web/study_message.html",
        {"title": title, "text": text, "study": True},
        status=status,
    )


def _worker(request: HttpRequest, token: str) -> StudyWorker:
    """The signed-in worker of this link; 404 for anyone else (a manager, a worker of
    another link, a visitor who never came through the entry URL)."""
    link = _link(token)
    if request.session.get(STUDY_SESSION_KEY) != link.token:
        raise Http404("No such study")
    worker = study_worker_for_user(link=link, user=request.user)  # type: ignore[arg-type]
    if worker is None:
        raise Http404("No such study")
    return worker


def _base(worker: StudyWorker) -> dict[str, Any]:
    link = worker.link
    return {
        "study": True,
        "link": link,
        "worker": worker,
        "project": link.project,
        "training": study_in_training(worker),
    }


@require_GET
def study_entry(request: HttpRequest, token: str) -> HttpResponse:
    """The URL the platform opens: let the worker in, or say clearly why not."""
    link = _link(token)
    try:
        arrival = study_arrival_parse(link=link, params=request.GET)
    except ApplicationError as exc:
        return _message(
            request, title="This link needs your study id", text=exc.message, status=400
        )
    try:
        worker = study_worker_enter(link=link, arrival=arrival)
    except ApplicationError as exc:
        if exc.code == "conflict":
            return _message(request, title="This link cannot be used", text=exc.message, status=409)
        if exc.code == "study_paused":
            text = "This study is paused and is not taking new participants at the moment. Please return it on the platform, or try again later."
            return _message(request, title="This study is paused", text=text, status=403)
        text = "This study has all the participants it needs. Please return it on the platform; thank you for your interest."
        return _message(request, title="This study is full", text=text, status=403)
    login(request, worker.user, backend=BACKEND)
    request.session[STUDY_SESSION_KEY] = link.token
    if worker.status != StudyWorker.Status.ACTIVE:
        return redirect("study_done", token=link.token)
    return redirect("study_start", token=link.token)


@require_http_methods(["GET", "POST"])
def study_start(request: HttpRequest, token: str) -> HttpResponse:
    """Instructions and, when the link has consent text, the consent form."""
    worker = _worker(request, token)
    if worker.status != StudyWorker.Status.ACTIVE:
        return redirect("study_done", token=token)
    if request.method == "POST":
        if worker.link.consent_text and request.POST.get("consent") != "yes":
            context = {**_base(worker), "error": "Please tick the box to give your consent."}
            return render(
                request, "web/study_start.html", _start_context(worker, context), status=422
            )
        study_worker_consent(worker=worker)
        return redirect("study_label", token=token)
    return render(request, "web/study_start.html", _start_context(worker, _base(worker)))


def _start_context(worker: StudyWorker, context: dict[str, Any]) -> dict[str, Any]:
    link = worker.link
    return {
        **context,
        "instructions_html": rich_text(link.project.instructions),
        "consent_html": rich_text(link.consent_text) if link.consent_text else "",
    }


def _task(worker: StudyWorker, assignment: Assignment, labels: Any = None) -> dict[str, Any]:
    project = worker.link.project
    item = item_for_labeling(item_id=assignment.item_id, kind=project.kind)
    left, right = sides(project, assignment, item)
    return {
        "uid": assignment.id,
        "assignment": assignment,
        "item": item,
        "client_token": uuid.uuid4().hex,
        **task_context(
            project=project,
            item=item,
            labels=labels,
            left_index=left,
            right_index=right,
            with_suggestions=False,
        ),
    }


def _counter(worker: StudyWorker) -> dict[str, int]:
    link = worker.link
    if study_in_training(worker):
        return {"n": min(worker.training_done + 1, link.training_items), "of": link.training_items}
    return {"n": min(worker.items_done + 1, link.quota), "of": link.quota}


def _label_page(
    request: HttpRequest, worker: StudyWorker, assignment: Assignment, error: str = ""
) -> HttpResponse:
    context = {
        **_base(worker),
        "task": _task(worker, assignment),
        "counter": _counter(worker),
        "error": error,
        "instructions_html": rich_text(worker.link.project.instructions),
        **page_templates(worker.link.project),
    }
    return render(request, "web/study_label.html", context, status=422 if error else 200)


@require_GET
def study_label(request: HttpRequest, token: str) -> HttpResponse:
    """The worker's current item (claimed now, or the one they hold)."""
    worker = _worker(request, token)
    if worker.link.consent_text and worker.consented_at is None:
        return redirect("study_start", token=token)
    assignment = study_claim_next(worker=worker)
    if assignment is None:
        return redirect("study_done", token=token)
    assignment_mark_rendered(assignment=assignment)
    return _label_page(request, worker, assignment)


@require_POST
def study_label_submit(request: HttpRequest, token: str, assignment_id: int) -> HttpResponse:
    worker = _worker(request, token)
    assignment = assignment_for_annotator(assignment_id=assignment_id, annotator=worker.user)
    if assignment is None or assignment.project_id != worker.link.project_id:
        raise Http404("No such item")
    project = worker.link.project
    left, right = sides(
        project, assignment, item_for_labeling(item_id=assignment.item_id, kind=project.kind)
    )
    labels = labels_from_post(
        project=project, post=request.POST, left_index=left, right_index=right
    )
    try:
        result = study_submit(
            worker=worker,
            assignment=assignment,
            labels=labels,
            client_token=request.POST.get("client_token", "")[:64],
            active_ms=_active_ms(request.POST.get("active_ms", "")),
        )
    except ApplicationError as exc:
        if exc.code == "finished":
            return redirect("study_done", token=token)
        return _label_page(request, worker, assignment, error=str(exc))
    if result.training:
        request.session[FEEDBACK_KEY] = {"assignment": assignment.id, "correct": result.correct}
        return redirect("study_feedback", token=token)
    if worker.status != StudyWorker.Status.ACTIVE:
        return redirect("study_done", token=token)
    return redirect("study_label", token=token)


def _active_ms(raw: str) -> int | None:
    return max(0, int(raw)) if raw.isdigit() and len(raw) < 12 else None


@require_GET
def study_feedback(request: HttpRequest, token: str) -> HttpResponse:
    """After a training item: right or not, and the expected answer in the form."""
    worker = _worker(request, token)
    feedback = request.session.get(FEEDBACK_KEY)
    if not isinstance(feedback, dict):
        return redirect("study_label", token=token)
    assignment = assignment_for_annotator(
        assignment_id=int(feedback.get("assignment", 0)), annotator=worker.user
    )
    if assignment is None:
        return redirect("study_label", token=token)
    gold = item_gold_annotation(item_id=assignment.item_id)
    task = _task(worker, assignment, labels=annotation_labels(gold) if gold else None)
    context = {
        **_base(worker),
        "task": task,
        "correct": feedback.get("correct"),
        "stopped": worker.status != StudyWorker.Status.ACTIVE,
        "next_url": reverse(
            "study_label" if worker.status == StudyWorker.Status.ACTIVE else "study_done",
            args=[token],
        ),
        **page_templates(worker.link.project),
    }
    return render(request, "web/study_feedback.html", context)


@require_GET
def study_done(request: HttpRequest, token: str) -> HttpResponse:
    """The end: the worker's code, and the way back to the platform."""
    worker = _worker(request, token)
    if worker.status == StudyWorker.Status.ACTIVE:
        return redirect("study_label", token=token)
    link = worker.link
    context = {
        **_base(worker),
        "completed": worker.status == StudyWorker.Status.COMPLETED,
        "failed_training": worker.status == StudyWorker.Status.FAILED,
        "code": worker.completion_code,
        # Only completed workers are sent on automatically; the others read why first.
        "redirect_url": link.completion_url
        if worker.status == StudyWorker.Status.COMPLETED
        else "",
    }
    return render(request, "web/study_done.html", context)
