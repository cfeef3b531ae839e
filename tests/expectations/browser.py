"""Shared harness of the report browser tests: Debian's Chromium through Playwright, offline.

Playwright's own browser download is never used. A missing browser fails the test (never skips):
a report that was never opened in a browser is not verified.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator:
    """Chromium driven by Playwright; fails (never skips) when either is missing."""
    if not CHROMIUM.is_file():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium; "
            ".ci/run does it) to test the HTML reports",
            pytrace=False,
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail(
            "playwright is not installed: pip install -e '.[dev]' (no browser download needed)",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class PageRecord:
    """What a page did while it loaded: every request, console message and uncaught error."""

    requests: list[str] = field(default_factory=list)
    console: list[tuple[str, str]] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    @property
    def console_problems(self) -> list[tuple[str, str]]:
        """Console errors and warnings."""
        return [entry for entry in self.console if entry[0] in ("error", "warning")]


def open_report(browser, html_path: Path, *screenshots: Path):
    """Open a report file, record what it does, and save full-page screenshots.

    Returns:
        The open page (close it when done) and its record.
    """
    record = PageRecord()
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.on("request", lambda request: record.requests.append(request.url))
    page.on("console", lambda message: record.console.append((message.type, message.text)))
    page.on("pageerror", lambda error: record.page_errors.append(str(error)))
    page.goto(html_path.as_uri(), wait_until="load")
    for path in screenshots:
        page.screenshot(path=str(path), full_page=True)
    return page, record
