"""An annotator's day in Chromium: keyboard-only step rating, first error, dialogue coding,
preference pairs; each test saves a screenshot and checks the database afterwards."""

from __future__ import annotations

import io
import json

import pytest

from annotation.models import (
    Annotation,
    Assignment,
    Candidate,
    PreferenceLabel,
    PrincipleRating,
    Project,
    StepLabel,
    TurnLabel,
    User,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _annotation(username: str, slug: str) -> Annotation:
    return Annotation.objects.get(
        annotator__username=username, item__project__slug=slug, source="human"
    )


def _visible_task(page):
    return page.locator("#current-slot .task:not([hidden])")


def test_rate_every_step_keyboard_only(page, live_server, demo, login, shot) -> None:
    login(page, "annotator1")
    home = page.locator(".project-card", has_text="demo-math-steps")
    assert "remaining" in home.inner_text()
    shot(page, "home-annotator")
    page.goto(f"{live_server.url}/projects/demo-math-steps/annotate/")
    task = _visible_task(page)
    first_item = task.get_attribute("data-item")
    n = task.locator(".step-card").count()
    assert n >= 3
    # Right, neutral for the middle ones, wrong for the last, with the keyboard only.
    keys = ["3"] + ["0"] * (n - 2) + ["1"]
    for key in keys:
        page.keyboard.press(key)
    page.keyboard.press("k")  # back up to the last step and look at the state
    assert task.locator(".step-card.rated-right").count() == 1
    assert task.locator(".step-card.rated-wrong").count() == 1
    page.keyboard.press("?")
    assert page.locator("#keymap").is_visible()
    shot(page, "steps-keymap")
    page.keyboard.press("Escape")
    shot(page, "steps-rated")
    page.keyboard.press("Enter")
    # The prefetched next item is shown at once, and the save lands.
    page.wait_for_function(
        "(id) => { const t = document.querySelector('#current-slot .task:not([hidden])');"
        " return t && t.dataset.item !== id; }",
        arg=first_item,
    )
    page.locator("#progress-slot", has_text="1 done").wait_for()
    shot(page, "steps-next-item")
    ann = _annotation("annotator1", "demo-math-steps")
    assert ann.item.external_id == first_item
    ratings = list(
        StepLabel.objects.filter(annotation=ann)
        .order_by("step__index")
        .values_list("rating", flat=True)
    )
    assert ratings == [1] + [0] * (n - 2) + [-1]
    assert ann.first_error_index == n - 1
    assert ann.finish_reason == "found_error"
    assert ann.revisions.count() == 1
    assert ann.time_spent_ms is not None
    # The next item was claimed ahead of time and is now this annotator's current lease.
    nxt = _visible_task(page).get_attribute("data-assignment")
    held = Assignment.objects.get(id=int(nxt))
    assert held.status == Assignment.Status.ACTIVE
    assert held.first_rendered_at is not None


def test_first_error_mode(page, live_server, demo, login, shot) -> None:
    project = Project.objects.get(slug="demo-math-steps")
    project.label_schema = {**project.label_schema, "mode": "first_error"}
    project.save(update_fields=["label_schema"])
    login(page, "annotator2")
    page.goto(f"{live_server.url}/projects/demo-math-steps/annotate/")
    task = _visible_task(page)
    n = task.locator(".step-card").count()
    page.keyboard.press("j")
    page.keyboard.press("f")  # the second step is the first error
    assert task.locator(".step-card.fe-before").count() == 1
    assert task.locator(".step-card.fe-error").count() == 1
    shot(page, "first-error")
    page.keyboard.press("Enter")
    page.locator("#progress-slot", has_text="1 done").wait_for()
    ann = _annotation("annotator2", "demo-math-steps")
    ratings = list(
        StepLabel.objects.filter(annotation=ann)
        .order_by("step__index")
        .values_list("rating", flat=True)
    )
    assert ratings == [1, -1] + [None] * (n - 2)  # after the first error: unlabeled
    assert ann.first_error_index == 1


def test_dialogue_codes_three_turns(page, live_server, demo, login, shot) -> None:
    login(page, "annotator1")
    page.goto(f"{live_server.url}/projects/demo-counseling-coding/annotate/")
    note = page.locator("#content-note")
    assert note.is_visible()
    shot(page, "dialogue-content-note")
    page.keyboard.press("Enter")  # the note's button has focus
    note.wait_for(state="hidden")
    task = _visible_task(page)
    page.keyboard.press("2")  # turn 1, therapist: question
    page.keyboard.press("1")  # turn 2, client: change
    page.keyboard.press("1")  # turn 3, therapist: reflection
    assert task.locator(".turn.is-coded").count() == 3
    assert task.locator("[data-coded]").inner_text() == "3"
    shot(page, "dialogue-coded")
    page.keyboard.press("Enter")
    page.locator("#progress-slot", has_text="1 done").wait_for()
    ann = _annotation("annotator1", "demo-counseling-coding")
    rows = list(
        TurnLabel.objects.filter(annotation=ann)
        .order_by("turn__index")
        .values_list("turn__index", "field", "value")
    )
    assert rows == [
        (0, "main_therapist_behaviour", "question"),
        (1, "client_talk_type", "change"),
        (2, "main_therapist_behaviour", "reflection"),
    ]


def test_preference_pair(page, live_server, demo, login, shot) -> None:
    login(page, "annotator2")
    page.goto(f"{live_server.url}/projects/demo-counseling-preference/annotate/")
    page.locator("#content-note button").click()
    task = _visible_task(page)
    assignment = Assignment.objects.get(id=int(task.get_attribute("data-assignment")))
    left = Candidate.objects.get(id=assignment.left_candidate_id)
    right = Candidate.objects.get(id=assignment.right_candidate_id)
    assert task.locator(".cand-left").get_attribute("data-candidate") == str(left.index)
    page.keyboard.press("2")  # strength -2: the left response is better
    # Principles: focus the first rating group, then Tab through them all.
    groups = task.locator(".principles [data-keygroup]")
    n_groups = groups.count()
    groups.first.locator("input").first.focus()
    for i in range(n_groups):
        page.keyboard.press("4" if i % 2 == 0 else "2")
        page.keyboard.press("Tab")
    task.locator("textarea[name=justification]").fill(
        "The left response reflects the feeling and invites exploration; the right one lectures."
    )
    shot(page, "preference-filled")
    shot(page, "preference-filled-full", full_page=True)
    page.keyboard.press("Control+Enter")
    page.locator("#progress-slot", has_text="1 done").wait_for()
    ann = _annotation("annotator2", "demo-counseling-preference")
    pref = PreferenceLabel.objects.get(annotation=ann)
    assert (pref.candidate_a_id, pref.candidate_b_id, pref.strength) == (left.id, right.id, -2)
    assert pref.left_candidate_id == left.id
    ratings = PrincipleRating.objects.filter(annotation=ann)
    assert ratings.count() == n_groups == 14
    assert set(ratings.filter(candidate=left).values_list("value", flat=True)) == {4}
    assert set(ratings.filter(candidate=right).values_list("value", flat=True)) == {2}
    assert ann.justification.startswith("The left response")


def test_xss_step_shows_as_text_and_math_is_typeset(
    page, live_server, transactional_db, login, shot
) -> None:
    from annotation.services.demo import demo_setup
    from annotation.services.imports import dataset_import
    from annotation.services.projects import membership_set, project_create

    from .conftest import DEMO_PASSWORD

    demo_setup(password=DEMO_PASSWORD)
    manager = User.objects.get(username="manager")
    project = project_create(name="XSS", slug="xss-check", kind="step_labels", created_by=manager)
    membership_set(project=project, user=User.objects.get(username="annotator1"), role="annotator")
    record = {
        "external_id": "evil",
        "prompt": "Simplify <script>alert(2)</script> the fraction.",
        "steps": ["Look: <img src=x onerror=alert(1)> and $\\frac{a}{b}$", "Done."],
    }
    data = io.BytesIO((json.dumps(record) + "\n").encode())
    assert dataset_import(project=project, dataset_name="d", fmt="native", stream=data).ok
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    login(page, "annotator1")
    page.goto(f"{live_server.url}/projects/xss-check/annotate/")
    step = _visible_task(page).locator(".step-card").first
    step.locator(".katex").first.wait_for()
    assert step.locator(".katex .mfrac").count() == 1
    assert "<img src=x onerror=alert(1)>" in step.inner_text()
    assert step.locator("img").count() == 0
    assert "<script>alert(2)</script>" in _visible_task(page).locator(".problem").inner_text()
    page.wait_for_timeout(200)
    shot(page, "xss-math")
    assert dialogs == []
