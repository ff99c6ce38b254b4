"""Debian's Chromium, headless, driven by Playwright: nothing is downloaded at test time.

Playwright's own browser builds ('playwright install') are never used: the browser is the
system's ``chromium`` (or ``$IMX_CHROMIUM``). When it cannot start, the test fails with the
reason, never skips.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Error, Page, sync_playwright

LAUNCH_TIMEOUT_MS = 30_000


def chromium_path() -> str:
    path = os.environ.get("IMX_CHROMIUM") or shutil.which("chromium")
    if not path:
        pytest.fail(
            "no Chromium: install Debian's 'chromium' (make setup does) or set IMX_CHROMIUM",
            pytrace=False,
        )
    return path


@contextlib.contextmanager
def chromium() -> Iterator[Browser]:
    path = chromium_path()
    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(
                executable_path=path,
                headless=True,
                # The test runs as root in a container: Chromium's sandbox needs user namespaces.
                args=["--no-sandbox", "--disable-dev-shm-usage"],
                timeout=LAUNCH_TIMEOUT_MS,
            )
        except Error as exc:
            pytest.fail(f"Chromium ({path}) did not start: {exc}", pytrace=False)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Watched:
    """A page with everything it said: console errors, uncaught exceptions, requests made."""

    page: Page
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


def open_page(browser: Browser, width: int, height: int) -> Watched:
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    watched = Watched(page)

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            watched.errors.append(f"console: {message.text} at {message.location}")

    page.on("console", console)
    page.on("pageerror", lambda exc: watched.errors.append(f"uncaught: {exc}"))
    page.on("request", lambda request: watched.requests.append(request.url))
    return watched
