"""The pages in a real browser: Playwright's Python package driving Debian's chromium.

One app (api and worker under gunicorn, local mode, SQLite in a temporary DATA_DIR, started by
`devtools.run_local` exactly as `make run` starts it) and one browser serve the whole session; each
test gets fresh browser contexts (separate storage: a second context is a second person).
Without chromium or the playwright package the tests skip with the reason, and fail under
CI=true (`make test` installs chromium there).

A failing test leaves a screenshot of each of its pages in `.pytest_cache/d/browser-failures/`
(pytest's cache folder, which .gitignore covers), named after the test.

Every page is watched: a Content-Security-Policy violation, an uncaught script error, or a
console line holding a token or a text the test typed fails the test.
"""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.browser import app_process
from tests.browser.app_process import CHROMIUM, CHROMIUM_ARGS, REPO, AppDidNotStart, RunningApp
from tests.conftest import require

VIEWPORT = {"width": 1100, "height": 760}
SHOTS = "browser-failures"

# Records what the page's policy refuses (init scripts run outside the page's CSP).
WATCH_CSP = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`);
});
"""


@pytest.fixture(scope="session")
def playwright_api() -> Any:
    try:
        from playwright import sync_api
    except ImportError:
        sync_api = None
    require(sync_api is not None, "the playwright package is not installed")
    require(
        CHROMIUM.exists(), f"chromium is not installed at {CHROMIUM} (apt-get install chromium)"
    )
    return sync_api


@pytest.fixture(scope="session")
def running_app(
    playwright_api: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningApp]:
    """`make run`'s two processes on free ports, for the whole session."""
    try:
        with app_process.running_app(tmp_path_factory.mktemp("browser-app")) as app:
            yield app
    except AppDidNotStart as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture(scope="session")
def browser(playwright_api: Any) -> Iterator[Any]:
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@dataclass
class Watched:
    """The pages a test opened and what their consoles said."""

    pages: list[Any] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    secrets: set[str] = field(default_factory=set)


@pytest.fixture
def people(
    browser: Any, running_app: RunningApp, request: pytest.FixtureRequest
) -> Iterator[Callable[[], Any]]:
    """`people()` opens a page in a new browser context: another person, with own storage."""
    watched = Watched()
    contexts = []

    def open_person() -> Any:
        context = browser.new_context(
            base_url=running_app.url, viewport={"width": 1100, "height": 760}
        )
        context.set_default_timeout(10_000)
        context.add_init_script(WATCH_CSP)
        contexts.append(context)
        page = context.new_page()
        watch(page)
        context.on("page", watch)
        return page

    def watch(page: Any) -> None:
        watched.pages.append(page)
        page.on("console", lambda message: watched.console.append(message.text))
        page.on("pageerror", lambda error: watched.errors.append(str(error)))

    request.node.watched = watched
    yield open_person
    try:
        _save_screenshots(request, watched)
        violations = []
        for page in watched.pages:
            if not page.is_closed():
                violations += page.evaluate("window.__cspViolations || []")
                # Every text a transcript shows: none may appear in the console.
                watched.secrets.update(page.locator(".message-text").all_inner_texts())
        assert violations == [], f"Content-Security-Policy violations: {violations}"
        assert watched.errors == [], f"uncaught script errors: {watched.errors}"
        leaked = [
            line
            for line in watched.console
            if re.search(r"eyJ[\w-]{10,}|Bearer ", line)
            or any(secret in line for secret in watched.secrets)
        ]
        assert leaked == [], "the console shows a token or a text typed"
    finally:
        for context in contexts:
            context.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.browser_call_failed = report.failed


def _save_screenshots(request: pytest.FixtureRequest, watched: Watched) -> None:
    """A failed test: one PNG per page it opened, named after the test."""
    if not getattr(request.node, "browser_call_failed", False):
        return
    folder = _shots_folder(request.config)
    name = re.sub(r"[^\w.-]+", "_", request.node.name)
    for index, page in enumerate(watched.pages):
        if page.is_closed():
            continue
        path = folder / f"{name}-{index}.png"
        with contextlib.suppress(Exception):
            page.screenshot(path=str(path), full_page=True)
            sys.stderr.write(f"\nscreenshot of the failed page: {path}\n")


def _shots_folder(config: pytest.Config) -> Path:
    cache = getattr(config, "cache", None)
    if cache is not None:
        return Path(cache.mkdir(SHOTS))
    folder = REPO / ".pytest_cache" / "d" / SHOTS
    folder.mkdir(parents=True, exist_ok=True)
    return folder
