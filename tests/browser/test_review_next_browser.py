"""A reviewer works through disagreements with the keyboard: the final-label form arrives
pre-filled from the annotators (each value saying where it came from), Shift+Enter saves it
and opens the next disagreement."""

from __future__ import annotations

import pytest

from annotation.models import Annotation, Project, User
from annotation.services.annotations import annotation_submit
from annotation.services.assignments import assignment_claim_next

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _label(project: Project, username: str, ratings: list[int], n: int) -> Annotation:
    user = User.objects.get(username=username)
    asg = assignment_claim_next(project=project, annotator=user)
    labels = {"steps": [{"index": i, "rating": r} for i, r in enumerate(ratings)]}
    return annotation_submit(assignment=asg, labels=labels, client_token=f"t-{username}-{n}")


def test_save_and_next_with_the_key(page, live_server, demo, login, shot) -> None:
    project = Project.objects.get(slug="demo-math-steps")
    firsts = []
    for n in range(2):
        a1 = _label(project, "annotator1", [1, 1, 1], n)
        a2 = _label(project, "annotator2", [1, -1, 1], n)
        assert a1.item_id == a2.item_id
        firsts.append(a1.item)
    login(page, "reviewer")
    page.goto(f"{live_server.url}/projects/demo-math-steps/review/{firsts[0].id}/")
    form = page.locator(".task-form")
    assert "Pre-filled from 2 annotator labels" in page.locator(".prefill-note").inner_text()
    provs = form.locator(".prov")
    assert provs.count() == 3
    assert provs.nth(0).inner_text() == "all 2 agree"
    assert provs.nth(1).inner_text() == "tie 1/2: check"
    # The tie went to the lower value; the reviewer decides it is right after all.
    assert form.locator('input[name="rating-1"][value="-1"]').is_checked()
    shot(page, "review-prefilled", full_page=True)
    form.locator(".step-card").nth(1).locator(".seg", has_text="+1 right").click()
    page.locator("body").click(position={"x": 5, "y": 300})  # focus out of any input
    page.keyboard.press("Shift+Enter")
    page.wait_for_url(f"**/review/{firsts[1].id}/")
    assert "Next disagreement" in page.locator(".message-success").inner_text()
    shot(page, "review-next")
    final = Annotation.objects.get(item_id=firsts[0].id, source="adjudication")
    ratings = list(final.step_labels.order_by("step__index").values_list("rating", flat=True))
    assert ratings == [1, 1, 1]
    # The last one: Shift+Enter saves and, with none left, returns to the list.
    page.locator("body").click(position={"x": 5, "y": 300})
    page.keyboard.press("Shift+Enter")
    page.wait_for_url("**/review/")
    assert "No disagreements are left" in page.locator(".message-success").inner_text()
    assert Annotation.objects.filter(source="adjudication").count() == 2
