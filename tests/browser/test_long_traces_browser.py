"""A 20-step trace in Chromium at 1366×768: the step rail jumps to a step and takes the
labels' colours, `u` goes to the next unrated step, a long step is collapsed until "Show
all", and a long display-math line scrolls inside its card instead of running past it."""

from __future__ import annotations

import io
import json

import pytest

from annotation.models import Role, User
from annotation.services.imports import dataset_import
from annotation.services.projects import membership_set, project_create

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LONG_MATH = (
    r"First the total: \[ \text{Number of students who like to play video games} = "
    r"\text{Total students} - (\text{Bake students} + \text{Basketball students} + "
    r"\text{Music students}) = 50 - (10 + 5 + 10) = 25 \]"
)


def _trace() -> dict:
    steps = [f"Step {i + 1}: add {i} and {i + 1} to get {2 * i + 1}." for i in range(20)]
    steps[2] = LONG_MATH
    steps[5] = "\n".join(f"Line {n}: we carry the {n} over and check it again." for n in range(14))
    return {"external_id": "long-1", "prompt": "Add them all up.", "steps": steps,
            "reference_answer": "400"}  # fmt: skip


def test_step_rail_next_unrated_and_long_steps(page, live_server, demo, login, shot) -> None:
    annotator = User.objects.get(username="annotator1")
    project = project_create(name="Long traces", slug="long-traces", kind="step_labels",
                             created_by=User.objects.get(username="manager"))  # fmt: skip
    membership_set(project=project, user=annotator, role=Role.ANNOTATOR)
    data = (json.dumps(_trace()) + "\n").encode()
    assert dataset_import(project=project, dataset_name="d", fmt="native",
                          stream=io.BytesIO(data)).ok  # fmt: skip
    login(page, "annotator1")
    page.goto(f"{live_server.url}/projects/long-traces/annotate/")
    task = page.locator("#current-slot .task")
    marks = task.locator(".rail-mark")
    assert marks.count() == 20
    shot(page, "long-trace-top")

    # Jump: marker 15 makes step 15 current and scrolls it into view; the rail stays.
    marks.nth(14).click()
    card = task.locator(".step-card").nth(14)
    assert "is-current" in card.get_attribute("class")
    box = card.bounding_box()
    assert 0 <= box["y"] < 768
    assert marks.nth(14).is_visible()  # the rail is sticky
    assert 0 <= marks.nth(14).bounding_box()["y"] < 768
    shot(page, "long-trace-jump")

    # Rate steps 1-3 with keys (each moves on), go back to 1, then u: step 4.
    marks.nth(0).click()
    for _ in range(3):
        page.keyboard.press("3")
    page.keyboard.press("1")  # step 4 wrong
    task.locator(".step-card").nth(5).locator('input[name="cant-5"]').check(force=True)
    marks.nth(0).click()
    page.keyboard.press("u")
    assert "is-current" in task.locator(".step-card").nth(4).get_attribute("class")
    assert "is-current" in marks.nth(4).get_attribute("class")
    states = [marks.nth(i).get_attribute("data-state") for i in range(7)]
    assert states == ["right", "right", "right", "wrong", "unlabeled", "cant", "unlabeled"]
    page.keyboard.press("2")  # step 5 neutral; on to step 6 (can't judge) ...
    page.keyboard.press("u")  # ... u skips it: step 7
    assert "is-current" in task.locator(".step-card").nth(6).get_attribute("class")
    assert marks.nth(4).get_attribute("data-state") == "neutral"
    shot(page, "long-trace-rail")

    # The long step is collapsed to a few lines until "Show all".
    text = task.locator(".step-card").nth(5).locator(".step-text")
    collapsed = text.bounding_box()["height"]
    assert collapsed < 140
    task.locator(".step-card").nth(5).get_by_role("button", name="Show all").click()
    assert text.bounding_box()["height"] > collapsed + 40

    # Display math scrolls inside its card.
    marks.nth(2).click()
    math = task.locator(".step-card").nth(2).locator(".katex-display")
    math.wait_for()
    step_box = task.locator(".step-card").nth(2).bounding_box()
    math_box = math.bounding_box()
    assert math_box["x"] + math_box["width"] <= step_box["x"] + step_box["width"]
    assert math.evaluate("el => el.scrollWidth > el.clientWidth")  # it scrolls
    shot(page, "long-trace-math")


def test_processbench_gsm8k_3_math_stays_in_its_card(page, live_server, demo, login, shot) -> None:
    """The real item the issue names: its long \\[ … \\] line scrolls inside the step card."""
    from tests.conftest import shared_file

    path = shared_file("processbench_gsm8k.json")
    manager = User.objects.get(username="manager")
    project = project_create(name="ProcessBench", slug="pb", kind="step_labels",
                             created_by=manager)  # fmt: skip
    membership_set(project=project, user=User.objects.get(username="reviewer"), role=Role.REVIEWER)
    with open(path, "rb") as fh:
        assert dataset_import(project=project, dataset_name="pb", fmt="processbench", stream=fh).ok
    item = project.items.get(external_id="gsm8k-3")
    login(page, "reviewer")
    page.goto(f"{live_server.url}/projects/pb/review/{item.id}/")
    maths = page.locator(".task-form .step-card .katex-display")
    maths.first.wait_for()
    assert maths.count() >= 2
    for i in range(maths.count()):
        card = maths.nth(i).locator("xpath=ancestor::li[contains(@class,'step-card')]")
        m, c = maths.nth(i).bounding_box(), card.bounding_box()
        assert m["x"] + m["width"] <= c["x"] + c["width"], (i, m, c)
    wide = [
        maths.nth(i).evaluate("el => el.scrollWidth > el.clientWidth") for i in range(maths.count())
    ]
    assert any(wide)  # the long line scrolls rather than running past the card
    answer = page.locator(".answers dd").nth(1).inner_text()
    assert answer == (item.final_answer or "—")
    shot(page, "processbench-gsm8k-3")
