"""A small step-labels project for the item browser's tests: 30 imported items with known
words, two annotators who agree on t0 and disagree on t1, a flag, an adjudication, a gold
item and model verdicts — all through the services."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass

from annotation.models import Item, Project, Role, Suggestion, SuggestionMethod, User
from annotation.services.annotations import adjudication_submit, annotation_submit
from annotation.services.assignments import assignment_claim_next
from annotation.services.flags import flag_create
from annotation.services.imports import dataset_import
from annotation.services.projects import membership_set, project_create
from annotation.services.suggestions import suggestion_bulk_upsert, user_model_get_or_create

N_ITEMS = 30


@dataclass
class BrowserData:
    project: Project
    items: dict[str, Item]
    manager: User
    a1: User
    a2: User


def _labels(ratings: list[int]) -> dict[str, object]:
    return {"steps": [{"index": i, "rating": r} for i, r in enumerate(ratings)]}


def _submit(project: Project, user: User, ratings: list[int]) -> int:
    asg = assignment_claim_next(project=project, annotator=user)
    assert asg is not None
    annotation_submit(assignment=asg, labels=_labels(ratings), client_token=f"{user.id}-{asg.id}")
    return asg.item_id


def build(make_user) -> BrowserData:  # noqa: ANN001 - the conftest fixture
    manager = make_user("boss")
    project = project_create(name="Browse", slug="browse", kind="step_labels",
                             created_by=manager, overlap=2)  # fmt: skip
    records = []
    for i in range(N_ITEMS):
        words = "zebra crossing" if i == 7 else f"apple number {i}"
        steps = ["first step", "second step", "the quokka" if i == 12 else "last step"]
        records.append({"external_id": f"t{i}", "prompt": f"Problem {words}", "steps": steps})
    data = "".join(json.dumps(r) + "\n" for r in records).encode()
    assert dataset_import(project=project, dataset_name="main", fmt="native",
                          stream=io.BytesIO(data)).ok  # fmt: skip
    other = [{"external_id": "o1", "prompt": "Other dataset", "steps": ["x"]}]
    data = "".join(json.dumps(r) + "\n" for r in other).encode()
    assert dataset_import(project=project, dataset_name="second", fmt="native",
                          stream=io.BytesIO(data)).ok  # fmt: skip
    items = {it.external_id: it for it in Item.objects.filter(project=project)}
    a1, a2 = make_user("ann1"), make_user("ann2")
    for u in (a1, a2):
        membership_set(project=project, user=u, role=Role.ANNOTATOR)
    # t0: both agree (complete); t1: they disagree (complete); t2: one label (in progress).
    assert _submit(project, a1, [1, 1, 1]) == items["t0"].id
    assert _submit(project, a2, [1, 1, 1]) == items["t0"].id
    assert _submit(project, a1, [1, 1, 1]) == items["t1"].id
    assert _submit(project, a2, [1, -1, -1]) == items["t1"].id
    assert _submit(project, a1, [1, 1, -1]) == items["t2"].id
    adjudication_submit(item=items["t1"], reviewer=manager, labels=_labels([1, -1, -1]))
    flag_create(item=items["t3"], user=a1, reason="broken", note="<b>bad</b>")
    Item.objects.filter(id=items["t4"].id).update(is_gold=True)
    model = user_model_get_or_create(username="judge-model")
    suggestion_bulk_upsert(suggestions=[
        Suggestion(item=items["t5"], target="item", method=SuggestionMethod.JUDGE,
                   model_name=model.username, label="-1", score=0.9, raw={"text": "<i>ok</i>"},
                   job_id=3),
        Suggestion(item=items["t6"], target="item", method=SuggestionMethod.VERIFY,
                   model_name=model.username, label="1", score=0.2, job_id=4),
    ])  # fmt: skip
    Item.objects.filter(id=items["t9"].id).update(priority=5)
    for key in items:
        items[key].refresh_from_db()
    return BrowserData(project=project, items=items, manager=manager, a1=a1, a2=a2)
