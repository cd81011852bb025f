"""Automatic dashboard refreshes: requested after the writes that change the figures,
debounced to at most one running and one waiting refresh per project."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.utils import timezone

from annotation.models import Item, Role, StatsRefresh
from annotation.selectors.stats import project_stats_get
from annotation.services import stats as stats_service
from annotation.services.annotations import adjudication_submit, annotation_submit
from annotation.services.assignments import assignment_claim_next
from annotation.services.flags import flag_create
from annotation.services.stats import (
    project_stats_changed,
    project_stats_refresh_execute,
    project_stats_refresh_request,
)

pytestmark = pytest.mark.django_db


def _active(project):
    return list(
        StatsRefresh.objects.filter(project=project, status__in=("queued", "running"))
        .order_by("id")
        .values_list("status", "rerun_requested")
    )


def test_a_request_while_one_is_queued_is_a_noop(make_project,
                                                 django_capture_on_commit_callbacks):  # fmt: skip
    project = make_project("step_labels", slug="deb")
    with django_capture_on_commit_callbacks() as sent:
        assert project_stats_refresh_request(project_id=project.id)
        assert not project_stats_refresh_request(project_id=project.id)
        assert not project_stats_refresh_request(project_id=project.id)
    assert len(sent) == 1  # one task queued
    assert _active(project) == [("queued", False)]


def test_a_request_while_one_runs_queues_exactly_one_follow_up(
    make_project, monkeypatch, django_capture_on_commit_callbacks
):
    project = make_project("step_labels", slug="deb")
    with django_capture_on_commit_callbacks():
        assert project_stats_refresh_request(project_id=project.id)
    first = StatsRefresh.objects.get(project=project)
    seen_while_running: list[object] = []
    figures = stats_service._figures

    def figures_then_changes(p):
        # Data changes while the refresh reads it: three submits' worth of requests.
        seen_while_running.append(
            [project_stats_refresh_request(project_id=p.id) for _ in range(3)]
        )
        seen_while_running.append(_active(project))
        return figures(p)

    monkeypatch.setattr(stats_service, "_figures", figures_then_changes)
    with django_capture_on_commit_callbacks() as sent:
        done = project_stats_refresh_execute(refresh_id=first.id)
    assert done.status == StatsRefresh.Status.SUCCEEDED
    # The first request marked the running refresh; the others found the mark.
    assert seen_while_running == [[True, False, False], [("running", True)]]
    # The run queued its one follow-up when it ended.
    assert _active(project) == [("queued", False)]
    assert len(sent) == 1
    follow_up = StatsRefresh.objects.filter(project=project).exclude(id=first.id).get()
    monkeypatch.setattr(stats_service, "_figures", figures)
    with django_capture_on_commit_callbacks() as sent:
        assert project_stats_refresh_execute(refresh_id=follow_up.id).status == "succeeded"
    assert _active(project) == []
    assert sent == []  # nothing changed during the follow-up: no third run


def test_a_mark_after_the_run_ended_queues_a_new_refresh(make_project,
                                                         django_capture_on_commit_callbacks):  # fmt: skip
    project = make_project("step_labels", slug="deb")
    StatsRefresh.objects.create(project=project, status="succeeded", finished_at=timezone.now())
    with django_capture_on_commit_callbacks():
        assert project_stats_refresh_request(project_id=project.id)
    assert _active(project) == [("queued", False)]


def test_changes_in_one_transaction_request_once_and_a_rollback_requests_nothing(
    make_project, django_capture_on_commit_callbacks
):
    a = make_project("step_labels", slug="deb-a")
    b = make_project("step_labels", slug="deb-b")
    with django_capture_on_commit_callbacks() as callbacks:
        for _ in range(50):
            project_stats_changed(project_id=a.id)
        project_stats_changed(project_id=b.id)
        try:
            with transaction.atomic():
                project_stats_changed(project_id=a.id)
                project_stats_changed(project_id=999_999)
                raise RuntimeError("roll back")
        except RuntimeError:
            pass
    assert len(callbacks) == 2  # a once, b once; nothing from the rolled-back block
    with django_capture_on_commit_callbacks() as sent:
        for callback in callbacks:
            callback()
    assert len(sent) == 2
    assert _active(a) == [("queued", False)]
    assert _active(b) == [("queued", False)]


def test_submits_adjudications_and_flags_request_a_refresh(
    make_project, member, django_capture_on_commit_callbacks
):
    import io
    import json

    from annotation.services.imports import dataset_import

    project = make_project("step_labels", slug="deb", label_schema={"mode": "first_error"})
    recs = [{"external_id": f"t{i}", "steps": ["a", "b"]} for i in range(3)]
    assert dataset_import(
        project=project, dataset_name="d", fmt="native",
        stream=io.BytesIO("".join(json.dumps(r) + "\n" for r in recs).encode()),
    ).ok  # fmt: skip
    annotator = member(project, Role.ANNOTATOR)
    reviewer = member(project, Role.REVIEWER)
    assignment = assignment_claim_next(project=project, annotator=annotator)
    with django_capture_on_commit_callbacks(execute=True):
        annotation_submit(assignment=assignment, labels={"first_error_index": -1})
    assert _active(project) == [("queued", False)]
    # Executed: the figures now count the submit.
    refresh = StatsRefresh.objects.get(project=project, status="queued")
    project_stats_refresh_execute(refresh_id=refresh.id)
    assert project_stats_get(project=project)["throughput"]["total"] == 1
    item = Item.objects.filter(project=project).first()
    with django_capture_on_commit_callbacks(execute=True):
        adjudication_submit(item=item, reviewer=reviewer, labels={"first_error_index": 0})
    assert _active(project) == [("queued", False)]
    StatsRefresh.objects.filter(project=project).update(status="succeeded")
    with django_capture_on_commit_callbacks(execute=True):
        flag_create(item=item, user=annotator, reason="broken")
    assert _active(project) == [("queued", False)]
