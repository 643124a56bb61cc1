"""Headless Chromium for the browser tests: Debian's chromium driven by Playwright's Python package (no browser
download; the README's test command and .ci/run install both)."""

from __future__ import annotations

import contextlib
import shutil

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@contextlib.contextmanager
def chromium_page(**page_options):
    """``(page, errors)``: a new page in headless Chromium, and the list its script errors and console errors
    are appended to."""
    assert CHROMIUM, ("no chromium on PATH: install Debian's chromium (apt-get install chromium), as the README's "
                      "test command does")
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(**page_options)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            yield page, errors
        finally:
            browser.close()
