"""A manager browses the demo's items in Chromium: filters, searches, opens an item with its
math typeset, and sets the priority of two items in bulk."""

from __future__ import annotations

import pytest

from annotation.models import Item, Project, User
from annotation.services.annotations import annotation_submit
from annotation.services.assignments import assignment_claim_next

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_manager_filters_searches_opens_and_sets_priority(
    page, live_server, demo, login, shot
) -> None:
    project = Project.objects.get(slug="demo-math-steps")
    annotator = User.objects.get(username="annotator1")
    asg = assignment_claim_next(project=project, annotator=annotator)
    labels = {"steps": [{"index": i, "rating": 1} for i in range(asg.item.steps.count())]}
    annotation_submit(assignment=asg, labels=labels, client_token="browser-1")
    labeled = asg.item.external_id

    login(page, "manager")
    page.goto(f"{live_server.url}/projects/demo-math-steps/")
    page.get_by_role("link", name="Items", exact=True).click()
    page.wait_for_url("**/projects/demo-math-steps/items/")
    rows = page.locator("#item-rows tbody tr")
    assert rows.count() == 10
    shot(page, "items-list")

    # Filter: only what is in progress (the one item annotator1 labeled).
    page.locator("select[name=status]").select_option("in_progress")
    page.wait_for_url("**status=in_progress**")
    page.wait_for_function("document.querySelectorAll('#item-rows tbody tr').length === 1")
    assert labeled in rows.first.inner_text()
    assert "In progress" in rows.first.inner_text()
    shot(page, "items-filtered")
    page.get_by_role("link", name="Clear").click()
    page.wait_for_function("document.querySelectorAll('#item-rows tbody tr').length === 10")

    # Search: words of the garden problems (two traces of the same problem).
    page.locator("#id_q").fill("rectangle garden")
    page.wait_for_url("**q=rectangle**")
    page.wait_for_function("document.querySelectorAll('#item-rows tbody tr').length === 2")
    assert set(rows.all_inner_texts()[0].split()) >= {"ms-007"}
    shot(page, "items-search")

    # Open an item: its content with the math typeset by KaTeX, its labels.
    page.goto(f"{live_server.url}/projects/demo-math-steps/items/?q={labeled}")
    page.get_by_role("link", name=labeled).click()
    page.wait_for_url("**/items/*/")
    page.locator(".item-steps .katex").first.wait_for()
    assert "annotator1" in page.locator(".compare-table").inner_text()
    shot(page, "item-detail", full_page=True)

    # Bulk: select two items and give them priority 5.
    page.goto(f"{live_server.url}/projects/demo-math-steps/items/")
    boxes = page.locator('#item-bulk input[name="items"]')
    boxes.nth(1).check()
    boxes.nth(2).check()
    assert page.locator("#bulk-count").inner_text() == "2"
    page.locator("#bulk-action").select_option("set_priority")
    page.locator(".bulk-value-input").fill("5")
    page.locator("#bulk-apply").click()
    page.locator("#item-rows .message-success").wait_for()
    assert "2 items changed" in page.locator("#item-rows .message-success").inner_text()
    shot(page, "items-bulk-priority")
    top = list(
        Item.objects.filter(project=project, priority=5).values_list("external_id", flat=True)
    )
    assert len(top) == 2
    # Highest priority first: the two come to the top.
    page.locator("select[name=order]").select_option("-priority")
    page.wait_for_url("**order=-priority**")
    page.wait_for_function(
        "document.querySelector('#item-rows tbody tr td:last-child').textContent.trim() === '5'"
    )
    shot(page, "items-by-priority")
