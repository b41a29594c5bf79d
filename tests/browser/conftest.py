"""Browser tests: Debian's Chromium driven by Playwright, against services in this process.

Chromium comes from Debian (``/usr/bin/chromium``, installed by ``.ci/run``); Playwright
never downloads a browser. Every request the pages make outside this machine is
refused and recorded, and the tests fail on any. Screenshots go to
``artifacts/screenshots/`` (git-ignored).
"""

import os
from pathlib import Path
from urllib.parse import urlparse

import pytest

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
LOCAL = {"127.0.0.1", "localhost", "::1"}


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: apt-get install chromium"
    playwright = sync_playwright().start()
    browser = playwright.chromium.launch(
        executable_path=CHROMIUM,
        args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
              "--disable-background-networking", "--disable-component-update",
              "--disable-sync"])
    yield browser
    browser.close()
    # Stopping Playwright's driver waits forever under eventlet's monkey-patching; the
    # driver is a child of this process and ends with it.


class Outside:
    """Requests to anywhere but this machine: refused and remembered."""

    def __init__(self):
        self.requests = []

    def __call__(self, route):
        host = urlparse(route.request.url).hostname
        if route.request.url.startswith(("data:", "blob:")) or host in LOCAL:
            route.continue_()
        else:
            self.requests.append(route.request.url)
            route.abort()


@pytest.fixture
def pages(browser):
    """``pages()`` opens a new page in a fresh context; console errors are collected."""
    outside = Outside()
    errors = []
    contexts = []

    def open_page(**options):
        context = browser.new_context(viewport={"width": 1366, "height": 900}, **options)
        context.route("**/*", outside)
        contexts.append(context)
        page = context.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        return page

    yield open_page
    for context in contexts:
        context.close()
    assert outside.requests == [], f"pages asked for outside resources: {outside.requests}"
    assert errors == [], f"browser console errors: {errors}"


@pytest.fixture
def screenshot():
    SHOTS.mkdir(parents=True, exist_ok=True)

    def take(page, name):
        path = SHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
