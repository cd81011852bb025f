"""Review and adjudication pages: roles, filters, the side-by-side table, adjudication."""

from __future__ import annotations

import io
import json

import pytest
from django.urls import reverse

from annotation.models import Annotation, Flag, Role, StepLabel
from annotation.services.annotations import annotation_submit
from annotation.services.assignments import assignment_claim_next
from annotation.services.flags import flag_create
from annotation.services.imports import dataset_import

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(make_project):
    project = make_project("step_labels", overlap=2)
    records = [
        {"external_id": f"t{i}", "prompt": f"P{i}", "steps": ["a", "b", "c"]} for i in range(2)
    ]
    data = "".join(json.dumps(r) + "\n" for r in records).encode()
    assert dataset_import(
        project=project, dataset_name="d", fmt="native", stream=io.BytesIO(data)
    ).ok
    return project


def _submit(project, user, ratings):
    asg = assignment_claim_next(project=project, annotator=user)
    labels = {"steps": [{"index": i, "rating": r} for i, r in enumerate(ratings)]}
    return annotation_submit(assignment=asg, labels=labels, client_token=f"t{user.id}")


@pytest.fixture
def disagreement(project, member):
    a1, a2 = member(project), member(project)
    return _submit(project, a1, [1, 1, 1]), _submit(project, a2, [1, -1, -1])


@pytest.mark.parametrize(
    ("role", "status"),
    [(Role.REVIEWER, 200), (Role.MANAGER, 200), (Role.ANNOTATOR, 403), (Role.RESEARCHER, 403)],
)
def test_review_roles(client, project, disagreement, member, role, status) -> None:
    client.force_login(member(project, role))
    assert client.get(reverse("review_list", args=[project.slug])).status_code == status
    item_url = reverse("review_item", args=[project.slug, disagreement[0].item_id])
    assert client.get(item_url).status_code == status


def test_review_non_member_gets_404(client, project, disagreement, make_user) -> None:
    client.force_login(make_user())
    assert client.get(reverse("review_list", args=[project.slug])).status_code == 404
    url = reverse("review_item", args=[project.slug, disagreement[0].item_id])
    assert client.get(url).status_code == 404


def test_item_of_another_project_is_404(
    client, project, disagreement, make_project, member
) -> None:
    other = make_project("step_labels")
    client.force_login(member(other, Role.REVIEWER))
    url = reverse("review_item", args=[other.slug, disagreement[0].item_id])
    assert client.get(url).status_code == 404


def test_review_list_filters(client, project, disagreement, member) -> None:
    reviewer = member(project, Role.REVIEWER)
    client.force_login(reviewer)
    url = reverse("review_list", args=[project.slug])
    rows = client.get(url).context["rows"]
    assert [r["item"].external_id for r in rows] == [disagreement[0].item.external_id]
    assert client.get(url, {"only": "flagged"}).context["rows"] == []
    flag_create(item=disagreement[0].item, user=disagreement[0].annotator, reason="crisis")
    flagged = client.get(url, {"only": "flagged"})
    assert len(flagged.context["rows"]) == 1
    assert "Crisis" in flagged.content.decode()
    mine = client.get(url, {"only": "all", "annotator": disagreement[1].annotator_id})
    assert len(mine.context["rows"]) == 1
    fragment = client.get(url, {"only": "all"}, HTTP_HX_REQUEST="true")
    assert "<html" not in fragment.content.decode()
    assert 'id="review-rows"' in fragment.content.decode()


def test_item_page_shows_labels_side_by_side_with_disagreements(
    client, project, disagreement, member
) -> None:
    client.force_login(member(project, Role.REVIEWER))
    response = client.get(reverse("review_item", args=[project.slug, disagreement[0].item_id]))
    html = response.content.decode()
    rows = response.context["rows"]
    assert [r.who for r in rows] == [a.annotator.username for a in disagreement]
    assert [c.disagree for c in response.context["columns"]] == [False, True, True]
    assert response.context["first_error_disagree"] is True
    assert "Annotators" in html
    assert "disagree" in html


def test_adjudication_keeps_annotators_labels(client, project, disagreement, member) -> None:
    reviewer = member(project, Role.REVIEWER)
    client.force_login(reviewer)
    before = sorted(StepLabel.objects.values_list("annotation_id", "step_id", "rating"))
    url = reverse("review_item", args=[project.slug, disagreement[0].item_id])
    data = {"rating-0": "1", "rating-1": "-1", "rating-2": "-1", "note": "b is wrong",
            "client_token": "adj-1"}  # fmt: skip
    assert client.post(url, data).status_code == 302
    final = Annotation.objects.get(source="adjudication")
    assert (final.annotator_id, final.note, final.first_error_index) == (
        reviewer.id,
        "b is wrong",
        1,
    )
    after = sorted(
        StepLabel.objects.exclude(annotation=final).values_list(
            "annotation_id", "step_id", "rating"
        )
    )
    assert after == before
    page = client.get(url)
    assert "Adjudication" in page.content.decode()
    assert page.context["adjudication_note"] == "b is wrong"
    bad = client.post(url, {"rating-0": "1", "client_token": "adj-2"})
    assert bad.status_code == 422


def test_resolve_flag(client, project, disagreement, member) -> None:
    manager = member(project, Role.MANAGER)
    flag = flag_create(item=disagreement[0].item, user=disagreement[0].annotator, reason="broken")
    client.force_login(manager)
    url = reverse("review_flag_resolve", args=[project.slug, flag.id])
    assert client.post(url).status_code == 302
    flag.refresh_from_db()
    assert flag.resolved_by_id == manager.id
    client.force_login(disagreement[0].annotator)
    assert client.post(url).status_code == 403
    assert Flag.objects.count() == 1


def test_preference_review_and_adjudication(client, make_project, member) -> None:
    project = make_project("preference", overlap=2, label_schema={"justification_required": False})
    rec = {"external_id": "p", "prompt": "hi", "candidates": [{"text": "A"}, {"text": "B"}]}
    data = io.BytesIO((json.dumps(rec) + "\n").encode())
    assert dataset_import(project=project, dataset_name="d", fmt="native", stream=data).ok
    anns = []
    for strength in (-2, 3):
        user = member(project)
        asg = assignment_claim_next(project=project, annotator=user)
        labels = {"candidate_a": 0, "candidate_b": 1, "strength": strength, "principles": []}
        anns.append(annotation_submit(assignment=asg, labels=labels, client_token="x"))
    client.force_login(member(project, Role.REVIEWER))
    url = reverse("review_item", args=[project.slug, anns[0].item_id])
    page = client.get(url)
    assert page.context["columns"][0].disagree is True
    assert "#1 &gt; #2" in page.content.decode() or "#1 > #2" in page.content.decode()
    assert client.post(url, {"strength": "-1", "client_token": "a"}).status_code == 302
    final = Annotation.objects.get(source="adjudication")
    pref = final.preference_labels.get()
    assert (pref.candidate_a.index, pref.candidate_b.index, pref.strength) == (0, 1, -1)
