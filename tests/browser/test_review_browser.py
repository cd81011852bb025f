"""A reviewer finds a disagreement and records the final label in Chromium."""

from __future__ import annotations

import pytest

from annotation.models import Annotation, Project, StepLabel, User
from annotation.services.annotations import annotation_submit
from annotation.services.assignments import assignment_claim_next

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _label(project: Project, username: str, ratings: list[int]) -> Annotation:
    user = User.objects.get(username=username)
    asg = assignment_claim_next(project=project, annotator=user)
    labels = {"steps": [{"index": i, "rating": r} for i, r in enumerate(ratings)]}
    return annotation_submit(assignment=asg, labels=labels, client_token=f"t-{username}")


def test_reviewer_adjudicates_a_disagreement(page, live_server, demo, login, shot) -> None:
    project = Project.objects.get(slug="demo-math-steps")
    a1 = _label(project, "annotator1", [1, 1, 1])
    a2 = _label(project, "annotator2", [1, -1, -1])
    assert a1.item_id == a2.item_id
    before = sorted(StepLabel.objects.values_list("annotation_id", "step__index", "rating"))
    login(page, "reviewer")
    page.goto(f"{live_server.url}/projects/demo-math-steps/review/")
    row = page.locator("#review-rows tr", has_text=a1.item.external_id)
    assert "Disagreement" in row.inner_text()
    shot(page, "review-list")
    row.get_by_role("link", name="Review").click()
    page.wait_for_url(f"**/review/{a1.item_id}/")
    assert page.locator(".compare-table th.disagree").count() >= 2
    shot(page, "review-item")
    form = page.locator(".task-form")
    for i, value in enumerate(["+1 right", "−1 wrong", "−1 wrong"]):
        form.locator(".step-card").nth(i).locator(".seg", has_text=value).click()
    form.locator("textarea[name=note]").fill(
        "Step 2 miscounts: 4 + 6 is not the number of muffins."
    )
    shot(page, "review-adjudicate", full_page=True)
    form.get_by_role("button", name="Save final label").click()
    page.locator(".message-success").wait_for()
    shot(page, "review-adjudicated")
    final = Annotation.objects.get(item_id=a1.item_id, source="adjudication")
    assert final.annotator.username == "reviewer"
    assert final.note.startswith("Step 2 miscounts")
    assert final.first_error_index == 1
    ratings = list(final.step_labels.order_by("step__index").values_list("rating", flat=True))
    assert ratings == [1, -1, -1]
    # The annotators' own labels are untouched.
    after = sorted(
        StepLabel.objects.exclude(annotation=final).values_list(
            "annotation_id", "step__index", "rating"
        )
    )
    assert after == before
