"""Real-browser tests: Playwright for Python driving Debian's Chromium, headless.

Never downloads a browser: it launches /usr/bin/chromium (or $CHROMIUM). Outside CI a
missing browser skips these tests; in CI (REVIEWAPP_REQUIRE_ALL=1) it fails them.
"""

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(
    os.environ.get("REVIEWAPP_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts")
)


def browser_missing_reason() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed"
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    return None


@pytest.fixture(scope="session")
def browser():
    reason = browser_missing_reason()
    if reason:
        if os.environ.get("REVIEWAPP_REQUIRE_ALL") == "1":
            pytest.fail(f"Browser tests are required here: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in the test thread for the session; the
    # Django ORM calls the tests make around it are ordinary synchronous calls.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def artifacts(request):
    folder = ARTIFACTS / request.node.name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class PageWatch:
    """Collects what a page did that it should not: console errors, dialogs, requests
    that left the loopback address."""

    def __init__(self, page, base_url):
        self.console_errors, self.dialogs, self.outside_requests = [], [], []
        page.on(
            "console",
            lambda m: m.type == "error" and self.console_errors.append(f"{m.text} at {m.location}"),
        )
        page.on("pageerror", lambda e: self.console_errors.append(str(e)))
        page.on("dialog", self._dialog)
        page.on("request", self._request)
        self.base_url = base_url

    def _dialog(self, dialog):
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def _request(self, request):
        url = request.url
        if not (url.startswith(self.base_url) or url.startswith(("data:", "blob:", "about:"))):
            self.outside_requests.append(url)

    def assert_clean(self):
        assert self.console_errors == []
        assert self.dialogs == []
        assert self.outside_requests == []


@pytest.fixture
def new_page(browser, live_server):
    contexts = []

    def make(width=1280, height=900):
        context = browser.new_context(
            viewport={"width": width, "height": height}, accept_downloads=True
        )
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        return page, PageWatch(page, live_server.url)

    yield make
    for context in contexts:
        context.close()


def log_in(page, base_url, username, password):
    """By keyboard only: type into the focused fields and press Enter."""
    page.goto(f"{base_url}/login/")
    page.get_by_label("Username").focus()
    page.keyboard.type(username)
    page.keyboard.press("Tab")
    page.keyboard.type(password)
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: "/login/" not in url)
