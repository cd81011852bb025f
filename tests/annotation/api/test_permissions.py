"""Every endpoint against every kind of caller: the four project roles, a non-member, an
anonymous client and a superuser.

Non-members get 404 for anything under another project (its slug must not leak); members
whose role is not allowed get 403; anonymous callers get 401 (token auth comes first, so DRF
answers with a WWW-Authenticate challenge).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from annotation.models import Dataset, ImportRun, Item, Membership, Project, Role
from annotation.services.imports import dataset_import

CALLERS = ("manager", "reviewer", "annotator", "researcher", "outsider", "anon", "superuser")


@dataclass
class World:
    project: Project
    dataset: Dataset
    item: Item
    run: ImportRun
    removable: Membership
    newcomer: str


@pytest.fixture
def world(make_project, member, make_user) -> World:
    project = make_project(kind="step_labels", slug="alpha")
    record = {"external_id": "a-1", "prompt": "2+2?", "steps": ["2+2=4", "So 4."]}
    result = dataset_import(
        project=project,
        dataset_name="d1",
        fmt="native",
        stream=io.BytesIO(json.dumps(record).encode()),
    )
    assert result.ok, result.errors
    dataset = Dataset.objects.get(id=result.dataset_id)
    run = ImportRun.objects.create(project=project, dataset_name="d1", format="native")
    removable_user = member(project, Role.ANNOTATOR)
    return World(
        project=project,
        dataset=dataset,
        item=dataset.items.get(),
        run=run,
        removable=Membership.objects.get(project=project, user=removable_user),
        newcomer=make_user("newcomer").username,
    )


def _client(caller: str, world: World, member, make_user) -> APIClient:
    client = APIClient()
    if caller == "anon":
        return client
    if caller == "outsider":
        user = make_user()
    elif caller == "superuser":
        user = make_user(is_superuser=True, is_staff=True)
    else:
        user = member(world.project, caller)
    client.force_authenticate(user)
    return client


def _upload() -> SimpleUploadedFile:
    line = json.dumps({"external_id": "u-1", "steps": ["one"]}).encode()
    return SimpleUploadedFile("u.jsonl", line, content_type="application/jsonl")


# (name, method, path under /api/v1/, body factory, expected status per caller in CALLERS order)
P = "/api/v1/projects/alpha"
CASES: list[tuple[str, str, str, Any, str]] = [
    ("project-list", "get", "/api/v1/projects/", None,
     "200 200 200 200 200 401 200"),
    # Creating projects is a site-level permission (staff, superusers, can_create_projects).
    ("project-create", "post", "/api/v1/projects/", lambda w: {"name": "New", "kind": "preference"},
     "403 403 403 403 403 401 201"),
    ("project-get", "get", f"{P}/", None,
     "200 200 200 200 404 401 200"),
    ("project-patch", "patch", f"{P}/", lambda w: {"instructions": "Be careful."},
     "200 403 403 403 404 401 200"),
    ("member-list", "get", f"{P}/members/", None,
     "200 200 403 403 404 401 200"),
    # The newcomer shares no project with a plain manager: to them, no such user (400).
    ("member-set", "post", f"{P}/members/", lambda w: {"username": w.newcomer, "role": "annotator"},
     "400 403 403 403 404 401 200"),
    ("member-delete", "delete", f"{P}/members/{{removable}}/", None,
     "204 403 403 403 404 401 204"),
    ("dataset-list", "get", f"{P}/datasets/", None,
     "200 200 200 200 404 401 200"),
    ("dataset-create", "post", f"{P}/datasets/", lambda w: {"name": "d2"},
     "201 403 403 403 404 401 201"),
    ("dataset-get", "get", f"{P}/datasets/{{dataset}}/", None,
     "200 200 200 200 404 401 200"),
    ("item-list", "get", f"{P}/items/", None,
     "200 200 403 200 404 401 200"),
    ("item-get", "get", f"{P}/items/{{item}}/", None,
     "200 200 403 200 404 401 200"),
    ("import-list", "get", f"{P}/imports/", None,
     "200 403 403 200 404 401 200"),
    ("import-create", "post", f"{P}/imports/",
     lambda w: {"file": _upload(), "format": "native", "dataset": "d3"},
     "201 403 403 403 404 401 201"),
    ("import-get", "get", f"{P}/imports/{{run}}/", None,
     "200 403 403 200 404 401 200"),
    ("openapi-schema", "get", "/api/v1/schema/", None,
     "200 200 200 200 200 200 200"),
    ("docs", "get", "/api/v1/docs/", None,
     "200 200 200 200 200 200 200"),
    ("import-record-schema", "get", "/api/v1/schemas/import/", None,
     "200 200 200 200 200 200 200"),
]  # fmt: skip


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(
    ("method", "path", "body", "expected"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_status_by_caller(world, member, make_user, caller, method, path, body, expected):
    client = _client(caller, world, member, make_user)
    url = path.format(
        removable=world.removable.id, dataset=world.dataset.id, item=world.item.id, run=world.run.id
    )
    kwargs: dict[str, Any] = {}
    if body is not None:
        kwargs["data"] = body(world)
        kwargs["format"] = "multipart" if "file" in kwargs["data"] else "json"
    response = getattr(client, method)(url, **kwargs)
    want = int(expected.split()[CALLERS.index(caller)])
    assert response.status_code == want, getattr(response, "data", response.content)


def test_non_member_cannot_tell_a_missing_project_from_a_hidden_one(world, make_user):
    client = APIClient()
    client.force_authenticate(make_user())
    hidden = client.get(f"{P}/datasets/")
    missing = client.get("/api/v1/projects/no-such-project/datasets/")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json() == missing.json()


@pytest.mark.parametrize("kind", ["datasets", "items", "imports", "members"])
def test_ids_from_another_project_are_404(world, make_project, kind):
    """A manager of project A asks for B's object under A's slug."""
    other = make_project(kind="step_labels", slug="beta")
    result = dataset_import(
        project=other,
        dataset_name="b1",
        fmt="native",
        stream=io.BytesIO(json.dumps({"external_id": "b", "steps": ["x"]}).encode()),
    )
    foreign = {
        "datasets": result.dataset_id,
        "items": Item.objects.get(project=other).id,
        "imports": ImportRun.objects.create(project=other, dataset_name="b", format="native").id,
        "members": Membership.objects.get(project=other).id,
    }[kind]
    client = APIClient()
    client.force_authenticate(world.project.created_by)
    method = "delete" if kind == "members" else "get"
    response = getattr(client, method)(f"{P}/{kind}/{foreign}/")
    assert response.status_code == 404
