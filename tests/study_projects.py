"""A project to run study links on, shared by the service, page, API and browser tests."""

from __future__ import annotations

import io
import json
from typing import Any

from annotation.models import Item, Project, StudyLink, User
from annotation.services.gold import item_gold_set
from annotation.services.imports import dataset_import
from annotation.services.study import study_link_create

N_ITEMS = 8
N_GOLD = 4  # t0..t3: gold, first error at step 1


def study_project(
    make_project: Any, make_user: Any, slug: str = "study-proj"
) -> tuple[Project, User]:
    """A first-error step project with N_ITEMS ordinary items and N_GOLD gold items, and its
    manager."""
    manager = make_user()
    project = make_project(
        "step_labels",
        slug=slug,
        manager=manager,
        label_schema={"mode": "first_error"},
        instructions="Find the **first wrong step**.",
    )
    recs = [
        {"external_id": f"t{i}", "prompt": f"What is {i}+1?", "steps": [f"{i}+1", "= 7", "So 7."]}
        for i in range(N_ITEMS + N_GOLD)
    ]
    data = "".join(json.dumps(r) + "\n" for r in recs).encode()
    result = dataset_import(
        project=project, dataset_name="d", fmt="native", stream=io.BytesIO(data)
    )
    assert result.ok, result.errors
    gold = Item.objects.filter(project=project, external_id__in=[f"t{i}" for i in range(N_GOLD)])
    for item in gold:
        item_gold_set(item=item, user=manager, labels={"first_error_index": 1})
    project.refresh_from_db()
    return project, manager


def make_link(project: Project, manager: User, **kw: Any) -> StudyLink:
    data = {"name": "Pilot", "completion_code": "C0DE42", **kw}
    return study_link_create(project=project, user=manager, data=data)
