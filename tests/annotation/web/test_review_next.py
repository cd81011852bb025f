"""Review: "Save and next disagreement" goes to the next unadjudicated disagreement in the
review list's order (priority, then id), wraps round, and ends on the list."""

from __future__ import annotations

import io
import json

import pytest
from django.urls import reverse

from annotation.models import Annotation, Item, Role
from annotation.selectors.annotations import review_next_disagreement
from annotation.services.annotations import annotation_submit
from annotation.services.assignments import assignment_claim_next
from annotation.services.imports import dataset_import

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(make_project, member):
    """t0, t1, t3 are disagreements, t2 an agreement; t3 comes first (higher priority)."""
    project = make_project("step_labels", overlap=2)
    records = [{"external_id": f"t{i}", "prompt": "P", "steps": ["a", "b"]} for i in range(4)]
    data = "".join(json.dumps(r) + "\n" for r in records).encode()
    assert dataset_import(
        project=project, dataset_name="d", fmt="native", stream=io.BytesIO(data)
    ).ok
    a1, a2 = member(project), member(project)
    second = {"t0": [1, -1], "t1": [-1, -1], "t2": [1, 1], "t3": [1, 0]}
    for n in range(4):
        for user, which in ((a1, None), (a2, "second")):
            asg = assignment_claim_next(project=project, annotator=user)
            ext = asg.item.external_id
            ratings = second[ext] if which else [1, 1]
            labels = {"steps": [{"index": i, "rating": r} for i, r in enumerate(ratings)]}
            annotation_submit(assignment=asg, labels=labels, client_token=f"{user.id}-{n}")
    Item.objects.filter(project=project, external_id="t3").update(priority=5)
    return project


def _item(project, ext):
    return Item.objects.get(project=project, external_id=ext)


def test_selector_order_and_wrap(project) -> None:
    order = []
    item = _item(project, "t3")
    for _ in range(3):
        item = review_next_disagreement(project=project, after=item)
        order.append(item.external_id)
    assert order == ["t0", "t1", "t3"]  # t2 agrees; after t1 it wraps to the top


def test_save_and_next_walks_the_disagreements(client, project, member) -> None:
    client.force_login(member(project, Role.REVIEWER))
    post = {"rating-0": "1", "rating-1": "-1", "then": "next", "client_token": ""}

    def save(ext, **extra):
        url = reverse("review_item", args=[project.slug, _item(project, ext).id])
        return client.post(url, {**post, **extra, "client_token": f"c-{ext}"})

    response = save("t3")
    assert response.status_code == 302
    assert response["Location"] == reverse(
        "review_item", args=[project.slug, _item(project, "t0").id]
    )
    response = save("t0")
    assert response["Location"] == reverse(
        "review_item", args=[project.slug, _item(project, "t1").id]
    )
    response = save("t1")
    # Every disagreement is adjudicated: back to the list, saying so.
    assert response["Location"] == reverse("review_list", args=[project.slug])
    page = client.get(response["Location"])
    assert "No disagreements are left" in page.content.decode()
    assert Annotation.objects.filter(source="adjudication").count() == 3


def test_plain_save_stays_and_refused_save_does_not_move(client, project, member) -> None:
    client.force_login(member(project, Role.REVIEWER))
    t0 = _item(project, "t0")
    url = reverse("review_item", args=[project.slug, t0.id])
    stay = client.post(url, {"rating-0": "1", "rating-1": "1", "then": "stay", "client_token": "a"})
    assert stay["Location"] == url
    refused = client.post(url, {"rating-0": "1", "then": "next", "client_token": "b"})
    assert refused.status_code == 422  # step 2 unrated: no move


def test_review_page_offers_the_button_and_key(client, project, member) -> None:
    client.force_login(member(project, Role.REVIEWER))
    html = client.get(
        reverse("review_item", args=[project.slug, _item(project, "t0").id])
    ).content.decode()
    assert 'name="then" value="next" data-save-next' in html
    assert "Save the final label and open the next disagreement" in html
