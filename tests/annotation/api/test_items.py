"""Items: cursor-paginated list with steps, turns and candidates nested; filters; detail."""

from __future__ import annotations

import io
import json

import pytest

from annotation.models import Dataset, Item, Role
from annotation.services.imports import dataset_import


def _import(project, dataset_name: str, n: int, group_key: str = "", start: int = 0) -> Dataset:
    lines = "\n".join(
        json.dumps(
            {
                "external_id": f"{dataset_name}-{i}",
                "group_key": group_key or f"g{i % 2}",
                "prompt": f"Problem {i}",
                "steps": [f"step {i}.0", f"step {i}.1"],
                "turns": [{"speaker": "user", "text": "hi"}],
                "candidates": [{"text": "A", "metadata": {"k": i}}, {"text": "B"}],
            }
        )
        for i in range(start, start + n)
    )
    result = dataset_import(
        project=project,
        dataset_name=dataset_name,
        fmt="native",
        stream=io.BytesIO(lines.encode()),
    )
    assert result.ok, result.errors
    return Dataset.objects.get(id=result.dataset_id)


@pytest.fixture
def project(make_project):
    return make_project(slug="p1")


@pytest.fixture
def reviewer_client(project, member, api_client):
    api_client.force_authenticate(member(project, Role.REVIEWER))
    return api_client


def test_item_list_nests_children_in_order(project, reviewer_client):
    _import(project, "d1", 2)
    response = reviewer_client.get("/api/v1/projects/p1/items/")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"next", "previous", "results"}
    first = body["results"][0]
    assert first["external_id"] == "d1-0"
    assert [s["text"] for s in first["steps"]] == ["step 0.0", "step 0.1"]
    assert [s["index"] for s in first["steps"]] == [0, 1]
    assert first["turns"][0] | {"id": 0} == {"id": 0, "index": 0, "speaker": "user", "text": "hi"}
    assert [c["text"] for c in first["candidates"]] == ["A", "B"]
    assert first["candidates"][0]["metadata"] == {"k": 0}


@pytest.mark.parametrize("n", [3, 30])
def test_item_page_costs_constant_queries(project, reviewer_client, django_assert_num_queries, n):
    _import(project, "d1", n)
    # project and role, items page, steps, turns, candidates; the browser's columns:
    # adjudications, flags, model verdicts (agreement adds one once items have 2 labels)
    with django_assert_num_queries(8):
        response = reviewer_client.get("/api/v1/projects/p1/items/")
    assert len(response.json()["results"]) == n


def test_cursor_pagination_walks_all_items_in_id_order(project, reviewer_client):
    _import(project, "d1", 5)
    seen: list[int] = []
    url = "/api/v1/projects/p1/items/?page_size=2"
    while url:
        body = reviewer_client.get(url).json()
        assert len(body["results"]) <= 2
        seen += [i["id"] for i in body["results"]]
        url = body["next"]
    assert seen == list(
        Item.objects.filter(project=project).order_by("id").values_list("id", flat=True)
    )


def test_page_size_defaults_to_50_and_caps_at_500(project, reviewer_client):
    _import(project, "d1", 60)
    assert len(reviewer_client.get("/api/v1/projects/p1/items/").json()["results"]) == 50
    big = reviewer_client.get("/api/v1/projects/p1/items/?page_size=100000").json()
    assert len(big["results"]) == 60


def test_filter_by_dataset_and_group_key(project, reviewer_client):
    d1 = _import(project, "d1", 4)
    d2 = _import(project, "d2", 3, group_key="shared")
    by_dataset = reviewer_client.get(f"/api/v1/projects/p1/items/?dataset={d2.id}").json()
    assert {i["dataset"] for i in by_dataset["results"]} == {d2.id}
    assert len(by_dataset["results"]) == 3
    by_group = reviewer_client.get("/api/v1/projects/p1/items/?group_key=g1").json()
    assert [i["external_id"] for i in by_group["results"]] == ["d1-1", "d1-3"]
    both = reviewer_client.get(f"/api/v1/projects/p1/items/?dataset={d1.id}&group_key=shared")
    assert both.json()["results"] == []


def test_bad_dataset_filter_is_400(project, reviewer_client):
    response = reviewer_client.get("/api/v1/projects/p1/items/?dataset=abc")
    assert response.status_code == 400
    assert "dataset" in response.json()


def test_items_of_other_projects_are_not_listed(project, make_project, reviewer_client):
    _import(project, "d1", 1)
    _import(make_project(slug="p2"), "d1", 2)
    results = reviewer_client.get("/api/v1/projects/p1/items/").json()["results"]
    assert [i["external_id"] for i in results] == ["d1-0"]


def test_item_detail(project, reviewer_client):
    _import(project, "d1", 2)
    item = Item.objects.get(external_id="d1-1")
    response = reviewer_client.get(f"/api/v1/projects/p1/items/{item.id}/")
    assert response.status_code == 200
    assert response.json()["prompt"] == "Problem 1"
    assert len(response.json()["steps"]) == 2
    assert reviewer_client.get("/api/v1/projects/p1/items/999999/").status_code == 404
