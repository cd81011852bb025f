"""The item browser's pages: who sees them, filters over htmx, the item page, bulk actions."""

from __future__ import annotations

import pytest
from django.urls import reverse

from annotation.models import Annotation, Item, Role
from annotation.services.assignments import assignment_claim_next
from annotation.services.projects import membership_set
from tests.item_browser_data import build

pytestmark = pytest.mark.django_db


@pytest.fixture
def data(make_user):
    return build(make_user)


def _as(client, data, make_user, role):
    user = make_user()
    membership_set(project=data.project, user=user, role=role)
    client.force_login(user)
    return user


@pytest.mark.parametrize(
    ("role", "status"),
    [(Role.MANAGER, 200), (Role.REVIEWER, 200), (Role.RESEARCHER, 200), (Role.ANNOTATOR, 404)],
)
def test_roles(client, data, make_user, role, status) -> None:
    _as(client, data, make_user, role)
    assert client.get(reverse("item_list", args=["browse"])).status_code == status
    detail = reverse("item_detail", args=["browse", data.items["t1"].id])
    assert client.get(detail).status_code == status
    bulk = client.post(reverse("item_bulk", args=["browse"]),
                       {"action": "set_priority", "value": "3", "items": [data.items["t0"].id]})  # fmt: skip
    assert bulk.status_code == (200 if role == Role.MANAGER else 404)


def test_non_member_and_anonymous(client, data, make_user) -> None:
    url = reverse("item_list", args=["browse"])
    assert client.get(url).status_code == 302  # to the login page
    client.force_login(make_user())
    assert client.get(url).status_code == 404
    assert (
        client.get(reverse("item_detail", args=["browse", data.items["t0"].id])).status_code == 404
    )


def test_list_filters_and_pages(client, data, make_user) -> None:
    _as(client, data, make_user, Role.REVIEWER)
    url = reverse("item_list", args=["browse"])
    page = client.get(url).content.decode()
    assert "t0" in page
    assert "Adjudicated" in page
    assert "judge: -1" in page
    assert 'name="items"' not in page  # no bulk selection for reviewers
    frag = client.get(url, {"q": "zebra"}, HTTP_HX_REQUEST="true").content.decode()
    assert 'id="item-rows"' in frag
    assert "<html" not in frag
    assert ">t7<" in frag
    assert ">t8<" not in frag
    flagged = client.get(url, {"flags": "open"}).content.decode()
    assert ">t3<" in flagged
    assert ">t0<" not in flagged
    # A bad filter is ignored and said so, never an error page.
    bad = client.get(url, {"labels_min": "-5", "dataset": "999999", "cursor": "junk"})
    assert bad.status_code == 200
    assert "Ignored" in bad.content.decode()
    # Keyset pages: the next link carries the cursor and the filters.
    Item.objects.filter(project=data.project).update(priority=0)
    first = client.get(url, {"order": "-priority"}).content.decode()
    assert "Next page" not in first  # 31 items fit one page of 50


def test_item_page_shows_everything_escaped(client, data, make_user) -> None:
    _as(client, data, make_user, Role.RESEARCHER)
    item = data.items["t1"]
    Item.objects.filter(id=item.id).update(prompt="Solve <script>alert(1)</script> $x^2$")
    page = client.get(reverse("item_detail", args=["browse", item.id])).content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;" in page
    assert '<span class="tex">$x^2$</span>' in page
    assert "Adjudicated label" in page
    assert "Annotators" in page
    assert "revision" in page  # the submitted states
    flagged = client.get(reverse("item_detail", args=["browse", data.items["t3"].id])).content
    assert b"&lt;b&gt;bad&lt;/b&gt;" in flagged
    judged = client.get(reverse("item_detail", args=["browse", data.items["t5"].id])).content
    assert b"Labeling job #3" in judged
    assert b"&lt;i&gt;ok&lt;/i&gt;" in judged
    other = client.get(reverse("item_detail", args=["browse", 10**12]))
    assert other.status_code == 404


def test_bulk_set_priority_and_requeue(client, data, make_user) -> None:
    _as(client, data, make_user, Role.MANAGER)
    url = reverse("item_bulk", args=["browse"])
    ids = [data.items["t0"].id, data.items["t2"].id]
    response = client.post(url + "?status=complete",
                           {"action": "set_priority", "value": "7", "items": ids},
                           HTTP_HX_REQUEST="true")  # fmt: skip
    assert response.status_code == 200
    assert "2 items changed" in response.content.decode()
    assert set(Item.objects.filter(priority=7).values_list("external_id", flat=True)) == {
        "t0",
        "t2",
    }
    bad = client.post(url, {"action": "set_priority", "value": "abc", "items": ids})
    assert bad.status_code == 400
    assert "whole number" in bad.content.decode()
    none = client.post(url, {"action": "set_priority", "value": "1"})
    assert none.status_code == 400
    # t0 is complete with 2 labels; ask for one more: it is open again for a third annotator.
    requeue = client.post(url, {"action": "requeue", "value": "1", "items": [data.items["t0"].id]})
    assert requeue.status_code == 200
    t0 = Item.objects.get(id=data.items["t0"].id)
    assert (t0.is_complete, t0.extra_labels) == (False, 1)
    third = make_user()
    membership_set(project=data.project, user=third, role=Role.ANNOTATOR)
    assert assignment_claim_next(project=data.project, annotator=third).item_id == t0.id


def test_bulk_gold(client, data, make_user) -> None:
    _as(client, data, make_user, Role.MANAGER)
    url = reverse("item_bulk", args=["browse"])
    ids = [data.items["t1"].id, data.items["t2"].id]
    body = client.post(url, {"action": "mark_gold", "items": ids}).content.decode()
    assert "1 item changed" in body
    assert "no adjudicated label" in body
    t1 = Item.objects.get(id=data.items["t1"].id)
    assert t1.is_gold
    assert Annotation.objects.filter(item=t1, source="gold").exists()
    body = client.post(url, {"action": "unmark_gold", "items": ids}).content.decode()
    assert "1 item changed" in body
    assert not Item.objects.get(id=t1.id).is_gold
