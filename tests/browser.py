"""Real headless Chromium for browser tests: Debian's ``chromium`` driven by Playwright for Python.

No browser is downloaded: Playwright launches ``/usr/bin/chromium`` (``apt-get install chromium``,
listed in ``scripts/install-deps.sh``; override with ``FLEETWATCH_CHROMIUM``). A machine without
it fails the test with that hint rather than skipping it.

Use the fixtures by importing them into a test module::

    from tests.browser import browser, chromium_page  # noqa: F401  (pytest fixtures)

- ``browser``: one Chromium for the whole session (starting one costs about a second).
- ``chromium_page``: a fresh context (no cookies, no cache, no HTTP auth) and page per test; at the
  end of the test a full-page screenshot is saved as ``<output>/<test name>.png``.
- :func:`screenshot` saves one mid-test (``await screenshot(page, "after-login")``).

Screenshots go under ``tests/output/`` (``FLEETWATCH_TEST_OUTPUT`` overrides), a folder git
ignores.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright

CHROMIUM = Path(os.environ.get("FLEETWATCH_CHROMIUM", "/usr/bin/chromium"))
OUTPUT = Path(os.environ.get("FLEETWATCH_TEST_OUTPUT",
                             Path(__file__).resolve().parent / "output"))


def output_dir() -> Path:
    """The screenshot folder (made on first use, with a ``.gitignore`` that ignores it all)."""
    OUTPUT.mkdir(parents=True, exist_ok=True)
    ignore = OUTPUT / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n")
    return OUTPUT


async def screenshot(page: Page, name: str) -> Path:
    """Save a full-page screenshot of ``page`` as ``<output>/<name>.png``; returns its path."""
    path = output_dir() / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not os.path.exists(CHROMIUM):  # noqa: ASYNC240 (once per session, before any I/O)
        pytest.fail(f"{CHROMIUM} not found: apt-get install -y chromium "
                    "(scripts/install-deps.sh), or set FLEETWATCH_CHROMIUM")
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True,
            # running as root in a container: Chromium's sandbox needs user namespaces
            args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture()
async def chromium_page(browser: Browser, request: pytest.FixtureRequest) -> AsyncIterator[Page]:
    context = await browser.new_context()
    page = await context.new_page()
    try:
        yield page
    finally:
        try:
            await screenshot(page, request.node.name)
        finally:
            await context.close()
