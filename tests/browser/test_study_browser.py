"""Crowd workers through a study link, in Chromium: two workers (separate browser contexts,
different PROLIFIC_PIDs) consent, pass a one-item training round, label their quota and get
their code, the second one sent on to the platform's completion URL; a third arrives after
the cap and is told the study is full; the manager sees both in the workers' table."""

from __future__ import annotations

import pytest

from annotation.models import Annotation, StudyWorker, User
from tests.study_projects import make_link, study_project

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

COMPLETION = "https://app.prolific.com/submissions/complete?cc=C0DE42"
QUOTA = 2


def _context(browser):
    ctx = browser.new_context(viewport={"width": 1366, "height": 768})
    ctx.set_default_timeout(10_000)
    # The platform is out of reach from the test machine: answer its completion URL here.
    ctx.route("https://app.prolific.com/**", lambda route: route.fulfill(
        status=200, content_type="text/html", body="<h1>Prolific: submission complete</h1>"
    ))  # fmt: skip
    pg = ctx.new_page()
    problems: list[str] = []
    pg.on("pageerror", lambda exc: problems.append(str(exc)))
    pg.on(
        "console",
        lambda msg: problems.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    return ctx, pg, problems


def _first_error_at(pg, index: int) -> None:
    """Mark the first wrong step (0-based) with the mouse and submit."""
    pg.locator(".step-card").nth(index).locator("label.seg-first-error").click()
    pg.locator("button.btn-submit").click()


def _worker_visit(pg, url: str, pid: str, shot, shots: bool) -> str:
    pg.goto(f"{url}?PROLIFIC_PID={pid}&STUDY_ID=study-1&SESSION_ID=sess-{pid}")
    assert pg.locator("h1").inner_text() == "Pilot study"
    assert "first wrong step" in pg.locator("[aria-label=Instructions]").inner_text()
    if shots:
        shot(pg, "study-consent")
    pg.locator("input[name=consent]").check()
    pg.locator("#study-begin").click()
    # Training: one gold item (first error at step 2), answered right, with feedback.
    pg.locator(".study-phase").wait_for()
    assert "Training item 1 of 1" in pg.locator("#study-quota").inner_text()
    _first_error_at(pg, 1)
    pg.locator(".study-feedback").wait_for()
    assert "Right" in pg.locator(".study-feedback h1").inner_text()
    if shots:
        shot(pg, "study-training-feedback", full_page=True)
    pg.locator("#study-continue").click()
    for n in range(1, QUOTA + 1):
        pg.locator("#study-quota").wait_for()
        assert f"Item {n} of {QUOTA}" in pg.locator("#study-quota").inner_text()
        if shots and n == 1:
            shot(pg, "study-labeling")
        if n < QUOTA:
            _first_error_at(pg, 2)
        else:  # the last one with the keyboard only: "no error", then Enter
            pg.keyboard.press("n")
            assert pg.locator(".no-error-bar input").is_checked()
            pg.keyboard.press("Enter")
    pg.locator("#study-code").wait_for()
    if shots:
        shot(pg, "study-done")
    return pg.locator("#study-code").inner_text()


def test_two_workers_finish_and_a_third_finds_it_full(
    browser, live_server, make_project, make_user, shot
):
    project, manager = study_project(make_project, make_user)
    link = make_link(
        project, manager, name="Pilot study", quota=QUOTA, max_workers=2, training_items=1,
        consent_text="I agree that my labels are used for **research**.",
        completion_url=COMPLETION,
    )  # fmt: skip
    url = f"{live_server.url}/s/{link.token}/"
    codes = {}
    for pid in ("5f0c7a1b2c3d4e5f6a7b8c9d", "60aa11bb22cc33dd44ee55ff"):
        ctx, pg, problems = _context(browser)
        codes[pid] = _worker_visit(pg, url, pid, shot, shots=not codes)
        if len(codes) == 2:
            # The completion page sends the worker back to the platform on its own.
            assert pg.locator("#study-return").get_attribute("href") == COMPLETION
            pg.wait_for_url(COMPLETION, timeout=20_000)
            assert "submission complete" in pg.content()
        # Other pages are closed to a study session.
        response = pg.goto(f"{live_server.url}/projects/{project.slug}/annotate/")
        assert response is not None
        assert response.status == 404
        ctx.close()
        assert not problems, problems
    assert set(codes.values()) == {"C0DE42"}
    # A third worker, after the cap.
    ctx, pg, problems = _context(browser)
    response = pg.goto(f"{url}?PROLIFIC_PID=third-worker&STUDY_ID=study-1&SESSION_ID=s3")
    assert response is not None
    assert response.status == 403
    assert pg.locator("h1").inner_text() == "This study is full"
    shot(pg, "study-full")
    ctx.close()
    assert not problems, problems
    workers = StudyWorker.objects.filter(link=link).order_by("started_at")
    assert [(w.worker_id, w.status, w.items_done, w.training_passed) for w in workers] == [
        (pid, "completed", QUOTA, True) for pid in codes
    ]
    assert not User.objects.filter(username="prolific:third-worker").exists()
    for pid in codes:
        labels = Annotation.objects.filter(annotator__username=f"prolific:{pid}", source="human")
        assert labels.count() == QUOTA + 1
        # The page measured the time on each item and sent it with the plain form post.
        assert all(ms and ms > 0 for ms in labels.values_list("time_spent_ms", flat=True))
        assert labels.filter(first_error_index=-1).count() == 1
    # The manager's table, for approving the payments.
    manager.set_password("pw-manager-study")
    manager.save()
    ctx, pg, problems = _context(browser)
    pg.goto(f"{live_server.url}/accounts/login/")
    pg.locator("input[name=username]").fill(manager.username)
    pg.locator("input[name=password]").fill("pw-manager-study")
    pg.locator("input[name=password]").press("Enter")
    pg.wait_for_url(f"{live_server.url}/")
    pg.goto(f"{live_server.url}/projects/{project.slug}/study-links/{link.id}/")
    rows = pg.locator("#study-workers tbody tr")
    assert rows.count() == 2
    assert "Completed" in rows.nth(0).inner_text()
    shot(pg, "study-manager-workers", full_page=True)
    ctx.close()
    assert not problems, problems
