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
    assert 'hx-trigger="every 2s"' in html
    assert len(callbacks) == 1
    project_stats_refresh_execute(refresh_id=stats_refresh_latest(project=project).id)
    resp = client.get(f"/projects/{project.slug}/dashboard/body/", HTTP_HX_REQUEST="true")
    html = resp.content.decode()
    assert "every 2s" not in html
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
    assert "Refresh statistics" not in resp.content.decode()


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
    assert "every 2s" in resp.content.decode()
