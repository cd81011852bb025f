"""The model loop's settings and uncertainty routing: the claim order follows the routing
scores written after a scoring job, switching routing off restores the managers' priorities,
and the claim query is unchanged (same number of queries)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotation.errors import ApplicationError
from annotation.models import Dataset, Item, Step, Suggestion
from annotation.services.assignments import assignment_claim_next
from annotation.services.model_loop import (
    item_routing_recompute,
    project_model_loop_update,
    routing_priority,
)

pytestmark = pytest.mark.django_db


def _items(project, n):
    ds = Dataset.objects.create(project=project, name="d", source_format="native")
    items = []
    for k in range(n):
        item = Item.objects.create(
            dataset=ds, project=project, external_id=f"x{k}", content_hash=f"h{k}", priority=k
        )
        Step.objects.bulk_create(Step(item=item, index=i, text=f"s{i}") for i in range(2))
        items.append(item)
    return items


def _verdict(item, method, label, job_id, **kw):
    return Suggestion.objects.create(
        item=item, method=method, target="item", label=str(label), model_name="m",
        job_id=job_id, **kw,
    )  # fmt: skip


@pytest.fixture
def routed(make_project):
    """Four items: manager priorities 0..3; a=agreeing and sure, b=judge and MC disagree,
    c=agree but the PRM is close to its threshold, d=no model verdict."""
    project = make_project("step_labels")
    a, b, c, d = _items(project, 4)
    for item, judge, mc in ((a, -1, -1), (b, 0, -1), (c, 1, 1)):
        _verdict(item, "verify", judge, job_id=1)
        _verdict(item, "mc", mc, job_id=2)
    _verdict(a, "prm", -1, 3, raw={"scores": [0.97, 0.99], "threshold": 0.5})
    _verdict(c, "prm", 1, 3, raw={"scores": [0.58, 0.2], "threshold": 0.5})
    # An older judge job said otherwise about a: only the newest job counts.
    _verdict(a, "judge", 1, job_id=0)
    return project, (a, b, c, d)


def test_uncertainty_routing_orders_the_claim_and_restores(routed, member, routing_inline):
    project, (a, b, c, d) = routed
    with routing_inline():
        project_model_loop_update(project=project, routing="uncertainty")
    prio = dict(Item.objects.filter(project=project).values_list("id", "priority"))
    assert prio[b.id] == routing_priority(1.0) == 1000
    assert prio[c.id] == routing_priority(1 - 0.08 / 0.5)
    assert prio[a.id] == routing_priority(1 - 0.47 / 0.5)
    assert prio[d.id] == 0
    assert prio[b.id] > prio[c.id] > prio[a.id] > prio[d.id]
    assert set(
        Item.objects.filter(project=project, routed_at__isnull=False).values_list("id", flat=True)
    ) == {a.id, b.id, c.id}
    annotator = member(project)
    order = []
    for _ in range(4):
        lease = assignment_claim_next(project=project, annotator=annotator)
        order.append(lease.item_id)
        lease.status = "skipped"
        lease.save()
    assert order == [b.id, c.id, a.id, d.id]
    # Routing off: the managers' priorities (0..3) are back, and so is their order.
    with routing_inline():
        project_model_loop_update(project=project, routing="priority")
    prio = dict(Item.objects.filter(project=project).values_list("id", "priority"))
    assert [prio[i.id] for i in (a, b, c, d)] == [0, 1, 2, 3]
    assert not Item.objects.filter(project=project, manager_priority__isnull=False).exists()


def test_recompute_is_idempotent_and_keeps_manager_priority(routed):
    project, items = routed
    project.routing = "uncertainty"
    project.save()
    assert item_routing_recompute(project=project) == 3
    first = dict(Item.objects.filter(project=project).values_list("id", "priority"))
    assert item_routing_recompute(project=project) == 3
    assert dict(Item.objects.filter(project=project).values_list("id", "priority")) == first
    parked = dict(Item.objects.filter(project=project).values_list("id", "manager_priority"))
    assert [parked[i.id] for i in items] == [0, 1, 2, 3]


def test_claim_query_count_is_unchanged_by_routing(
    routed, member, django_assert_num_queries, routing_inline
):
    project, _ = routed
    first, second = member(project), member(project)
    with CaptureQueriesContext(connection) as ctx:
        assert assignment_claim_next(project=project, annotator=first) is not None
    before = len(ctx.captured_queries)
    assert before >= 1
    with routing_inline():
        project_model_loop_update(project=project, routing="uncertainty")
    assert Item.objects.filter(project=project, routed_at__isnull=False).exists()
    with django_assert_num_queries(before):
        assignment_claim_next(project=project, annotator=second)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"routing": "random"}, "routing"),
        ({"auto_accept_target": 0.2}, "auto_accept_target"),
        ({"auto_accept_target": True}, "auto_accept_target"),
        ({"auto_accept_min_labeled": 0}, "auto_accept_min_labeled"),
        ({"prefill": "yes"}, "prefill"),
        ({"overlap": 3}, "overlap"),
    ],
)
def test_settings_are_validated(make_project, fields, field):
    with pytest.raises(ApplicationError) as err:
        project_model_loop_update(project=make_project("step_labels"), **fields)
    assert err.value.field == field


def test_settings_change_queues_the_rerank_after_commit(routed, django_capture_on_commit_callbacks):
    project, _ = routed
    with django_capture_on_commit_callbacks() as callbacks:
        project_model_loop_update(project=project, routing="uncertainty")
        project_model_loop_update(project=project, prefill=True)  # routing unchanged
    assert len(callbacks) == 1
    # Nothing is re-ranked in the request itself.
    assert not Item.objects.filter(project=project, routed_at__isnull=False).exists()


def test_settings_api(routed, api_client, member, routing_inline):
    project, _ = routed
    url = f"/api/v1/projects/{project.slug}/model-loop/"
    manager = project.created_by
    api_client.force_authenticate(manager)
    got = api_client.get(url)
    assert got.status_code == 200
    assert got.json()["routing"] == "priority"
    assert got.json()["auto_accept_target"] == 0.95
    assert got.json()["calibration"]["choice"]["rule"] is None
    with routing_inline():
        resp = api_client.patch(
            url, {"routing": "uncertainty", "auto_accept_min_labeled": 20, "prefill": True},
            format="json",
        )  # fmt: skip
    assert resp.status_code == 200, resp.content
    project.refresh_from_db()
    assert (project.routing, project.auto_accept_min_labeled, project.prefill) == (
        "uncertainty", 20, True,
    )  # fmt: skip
    assert Item.objects.filter(project=project, priority=1000).count() == 1
    assert api_client.patch(url, {"auto_accept_target": 2}, format="json").status_code == 400
    api_client.force_authenticate(member(project))  # an annotator
    assert api_client.get(url).status_code == 403
    assert api_client.patch(url, {"prefill": False}, format="json").status_code == 403
