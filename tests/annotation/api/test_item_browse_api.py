"""REST of the item browser: filters and keyset cursors on the item list, the item detail,
and the bulk actions with their roles."""

from __future__ import annotations

import pytest

from annotation.models import Item, Role
from annotation.services.projects import membership_set
from tests.item_browser_data import N_ITEMS, build

pytestmark = pytest.mark.django_db
P = "/api/v1/projects/browse"


@pytest.fixture
def data(make_user):
    return build(make_user)


def _client(api_client, data, make_user, role):
    user = make_user()
    membership_set(project=data.project, user=user, role=role)
    api_client.force_authenticate(user)
    return api_client


def _ext(body) -> list[str]:
    return [r["external_id"] for r in body["results"]]


def test_filters_and_columns(api_client, data, make_user) -> None:
    client = _client(api_client, data, make_user, Role.RESEARCHER)
    assert _ext(client.get(f"{P}/items/?status=adjudicated").json()) == ["t1"]
    assert _ext(client.get(f"{P}/items/?agreement=disagree").json()) == ["t1"]
    assert _ext(client.get(f"{P}/items/?flags=open").json()) == ["t3"]
    assert _ext(client.get(f"{P}/items/?method=judge&verdict=-1").json()) == ["t5"]
    assert _ext(client.get(f"{P}/items/?q=quokka").json()) == ["t12"]
    assert _ext(client.get(f"{P}/items/?annotator={data.a2.id}").json()) == ["t0", "t1"]
    row = client.get(f"{P}/items/?labels_min=2").json()["results"][1]
    assert row["external_id"] == "t1"
    assert (row["status"], row["labels"], row["labels_needed"], row["agreement"]) == (
        "adjudicated", 2, 2, 0.0)  # fmt: skip
    assert [s["text"] for s in row["steps"]] == ["first step", "second step", "last step"]
    judged = client.get(f"{P}/items/?method=judge").json()["results"][0]
    assert judged["verdicts"] == [
        {"method": "judge", "model": "judge-model", "label": "-1", "score": 0.9}
    ]


@pytest.mark.parametrize("order", ["id", "-priority"])
def test_cursor_walk(api_client, data, make_user, order) -> None:
    client = _client(api_client, data, make_user, Role.REVIEWER)
    url = f"{P}/items/?page_size=4&order={order}"
    seen: list[str] = []
    while url:
        body = client.get(url).json()
        assert body["previous"] is None
        assert len(body["results"]) <= 4
        seen += _ext(body)
        url = body["next"]
    assert len(seen) == len(set(seen)) == N_ITEMS + 1
    if order == "-priority":
        assert seen[0] == "t9"


@pytest.mark.parametrize(
    "query",
    ["cursor=abc", "cursor=5.5&order=id", "status=done", "labels_min=-1", "score_min=nan",
     "score_max=inf", "q=" + "x" * 201, "annotator=1e3", "order=priority", "method=oracle",
     "dataset=99999999999999999999999"],
)  # fmt: skip
def test_bad_parameters_are_client_errors(api_client, data, make_user, query) -> None:
    client = _client(api_client, data, make_user, Role.MANAGER)
    response = client.get(f"{P}/items/?{query}")
    assert response.status_code in (400, 404), response.content


def test_detail(api_client, data, make_user) -> None:
    client = _client(api_client, data, make_user, Role.REVIEWER)
    body = client.get(f"{P}/items/{data.items['t1'].id}/").json()
    assert body["status"] == "adjudicated"
    sources = sorted(a["source"] for a in body["annotations"])
    assert sources == ["adjudication", "human", "human"]
    human = next(a for a in body["annotations"] if a["source"] == "human")
    assert human["revisions"][0]["revision"] == 1
    assert human["labels"]["steps"]
    flagged = client.get(f"{P}/items/{data.items['t3'].id}/").json()
    assert flagged["flag_list"][0]["reason"] == "broken"
    judged = client.get(f"{P}/items/{data.items['t5'].id}/").json()
    assert judged["suggestions"][0]["raw"] == {"text": "<i>ok</i>"}
    assert judged["suggestions"][0]["job_id"] == 3
    assert client.get(f"{P}/items/{10**12}/").status_code == 404


@pytest.mark.parametrize(
    ("role", "status"),
    [(Role.MANAGER, 200), (Role.REVIEWER, 403), (Role.RESEARCHER, 403), (Role.ANNOTATOR, 403)],
)
def test_bulk_roles(api_client, data, make_user, role, status) -> None:
    client = _client(api_client, data, make_user, role)
    body = {"action": "set_priority", "items": [data.items["t0"].id], "value": 9}
    assert client.post(f"{P}/items/bulk/", body, format="json").status_code == status
    assert (Item.objects.get(id=data.items["t0"].id).priority == 9) == (status == 200)


def test_list_roles_and_non_members(api_client, data, make_user) -> None:
    client = _client(api_client, data, make_user, Role.ANNOTATOR)
    assert client.get(f"{P}/items/").status_code == 403
    api_client.force_authenticate(make_user())
    assert api_client.get(f"{P}/items/").status_code == 404
    assert api_client.post(f"{P}/items/bulk/", {}, format="json").status_code == 404


def test_bulk_actions(api_client, data, make_user) -> None:
    client = _client(api_client, data, make_user, Role.MANAGER)
    t0, t1, t2 = (data.items[k].id for k in ("t0", "t1", "t2"))
    body = client.post(f"{P}/items/bulk/", {"action": "requeue", "items": [t0, t2], "value": 2},
                       format="json").json()  # fmt: skip
    assert body == {"action": "requeue", "changed": 2, "skipped": {}}
    # t0 has 2 labels: it now needs 4; t2 has 1: it needs 3.
    assert Item.objects.get(id=t0).extra_labels == 2
    assert Item.objects.get(id=t2).extra_labels == 1
    gold = client.post(f"{P}/items/bulk/", {"action": "mark_gold", "items": [t1, t2]},
                       format="json").json()  # fmt: skip
    assert gold["changed"] == 1
    assert gold["skipped"] == {"no adjudicated label to use as the answer": 1}
    too_many = client.post(f"{P}/items/bulk/", {"action": "requeue", "items": [t0], "value": 11},
                           format="json")  # fmt: skip
    assert too_many.status_code == 400
    assert "value" in too_many.json()
    empty = client.post(f"{P}/items/bulk/", {"action": "requeue", "items": []}, format="json")
    assert empty.status_code == 400
    other = client.post(f"{P}/items/bulk/",
                        {"action": "set_priority", "items": [10**12], "value": 1}, format="json")  # fmt: skip
    assert other.json()["changed"] == 0
