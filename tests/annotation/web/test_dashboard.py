from __future__ import annotations

import io
import json

import pytest

from annotation.models import Role, Suggestion
from annotation.selectors.stats import stats_refresh_latest
from annotation.services.imports import dataset_import
from annotation.services.stats import project_stats_refresh, project_stats_refresh_execute


@pytest.fixture
def project(make_project):
    p = make_project("step_labels", slug="dash")
    recs = [{"external_id": f"t{i}", "steps": ["a", "b", "c"],
             "annotations": [{"annotator": "r1", "first_error_index": i % 3 - 1},
                             {"annotator": "r2", "first_error_index": (i + 1) % 3 - 1}]}
            for i in range(12)]  # fmt: skip
    assert dataset_import(project=p, dataset_name="traces", fmt="native",
                          stream=io.BytesIO("".join(json.dumps(r) + "\n" for r in recs).encode())).ok  # fmt: skip
    for item in p.items.all():
        Suggestion.objects.create(item=item, target="item", method="judge", model_name="tiny",
                                  label="-1", job_id=1)  # fmt: skip
    return p


def test_first_visit_queues_and_polls_then_shows_charts(project, member, client,
                                                         django_capture_on_commit_callbacks):  # fmt: skip
    manager = member(project, Role.MANAGER)
    client.force_login(manager)
    with django_capture_on_commit_callbacks() as callbacks:
        resp = client.get(f"/projects/{project.slug}/dashboard/")
    assert resp.status_code == 200
    html = resp.content.decode()
    assert "Computing the statistics" in html
    assert 'hx-trigger="every 3s"' in html  # the status line polls
    assert 'hx-trigger="stats-updated from:body"' in html
    assert len(callbacks) == 1
    project_stats_refresh_execute(refresh_id=stats_refresh_latest(project=project).id)
    resp = client.get(f"/projects/{project.slug}/dashboard/body/", HTTP_HX_REQUEST="true")
    html = resp.content.decode()
    assert "Computing the statistics" not in html
    assert html.count("<svg") >= 4  # progress, throughput, agreement, confusion
    for text in ("Agreement per field", "First-error index", "Pre-labelers vs humans", "tiny",
                 "Flagged items", "r1", "r2"):  # fmt: skip
        assert text in html


def test_dashboard_reads_stats_with_few_queries(project, member, client,
                                                 django_assert_max_num_queries):  # fmt: skip
    project_stats_refresh(project=project)
    client.force_login(member(project, Role.RESEARCHER))
    with django_assert_max_num_queries(8):
        resp = client.get(f"/projects/{project.slug}/dashboard/")
    assert resp.status_code == 200
    assert "Refresh now" not in resp.content.decode()


def test_dashboard_permissions_and_refresh(project, member, make_user, client,
                                           django_capture_on_commit_callbacks):  # fmt: skip
    client.force_login(member(project, Role.ANNOTATOR))
    assert client.get(f"/projects/{project.slug}/dashboard/").status_code == 403
    client.force_login(make_user())
    assert client.get(f"/projects/{project.slug}/dashboard/").status_code == 404
    reviewer = member(project, Role.REVIEWER)
    client.force_login(reviewer)
    assert client.post(f"/projects/{project.slug}/dashboard/refresh/").status_code == 403
    client.force_login(member(project, Role.MANAGER))
    project_stats_refresh(project=project)
    with django_capture_on_commit_callbacks() as callbacks:
        resp = client.post(f"/projects/{project.slug}/dashboard/refresh/", HTTP_HX_REQUEST="true")
    assert resp.status_code == 200
    assert len(callbacks) == 1
    assert "Updating the figures" in resp.content.decode()


def test_status_poll_says_how_old_the_figures_are_and_triggers_a_reload_when_newer(
    project, member, client
):
    from datetime import timedelta

    from django.utils import timezone

    from annotation.models import ProjectStat

    project_stats_refresh(project=project)
    ProjectStat.objects.filter(project=project).update(
        computed_at=timezone.now() - timedelta(seconds=42)
    )
    client.force_login(member(project, Role.REVIEWER))  # reviewers see it update too
    page = client.get(f"/projects/{project.slug}/dashboard/").content.decode()
    assert "Computed <time" in page
    assert "42 seconds ago" in page
    assert "Refresh now" not in page  # managers only
    stamp = ProjectStat.objects.get(project=project, key="agreement").computed_at.timestamp()
    url = f"/projects/{project.slug}/dashboard/status/"
    resp = client.get(url, {"since": f"{stamp:.6f}"}, HTTP_HX_REQUEST="true")
    assert resp.status_code == 200
    assert "HX-Trigger" not in resp  # the page already shows these figures
    assert "42 seconds ago" in resp.content.decode()
    # Newer figures than the page's: the poll tells the body to reload.
    resp = client.get(url, {"since": f"{stamp - 60:.6f}"}, HTTP_HX_REQUEST="true")
    assert resp["HX-Trigger"] == "stats-updated"
    assert client.get(url, {"since": "junk"}, HTTP_HX_REQUEST="true").status_code == 200
    assert client.get(url).status_code == 302  # not htmx: the page


def test_labels_are_display_names_and_times_are_formatted(project, member, client):
    from annotation.models import Flag, Item
    from annotation.web.dashboard import ago, chart_agreement, chart_throughput

    item = Item.objects.filter(project=project).first()
    Flag.objects.create(item=item, user=member(project), reason="personal_data", note="n")
    project_stats_refresh(project=project)
    client.force_login(member(project, Role.MANAGER))
    html = client.get(f"/projects/{project.slug}/dashboard/").content.decode()
    assert "Personal data" in html
    assert ">personal_data<" not in html
    import re

    assert not re.search(r">\s*\d{4}-\d\d-\d\dT\d\d", html)  # no raw ISO times shown
    assert '<td class="cell-sub nowrap"><time datetime=' in html
    # A long field label is not cut; the chart's label column grows to hold it.
    svg = chart_agreement([{"label": "Step correct (first-error semantics)", "alpha": 0.5,
                            "n_units": 3}])  # fmt: skip
    assert "Step correct (first-error semantics)</text>" in svg
    # The last date of the throughput axis ends at its bar, inside the chart.
    days = [{"day": f"2026-11-{d:02d}", "n": d} for d in range(1, 31)]
    svg = chart_throughput({"days": days})
    assert 'text-anchor="end" class="chart-label">Nov 30</text>' in svg
    assert ago(3) == "just now"
    assert ago(1) == "just now"
    assert ago(42) == "42 seconds ago"
    assert ago(61) == "1 minute ago"
    assert ago(7200) == "2 hours ago"


def test_principle_and_dialogue_fields_show_display_names(make_project):
    from annotation.kinds import label_kind_for

    pref = make_project("preference", slug="pref-names")
    labels = [f.label for f in label_kind_for(pref).agreement_fields(project=pref)]
    assert "Principle: Self-exploration" in labels
    assert "Principle: Stage of change" in labels
    assert not any("self_exploration" in x or "staging" in x for x in labels)
