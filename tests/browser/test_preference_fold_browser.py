"""The preference page at 1366×768: the strength scale and Submit are reachable without
scrolling (their boxes lie inside the viewport on arrival)."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _inside(box: dict, height: int = 768, width: int = 1366) -> bool:
    return box["y"] >= 0 and box["y"] + box["height"] <= height and box["x"] + box["width"] <= width


def test_preference_submit_and_scale_above_the_fold(page, live_server, demo, login, shot) -> None:
    login(page, "annotator1")
    page.goto(f"{live_server.url}/projects/demo-counseling-preference/annotate/")
    note = page.locator("#content-note")
    if note.is_visible():
        note.get_by_role("button").click()
    task = page.locator("#current-slot .task")
    task.wait_for()
    shot(page, "preference-fold")
    submit = task.get_by_role("button", name="Submit")
    scale = task.locator(".scale")
    assert page.evaluate("window.scrollY") == 0
    assert _inside(submit.bounding_box()), submit.bounding_box()
    assert _inside(scale.bounding_box()), scale.bounding_box()
    # Both responses are readable beside them, and keys still choose the strength.
    page.keyboard.press("2")
    assert task.locator('input[name="strength"][value="-2"]').is_checked()
