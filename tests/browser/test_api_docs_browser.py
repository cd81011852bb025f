"""The API reference at /api/v1/docs/ in Chromium: inside the app's layout, every operation
listed in the side index and documented with its fields and examples."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_api_reference_reads_like_the_app(page, live_server, demo, login, shot) -> None:
    login(page, "manager")
    page.get_by_role("link", name="API docs").click()
    page.wait_for_url(f"{live_server.url}/api/v1/docs/")
    assert page.locator(".topbar").is_visible()
    toc = page.locator("nav.api-toc")
    assert toc.locator("a", has_text="/projects/{slug}/jobs/").count() >= 2
    shot(page, "api-docs-top")
    toc.locator("a", has_text="/projects/{slug}/jobs/{id}/cancel/").click()
    op = page.locator("article.api-op", has=page.locator("code", has_text="/jobs/{id}/cancel/"))
    assert op.is_visible()
    assert "between chunks" in op.inner_text()
    jobs_post = (
        page.locator("article.api-op", has=page.locator(".method-post"))
        .filter(has=page.locator("code.api-path", has_text="/api/v1/projects/{slug}/jobs/"))
        .first
    )
    jobs_post.scroll_into_view_if_needed()
    assert "Items per chunk" in jobs_post.inner_text()
    jobs_post.get_by_text("Example request").click()
    assert '"kind":' in jobs_post.locator(".api-example pre").first.inner_text()
    jobs_post.get_by_text("201 response body").click()
    assert '"progress_done":' in jobs_post.locator(".api-example-pre").first.inner_text()
    shot(page, "api-docs-jobs")
