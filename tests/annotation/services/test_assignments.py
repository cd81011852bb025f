import io
import json
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from annotation.models import Assignment, Item, Role
from annotation.services.annotations import annotation_submit
from annotation.services.assignments import assignment_claim_next, assignment_skip
from annotation.services.imports import dataset_import

RATE_ALL = {"finish_reason": "solution"}


def _traces(project, n: int, priorities=None) -> list[Item]:
    lines = [
        {"external_id": f"t{i}", "prompt": f"Problem {i}", "steps": [f"step {i}.0", f"step {i}.1"]}
        for i in range(n)
    ]
    data = "".join(json.dumps(x) + "\n" for x in lines).encode()
    assert dataset_import(
        project=project, dataset_name="d", fmt="native", stream=io.BytesIO(data)
    ).ok
    items = list(Item.objects.filter(project=project).order_by("id"))
    for item, prio in zip(items, priorities or [], strict=False):
        item.priority = prio
        item.save(update_fields=["priority"])
    return items


def _labels():
    return {
        "steps": [{"index": 0, "rating": 1}, {"index": 1, "rating": 1}],
        "finish_reason": "solution",
    }


def test_claims_highest_priority_then_oldest(make_project, member):
    project = make_project(overlap=1)
    items = _traces(project, 3, priorities=[0, 5, 5])
    a = member(project, Role.ANNOTATOR)
    first = assignment_claim_next(project=project, annotator=a)
    assert first.item_id == items[1].id
    # asking again returns the lease I hold, not a new one
    assert assignment_claim_next(project=project, annotator=a).id == first.id
    second = assignment_claim_next(project=project, annotator=a, exclude_ids=[first.id])
    assert second.item_id == items[2].id


def test_item_needs_k_distinct_annotators(make_project, member):
    project = make_project(overlap=2)
    (item,) = _traces(project, 1)
    a1, a2, a3 = (member(project) for _ in range(3))
    for a in (a1, a2):
        asg = assignment_claim_next(project=project, annotator=a)
        assert asg.item_id == item.id
        annotation_submit(assignment=asg, labels=_labels(), client_token=f"tok-{a.id}")
    assert assignment_claim_next(project=project, annotator=a3) is None
    item.refresh_from_db()
    assert (item.done_count, item.is_complete) == (2, True)
    # a submitter never gets the same item again
    assert assignment_claim_next(project=project, annotator=a1) is None


def test_open_leases_take_slots_until_they_expire(make_project, member):
    project = make_project(overlap=1)
    (item,) = _traces(project, 1)
    a1, a2 = member(project), member(project)
    lease = assignment_claim_next(project=project, annotator=a1)
    assert assignment_claim_next(project=project, annotator=a2) is None
    later = timezone.now() + timedelta(minutes=31)
    again = assignment_claim_next(project=project, annotator=a2, now=later)
    assert again is not None
    assert again.item_id == item.id
    lease.refresh_from_db()
    assert lease.expires_at < later  # the abandoned lease went back to the pool


def test_skip_releases_and_is_not_shown_again(make_project, member):
    project = make_project(overlap=1)
    items = _traces(project, 2)
    a1, a2 = member(project), member(project)
    asg = assignment_claim_next(project=project, annotator=a1)
    assignment_skip(assignment=asg, reason="unclear problem")
    nxt = assignment_claim_next(project=project, annotator=a1)
    assert nxt.item_id == items[1].id
    # the skipped item is free for someone else
    other = assignment_claim_next(project=project, annotator=a2)
    assert other.item_id == items[0].id
    assert Assignment.objects.get(id=asg.id).skip_reason == "unclear problem"


def test_preference_pair_and_sides_are_stored(make_project, member):
    project = make_project("preference", overlap=1)
    data = json.dumps(
        {
            "external_id": "p",
            "prompt": "q",
            "candidates": [{"text": "a"}, {"text": "b"}, {"text": "c"}],
        }
    )
    dataset_import(
        project=project, dataset_name="d", fmt="native", stream=io.BytesIO(data.encode())
    )
    asg = assignment_claim_next(project=project, annotator=member(project))
    assert asg.left_candidate_id is not None
    assert asg.right_candidate_id is not None
    assert asg.left_candidate_id != asg.right_candidate_id


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_eight_threads_never_share_a_slot(make_project, make_user):
    project = make_project(overlap=2)
    _traces(project, 10)
    from annotation.services.projects import membership_set

    users = [make_user() for _ in range(8)]
    for u in users:
        membership_set(project=project, user=u, role=Role.ANNOTATOR)
    barrier = threading.Barrier(8)
    claimed: dict[int, list[int]] = {}
    errors: list[BaseException] = []

    def work(user):
        try:
            barrier.wait()
            mine = []
            while True:
                asg = assignment_claim_next(project=project, annotator=user, exclude_ids=[])
                if asg is None:
                    break
                annotation_submit(
                    assignment=asg, labels=_labels(), client_token=f"{user.id}-{asg.id}"
                )
                mine.append(asg.item_id)
            claimed[user.id] = mine
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(u,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    per_item: dict[int, int] = {}
    for items in claimed.values():
        assert len(items) == len(set(items))  # nobody got an item twice
        for i in items:
            per_item[i] = per_item.get(i, 0) + 1
    assert sum(per_item.values()) == 20  # 10 items x k=2, none lost
    assert set(per_item.values()) == {2}  # never more than k
    assert all(i.done_count == 2 for i in Item.objects.filter(project=project))


def test_gold_items_are_mixed_in_and_stay_open(make_project, member, make_user):
    import random

    from annotation.services.gold import item_gold_set, item_gold_unset

    project = make_project(overlap=1, label_schema={"gold_rate": 0.5})
    items = _traces(project, 4)
    gold = items[3]
    item_gold_set(item=gold, user=make_user(), labels={"first_error_index": -1})
    project.refresh_from_db()
    assert project.gold_count == 1
    a1, a2 = member(project), member(project)
    always, never = random.Random(), random.Random()
    always.random = lambda: 0.0  # draw gold
    never.random = lambda: 0.99  # draw the ordinary stream
    asg = assignment_claim_next(project=project, annotator=a1, rng=always)
    assert asg.item_id == gold.id
    annotation_submit(assignment=asg, labels=_labels(), client_token="g1")
    gold.refresh_from_db()
    assert gold.is_complete is False  # gold stays open for everyone
    # another annotator meets the same gold item although k=1 is reached
    assert assignment_claim_next(project=project, annotator=a2, rng=always).item_id == gold.id
    # the ordinary stream never hands out gold items, and a1 never sees it twice
    ordinary = assignment_claim_next(project=project, annotator=a1, rng=always)
    assert ordinary.item_id == items[0].id
    seen = {ordinary.item_id}
    while (
        nxt := assignment_claim_next(project=project, annotator=a1, exclude_ids=[], rng=never)
    ) is not None:
        annotation_submit(assignment=nxt, labels=_labels(), client_token=f"n{nxt.id}")
        seen.add(nxt.item_id)
    assert gold.id not in seen
    item_gold_unset(item=gold)
    project.refresh_from_db()
    assert project.gold_count == 0
