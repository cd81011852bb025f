"""The second annotator's counter in Chromium, with a real cache in front of the incomplete
count (as in `make run` and production): "N to go" moves after each submit, not on reload."""

from __future__ import annotations

import re

import pytest
from django.core.cache import cache
from django.test import override_settings

from annotation.models import Project, User
from annotation.services.annotations import annotation_submit
from annotation.services.assignments import assignment_claim_next

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LOCMEM = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}


def _to_go(page) -> int:
    text = page.locator("#progress-slot .progress-text").inner_text()
    return int(re.search(r"(\d+) to go", text).group(1))


@override_settings(CACHES=LOCMEM)
def test_second_annotator_counter_moves(page, live_server, demo, login, shot) -> None:
    cache.clear()
    project = Project.objects.get(slug="demo-math-steps")
    first = User.objects.get(username="annotator1")
    while (asg := assignment_claim_next(project=project, annotator=first)) is not None:
        n = asg.item.steps.count()
        labels = {"steps": [{"index": i, "rating": 1} for i in range(n)]}
        annotation_submit(assignment=asg, labels=labels, client_token=f"a{asg.id}")
    login(page, "annotator2")
    page.goto(f"{live_server.url}/projects/demo-math-steps/annotate/")
    start = _to_go(page)
    assert start >= 3
    seen = []
    for _ in range(3):
        task = page.locator("#current-slot .task:not([hidden])")
        item = task.get_attribute("data-item")
        for _ in range(task.locator(".step-card").count()):
            page.keyboard.press("3")
        page.keyboard.press("Enter")
        page.wait_for_function(
            "(id) => { const t = document.querySelector('#current-slot .task:not([hidden])');"
            " return t && t.dataset.item !== id; }",
            arg=item,
        )
        page.locator("#progress-slot", has_text=f"{len(seen) + 1} done").wait_for()
        seen.append(_to_go(page))
    shot(page, "counter-second-annotator")
    assert seen == [start - 1, start - 2, start - 3]
    cache.clear()
