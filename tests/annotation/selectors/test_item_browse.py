"""The item browser's reads: every filter, keyset pages without duplicates or gaps, search
on PostgreSQL (the GIN column) and SQLite (icontains)."""

from __future__ import annotations

import pytest
from django.db import connection

from annotation.models import Item
from annotation.selectors.items import (
    ItemOrder,
    ItemQuery,
    ItemStatus,
    item_browse,
    item_cursor_parse,
)
from annotation.services.item_search import item_search_refresh
from tests.item_browser_data import N_ITEMS, build

pytestmark = pytest.mark.django_db


@pytest.fixture
def data(make_user):
    return build(make_user)


def _ids(data, query: ItemQuery, page_size: int = 50) -> list[str]:
    page = item_browse(project=data.project, query=query, page_size=page_size)
    return [r.item.external_id for r in page.rows]


def _all_pages(data, query: ItemQuery, page_size: int) -> list[str]:
    seen: list[str] = []
    after = None
    for _ in range(100):
        page = item_browse(project=data.project, query=query, after=after, page_size=page_size)
        seen += [r.item.external_id for r in page.rows]
        if page.next_cursor is None:
            return seen
        after = item_cursor_parse(cursor=page.next_cursor, order=query.order)
    raise AssertionError("pagination did not end")


@pytest.mark.parametrize("order", [ItemOrder.ID, ItemOrder.PRIORITY])
def test_keyset_pages_have_no_duplicates_or_gaps(data, order) -> None:
    query = ItemQuery(order=order)
    everything = _ids(data, query, page_size=200)
    assert len(everything) == N_ITEMS + 1
    for size in (1, 4, 7):
        assert _all_pages(data, query, size) == everything
    if order == ItemOrder.PRIORITY:
        assert everything[0] == "t9"  # priority 5 first, then id order


def test_keyset_ties_on_priority(data) -> None:
    Item.objects.filter(project=data.project).update(priority=1)
    Item.objects.filter(external_id__in=["t3", "t20"]).update(priority=2)
    pages = _all_pages(data, ItemQuery(order=ItemOrder.PRIORITY), 3)
    assert pages[:2] == ["t3", "t20"]
    assert sorted(pages) == sorted(_ids(data, ItemQuery(), page_size=200))
    assert len(set(pages)) == len(pages)


def test_status_filters(data) -> None:
    def status(s: str) -> list[str]:
        return _ids(data, ItemQuery(status=s))

    assert status(ItemStatus.COMPLETE) == ["t0"]
    assert status(ItemStatus.ADJUDICATED) == ["t1"]
    assert status(ItemStatus.IN_PROGRESS) == ["t2"]
    assert status(ItemStatus.GOLD) == ["t4"]
    assert "t0" not in status(ItemStatus.UNLABELED)
    assert len(status(ItemStatus.UNLABELED)) == N_ITEMS + 1 - 4
    rows = {
        r.item.external_id: r for r in item_browse(project=data.project, query=ItemQuery()).rows
    }
    assert rows["t1"].status == ItemStatus.ADJUDICATED
    assert (rows["t0"].labels, rows["t0"].needed) == (2, 2)


def test_label_count_agreement_flags_and_priority_filters(data) -> None:
    assert _ids(data, ItemQuery(labels_min=2)) == ["t0", "t1"]
    assert _ids(data, ItemQuery(labels_min=1, labels_max=1)) == ["t2"]
    assert _ids(data, ItemQuery(agreement="agree")) == ["t0"]
    assert _ids(data, ItemQuery(agreement="disagree")) == ["t1"]
    assert "t0" not in _ids(data, ItemQuery(agreement="single"))
    rows = {
        r.item.external_id: r for r in item_browse(project=data.project, query=ItemQuery()).rows
    }
    assert rows["t0"].agreement == 1.0
    assert rows["t1"].agreement == 0.0
    assert rows["t2"].agreement is None
    assert _ids(data, ItemQuery(flags="open")) == ["t3"]
    assert _ids(data, ItemQuery(flags="any")) == ["t3"]
    assert "t3" not in _ids(data, ItemQuery(flags="none"))
    assert rows["t3"].open_flags == 1
    assert _ids(data, ItemQuery(priority_min=1)) == ["t9"]
    assert "t9" not in _ids(data, ItemQuery(priority_max=0))
    second = data.items["o1"].dataset_id
    assert _ids(data, ItemQuery(dataset_id=second)) == ["o1"]


def test_model_verdict_filters(data) -> None:
    assert _ids(data, ItemQuery(suggested="yes")) == ["t5", "t6"]
    assert len(_ids(data, ItemQuery(suggested="no"))) == N_ITEMS + 1 - 2
    assert _ids(data, ItemQuery(method="judge")) == ["t5"]
    assert _ids(data, ItemQuery(verdict="-1")) == ["t5"]
    assert _ids(data, ItemQuery(score_min=0.5)) == ["t5"]
    assert _ids(data, ItemQuery(score_max=0.5)) == ["t6"]
    row = item_browse(project=data.project, query=ItemQuery(method="judge")).rows[0]
    assert [(v.method, v.label, v.score) for v in row.verdicts] == [("judge", "-1", 0.9)]


def test_annotator_filter(data) -> None:
    assert _ids(data, ItemQuery(annotator_id=data.a1.id)) == ["t0", "t1", "t2"]
    assert _ids(data, ItemQuery(annotator_id=data.a2.id)) == ["t0", "t1"]
    assert _ids(data, ItemQuery(annotator_id=data.manager.id)) == ["t1"]  # adjudicated


def test_search_over_problem_and_steps(data) -> None:
    assert _ids(data, ItemQuery(q="zebra")) == ["t7"]
    assert _ids(data, ItemQuery(q="quokka")) == ["t12"]
    assert _ids(data, ItemQuery(q="nothing-like-this")) == []
    assert _ids(data, ItemQuery(q="quokka", status="unlabeled")) == ["t12"]
    assert _ids(data, ItemQuery(q="quokka", status="complete")) == []


@pytest.mark.postgres
def test_postgres_search_uses_the_indexed_column(data) -> None:
    assert connection.vendor == "postgresql"
    # Full-text semantics (words, websearch syntax), not substrings.
    assert _ids(data, ItemQuery(q="zebr")) == []
    assert _ids(data, ItemQuery(q='"zebra crossing"')) == ["t7"]
    assert _ids(data, ItemQuery(q="apple -number")) == []
    # An item whose text changed outside the import is found once its column is refreshed.
    Item.objects.filter(id=data.items["t8"].id).update(prompt="a walrus")
    assert _ids(data, ItemQuery(q="walrus")) == []
    item_search_refresh(item_ids=[data.items["t8"].id])
    assert _ids(data, ItemQuery(q="walrus")) == ["t8"]
    with connection.cursor() as cur:
        cur.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'item_search_gin'")
        assert "gin (search_vector)" in cur.fetchone()[0]


def test_sqlite_search_is_a_substring_match(data) -> None:
    if connection.vendor == "postgresql":
        pytest.skip("the icontains fallback is for SQLite")
    assert _ids(data, ItemQuery(q="zebr")) == ["t7"]
    assert _ids(data, ItemQuery(q="QUOKKA")) == ["t12"]


@pytest.mark.parametrize(
    ("cursor", "order", "expected"),
    [("12", "id", (0, 12)), ("5.12", "-priority", (5, 12)), ("-3.4", "-priority", (-3, 4)),
     ("5.12", "id", None), ("12", "-priority", None), ("x", "id", None), ("", "id", None),
     ("9" * 25, "id", None), ("99999999999999999999", "id", None)],
)  # fmt: skip
def test_cursor_parse(cursor, order, expected) -> None:
    assert item_cursor_parse(cursor=cursor, order=order) == expected


@pytest.mark.parametrize(
    ("kind", "record"),
    [
        ("dialogue_coding", {"external_id": "d1", "prompt": "Talk",
                             "turns": [{"speaker": "client", "text": "I saw a giraffe"},
                                       {"speaker": "therapist", "text": "Tell me more"}]}),
        ("preference", {"external_id": "p1", "prompt": "Which?",
                        "candidates": [{"text": "A giraffe is tall"}, {"text": "No idea"}]}),
    ],
)  # fmt: skip
def test_search_covers_turns_and_candidates(make_project, kind, record) -> None:
    import io
    import json

    from annotation.services.imports import dataset_import

    project = make_project(kind)
    other = {**record, "external_id": "x2", "prompt": "Other"}
    other = json.loads(json.dumps(other).replace("giraffe", "zebra"))
    data = (json.dumps(record) + "\n" + json.dumps(other) + "\n").encode()
    result = dataset_import(project=project, dataset_name="d", fmt="native",
                            stream=io.BytesIO(data))  # fmt: skip
    assert result.ok, result.errors
    page = item_browse(project=project, query=ItemQuery(q="giraffe"))
    assert [r.item.external_id for r in page.rows] == [record["external_id"]]


@pytest.mark.postgres
def test_postgres_search_plans_agree(data) -> None:
    """Rare words go through the GIN bitmap, common ones (known to ANALYZE) walk the items
    in order: both give the same pages."""
    before = {q: _all_pages(data, ItemQuery(q=q), 7) for q in ("apple", "quokka", "step")}
    with connection.cursor() as cur:
        cur.execute("ANALYZE annotation_item")
    after = {q: _all_pages(data, ItemQuery(q=q), 7) for q in ("apple", "quokka", "step")}
    assert before == after
    assert len(after["apple"]) == 29
    assert after["quokka"] == ["t12"]
