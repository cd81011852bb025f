"""The annotate and review endpoints against every kind of caller.

Annotators (and managers) label; reviewers and managers review; any member who can see an
item may flag it. Non-members get 404, members whose role may not call the endpoint 403,
anonymous callers 401. Annotators never reach anyone else's assignment or annotation (404)
and never see another annotator's labels.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

import pytest
from rest_framework.test import APIClient

from annotation.models import Annotation, Assignment, Item, Project, Role, User
from annotation.services.annotations import annotation_submit
from annotation.services.assignments import assignment_claim_next
from annotation.services.imports import dataset_import

CALLERS = ("manager", "reviewer", "annotator", "researcher", "outsider", "anon", "superuser")
SECRET = "only-the-other-annotator-wrote-this"


def _labels(comment: str = "") -> dict[str, Any]:
    return {
        "steps": [{"index": 0, "rating": 1, "comment": comment}, {"index": 1, "rating": -1}],
        "finish_reason": "found_error",
    }


@dataclass
class World:
    project: Project
    items: list[Item]
    other: User
    other_assignment: Assignment
    other_annotation: Annotation


@pytest.fixture
def world(make_project, member) -> World:
    project = make_project(kind="step_labels", slug="alpha", overlap=2)
    lines = "".join(
        json.dumps({"external_id": f"t{i}", "prompt": f"p{i}", "steps": ["a", "b"]}) + "\n"
        for i in range(3)
    )
    assert dataset_import(
        project=project, dataset_name="d", fmt="native", stream=io.BytesIO(lines.encode())
    ).ok
    other = member(project, Role.ANNOTATOR)
    asg = assignment_claim_next(project=project, annotator=other)
    ann = annotation_submit(assignment=asg, labels=_labels(SECRET), client_token="o1")
    return World(
        project=project,
        items=list(Item.objects.filter(project=project).order_by("id")),
        other=other,
        other_assignment=asg,
        other_annotation=ann,
    )


def _caller(caller: str, world: World, member, make_user) -> tuple[APIClient, User | None]:
    client = APIClient()
    if caller == "anon":
        return client, None
    if caller == "outsider":
        user = make_user()
    elif caller == "superuser":
        user = make_user(is_superuser=True, is_staff=True)
    else:
        user = member(world.project, caller)
    client.force_authenticate(user)
    return client, user


def _ids(world: World, user: User | None, *, submitted: bool) -> dict[str, int]:
    """Ids the caller would use: their own assignment (and annotation) when they are in the
    project, else the other annotator's (the answer must not depend on them)."""
    if user is None or not (
        user.is_superuser or user.memberships.filter(project=world.project).exists()
    ):
        return {
            "asg": world.other_assignment.id,
            "ann": world.other_annotation.id,
            "item": world.other_assignment.item_id,
        }
    asg = assignment_claim_next(project=world.project, annotator=user)
    ids = {"asg": asg.id, "item": asg.item_id, "ann": 0}
    if submitted:
        ids["ann"] = annotation_submit(assignment=asg, labels=_labels(), client_token="mine").id
    return ids


P = "/api/v1/projects/alpha"
# (name, method, path, body, needs a submitted assignment, expected per caller in CALLERS order)
CASES: list[tuple[str, str, str, Any, bool, str]] = [
    ("assignment-next", "post", f"{P}/assignments/next/", {}, False,
     "200 403 200 403 404 401 200"),
    ("assignment-submit", "post", f"{P}/assignments/{{asg}}/submit/",
     {"labels": _labels(), "client_token": "t"}, False,
     "201 403 201 403 404 401 201"),
    ("assignment-skip", "post", f"{P}/assignments/{{asg}}/skip/", {"reason": "unclear"}, False,
     "200 403 200 403 404 401 200"),
    ("annotation-mine", "get", f"{P}/annotations/mine/", None, True,
     "200 403 200 403 404 401 200"),
    ("annotation-edit", "patch", f"{P}/annotations/{{ann}}/",
     {"labels": _labels("changed"), "client_token": "e1"}, True,
     "200 403 200 403 404 401 200"),
    ("item-flag", "post", f"{P}/items/{{item}}/flags/", {"reason": "broken", "note": "x"}, False,
     "201 201 201 201 404 401 201"),
    ("review-items", "get", f"{P}/review/items/?only=all", None, False,
     "200 200 403 403 404 401 200"),
    ("item-annotations", "get", f"{P}/items/{{item}}/annotations/", None, False,
     "200 200 403 403 404 401 200"),
    ("item-adjudication", "post", f"{P}/items/{{item}}/adjudication/",
     {"labels": _labels(), "note": "agreed", "client_token": "a1"}, False,
     "201 201 403 403 404 401 201"),
]  # fmt: skip


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(
    ("method", "path", "body", "submitted", "expected"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_status_by_caller(
    world, member, make_user, caller, method, path, body, submitted, expected
):
    client, user = _caller(caller, world, member, make_user)
    url = path.format(**_ids(world, user, submitted=submitted))
    kwargs: dict[str, Any] = {} if body is None else {"data": body, "format": "json"}
    response = getattr(client, method)(url, **kwargs)
    want = int(expected.split()[CALLERS.index(caller)])
    assert response.status_code == want, getattr(response, "data", response.content)
    # Whatever the endpoint, a caller other than a reviewer never reads someone else's labels.
    if caller in ("annotator", "researcher", "outsider", "anon"):
        assert SECRET not in response.content.decode()


def _annotator_client(world: World, member) -> tuple[APIClient, User]:
    user = member(world.project, Role.ANNOTATOR)
    client = APIClient()
    client.force_authenticate(user)
    return client, user


def test_annotator_cannot_touch_another_annotators_assignment(world, member):
    client, _ = _annotator_client(world, member)
    asg = world.other_assignment.id
    for action in ("submit", "skip"):
        body = {"labels": _labels(), "client_token": "x"} if action == "submit" else {}
        response = client.post(f"{P}/assignments/{asg}/{action}/", body, format="json")
        assert response.status_code == 404
    response = client.patch(
        f"{P}/annotations/{world.other_annotation.id}/",
        {"labels": _labels(), "client_token": "x"},
        format="json",
    )
    assert response.status_code == 404
    world.other_annotation.refresh_from_db()
    assert world.other_annotation.revision == 1


def test_my_annotations_lists_only_mine(world, member):
    client, user = _annotator_client(world, member)
    asg = assignment_claim_next(project=world.project, annotator=user)
    mine = annotation_submit(assignment=asg, labels=_labels("me"), client_token="m")
    body = client.get(f"{P}/annotations/mine/").json()
    assert [row["id"] for row in body["results"]] == [mine.id]
    assert SECRET not in json.dumps(body)


def test_claim_of_an_item_someone_labeled_shows_none_of_their_labels(world, member):
    """overlap=2: the other annotator's item is still open, and the oldest, so I get it."""
    client, _ = _annotator_client(world, member)
    body = client.post(f"{P}/assignments/next/", {}, format="json").json()
    assert body["item"]["id"] == world.other_assignment.item_id
    text = json.dumps(body)
    assert SECRET not in text
    assert "labels" not in body["item"]
    assert "annotations" not in body["item"]


def test_annotator_flags_only_items_assigned_to_them(world, member):
    client, user = _annotator_client(world, member)
    unassigned = world.items[2].id
    response = client.post(f"{P}/items/{unassigned}/flags/", {"reason": "crisis"}, format="json")
    assert response.status_code == 404
    asg = assignment_claim_next(project=world.project, annotator=user)
    response = client.post(
        f"{P}/items/{asg.item_id}/flags/", {"reason": "crisis", "note": "risk"}, format="json"
    )
    assert response.status_code == 201
    assert response.json()["reason"] == "crisis"
    bad = client.post(f"{P}/items/{asg.item_id}/flags/", {"reason": "boring"}, format="json")
    assert bad.status_code == 400
    assert "reason" in bad.json()


def test_ids_from_another_project_are_404(world, make_project, member):
    other = make_project(kind="step_labels", slug="beta")
    line = json.dumps({"external_id": "b", "steps": ["x", "y"]}) + "\n"
    dataset_import(project=other, dataset_name="b", fmt="native", stream=io.BytesIO(line.encode()))
    user = member(world.project, Role.ANNOTATOR)
    from annotation.services.projects import membership_set

    membership_set(project=other, user=user, role=Role.ANNOTATOR)
    foreign = assignment_claim_next(project=other, annotator=user)
    client = APIClient()
    client.force_authenticate(user)
    response = client.post(
        f"{P}/assignments/{foreign.id}/submit/",
        {"labels": _labels(), "client_token": "x"},
        format="json",
    )
    assert response.status_code == 404
    manager = APIClient()
    manager.force_authenticate(world.project.created_by)
    foreign_item = foreign.item_id
    assert manager.get(f"{P}/items/{foreign_item}/annotations/").status_code == 404
    flagged = manager.post(f"{P}/items/{foreign_item}/flags/", {"reason": "other"}, format="json")
    assert flagged.status_code == 404
