"""Preference review in candidate identity, in Chromium: the candidates by number with an
excerpt, who saw which on the left, justifications tagged with what their left/right meant,
and the reviewer's form naming #1 and #2."""

from __future__ import annotations

import pytest

from annotation.models import Assignment, Candidate, Project, User
from annotation.services.annotations import annotation_submit
from annotation.services.assignments import assignment_claim_next

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_preference_review_speaks_of_candidates(page, live_server, demo, login, shot) -> None:
    project = Project.objects.get(slug="demo-counseling-preference")
    item_id = None
    for n, (username, flip, strength, why) in enumerate(
        [("annotator1", False, -3, "The left one reflects the feeling first."),
         ("annotator2", True, 2, "The right one reflects; the left one lectures.")]
    ):  # fmt: skip
        user = User.objects.get(username=username)
        asg = assignment_claim_next(project=project, annotator=user)
        c0, c1 = Candidate.objects.filter(item_id=asg.item_id).order_by("index")[:2]
        left, right = (c1, c0) if flip else (c0, c1)
        Assignment.objects.filter(id=asg.id).update(left_candidate=left, right_candidate=right)
        asg.refresh_from_db()
        labels = {"candidate_a": left.index, "candidate_b": right.index, "strength": strength,
                  "principles": [{"principle": "empathy", "candidate": c0.index, "value": 5},
                                 {"principle": "empathy", "candidate": c1.index, "value": 2}],
                  "justification": why}  # fmt: skip
        ann = annotation_submit(assignment=asg, labels=labels, client_token=f"p{n}")
        assert item_id in (None, ann.item_id)
        item_id = ann.item_id
    login(page, "reviewer")
    page.goto(f"{live_server.url}/projects/demo-counseling-preference/review/{item_id}/")
    legend = page.locator(".cand-legend")
    assert "#1" in legend.inner_text()
    assert "#2" in legend.inner_text()
    table = page.locator(".compare-table")
    assert "saw #2 on the left" in table.inner_text()
    assert "left = #2 · right = #1" in table.inner_text()
    form = page.locator(".task-form")
    assert "Response #1" in form.inner_text()
    assert "#1 much better" in form.locator(".scale").inner_text()
    assert form.locator(".prov", has_text="all 2 agree").count() == 2  # empathy #1 and #2
    shot(page, "preference-review", full_page=True)
