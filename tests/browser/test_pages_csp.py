"""Every kind of page under the production Content-Security-Policy in Chromium: nothing is
blocked (the page fixture fails on any CSP report or JavaScript error), and the pages that
changed for it still look right (screenshots in test-artifacts/)."""

from __future__ import annotations

import pytest
from django.test import override_settings

from annotation.models import Project
from annotation.services.stats import project_stats_refresh

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_manager_pages_load_with_nothing_blocked(page, live_server, demo, login, shot):
    login(page, "manager")
    response = page.request.get(f"{live_server.url}/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert page.locator("#new-project-title").is_visible()
    shot(page, "csp-home-manager")
    # The dashboard's charts, computed now (no worker runs here); the counseling demo carries
    # imported coder labels, so its agreement table has rows with coloured dots.
    for project in Project.objects.all():
        project_stats_refresh(project=project)
    project = Project.objects.get(slug="demo-math-steps")
    for path, name in [
        ("/projects/demo-counseling-coding/dashboard/", "csp-dashboard-coding"),
        (f"/projects/{project.slug}/", "csp-project"),
        (f"/projects/{project.slug}/dashboard/", "csp-dashboard"),
        (f"/projects/{project.slug}/jobs/", "csp-jobs"),
        (f"/projects/{project.slug}/review/", "csp-review"),
        (f"/projects/{project.slug}/settings/", "csp-settings"),
        (f"/projects/{project.slug}/settings/schema/", "csp-schema"),
        (f"/projects/{project.slug}/members/", "csp-members"),
        ("/profile/", "csp-profile"),
        ("/api/v1/docs/", "csp-api-docs"),
    ]:
        page.goto(f"{live_server.url}{path}")
        page.wait_for_load_state("networkidle")
        shot(page, name, full_page=True)
    # The token's Copy button works without an inline handler.
    page.goto(f"{live_server.url}/profile/")
    page.get_by_role("button", name="Create API token").click()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.get_by_role("button", name="Copy").click()
    page.get_by_role("button", name="Copied").wait_for()


def test_annotator_home_has_no_new_project_form(page, live_server, demo, login, shot):
    login(page, "annotator1")
    assert page.locator("#new-project-title").count() == 0
    assert page.get_by_text("New project").count() == 0
    shot(page, "csp-home-annotator")
    page.goto(f"{live_server.url}/projects/demo-math-steps/annotate/")
    page.locator("#current-slot .task:not([hidden])").wait_for()
    page.wait_for_function("document.querySelector('.katex') !== null")
    shot(page, "csp-annotate-katex")


def test_password_reset_and_lockout_pages(page, live_server, demo, shot):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("Email").fill("manager@example.org")
    shot(page, "csp-password-reset")
    page.get_by_role("button", name="Send the link").click()
    page.get_by_role("heading", name="Check your email").wait_for()
    with override_settings(AXES_ENABLED=True, AXES_FAILURE_LIMIT=2):
        for _ in range(2):
            page.goto(f"{live_server.url}/accounts/login/")
            page.get_by_label("Username").fill("manager")
            page.get_by_label("Password").fill("not-the-password")
            page.get_by_role("button", name="Log in").click()
        page.get_by_role("heading", name="Too many failed logins").wait_for()
        shot(page, "csp-locked-out")
