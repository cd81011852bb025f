"""Playwright against the live server, driving Debian's Chromium (never `playwright install`).

Skipped with the reason when Chromium or the playwright package is missing; CI installs
Chromium with apt.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("STEPWISE_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
DEMO_PASSWORD = "demo-browser-pw"

# The sync Playwright API runs an event loop in this thread; the test's own ORM calls are
# still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

try:
    from playwright.sync_api import Browser, Page, sync_playwright
except ImportError:  # pragma: no cover - depends on the environment
    sync_playwright = None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = None
    if not os.environ.get("DATABASE_URL", "").startswith(("postgres", "pgsql")):
        # The live server answers the page's concurrent requests (a submit and the
        # background prefetch) on separate threads; on SQLite they would share one
        # in-memory connection and nest their transactions.
        reason = "browser tests need PostgreSQL (set DATABASE_URL, as CI does)"
    elif sync_playwright is None:
        reason = "the playwright Python package is not installed"
    elif not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        reason = f"Chromium not found at {CHROMIUM} (CI installs it with apt-get install chromium)"
    if reason:
        for item in items:
            if "browser" in item.keywords:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield b
        b.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    context.set_default_timeout(10_000)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.js_errors = errors  # type: ignore[attr-defined]
    # Chromium reports what the Content-Security-Policy blocked (an inline style or script,
    # an eval) on the console; a page that needs any of it is broken in production.
    csp: list[str] = []
    pg.on(
        "console",
        lambda msg: csp.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    pg.csp_violations = csp  # type: ignore[attr-defined]
    yield pg
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"
    assert not csp, f"Content-Security-Policy violations: {csp}"


@pytest.fixture
def demo(transactional_db) -> None:
    from annotation.services.demo import demo_setup

    demo_setup(password=DEMO_PASSWORD)


@pytest.fixture
def login(live_server) -> Callable[[Page, str], None]:
    """Log in through the form with the keyboard only."""

    def do(pg: Page, username: str) -> None:
        pg.goto(f"{live_server.url}/accounts/login/")
        pg.keyboard.type(username)  # the username field has autofocus
        pg.keyboard.press("Tab")
        pg.keyboard.type(DEMO_PASSWORD)
        pg.keyboard.press("Enter")
        pg.wait_for_url(f"{live_server.url}/")

    return do


@pytest.fixture
def shot() -> Callable[[Page, str], Path]:
    def take(pg: Page, name: str, full_page: bool = False) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        # caret="initial": hiding the caret sets an inline style on every input, and htmx
        # copies `style` onto the inputs it swaps in later, which the CSP then blocks.
        pg.screenshot(path=str(path), full_page=full_page, caret="initial")
        return path

    return take
