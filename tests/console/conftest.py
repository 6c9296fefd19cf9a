"""The console's browser: Debian's headless Chromium (``scripts/ensure-chromium`` installs
it), driven by Playwright. Screenshots of each page go to ``tests/console/screenshots/``
(ignored by git), or to ``$KEYROTOR_SCREENSHOTS``."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = Path(os.environ.get("KEYROTOR_CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS = Path(os.environ.get("KEYROTOR_SCREENSHOTS", Path(__file__).parent / "screenshots"))


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Chromium per module; in CI its absence is a failure, not a skip.

    Not per session: while Playwright's sync API is open, the main thread has a running
    event loop, and later tests' ``asyncio.run`` would fail."""
    if not CHROMIUM.exists():
        why = f"{CHROMIUM} is missing: scripts/ensure-chromium installs it"
        if os.environ.get("CI"):
            pytest.fail(f"{why}; the console's browser tests must run in CI")
        pytest.skip(why)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM))
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context (its own sessionStorage) and page; fails the test on any
    error the page logs, a Content-Security-Policy violation included."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(10_000)
    errors: list[str] = []
    opened.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    context.close()
    assert not [e for e in errors if not _expected(e)], errors


def _expected(error: str) -> bool:
    """The browser logs each 401 and 403 answer; the console gets them on purpose (a
    mistyped token, the read-only check)."""
    return any(f"the server responded with a status of {code}" in error for code in (401, 403))


@pytest.fixture
def shot(request: pytest.FixtureRequest) -> Callable[[Page, str], Path]:
    """``shot(page, name)``: a full-page screenshot, ``<test>-<name>.png``."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    test = request.node.name.removeprefix("test_")

    def take(page: Page, name: str) -> Path:
        path = SCREENSHOTS / f"{test}-{name}.png"
        page.screenshot(path=path, full_page=True)
        return path

    return take
