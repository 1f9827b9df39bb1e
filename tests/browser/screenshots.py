"""`make screenshots`: PNGs of the chat page and the staff console mid-conversation, for the
README (docs/screenshots/ by default).

Runs the app as `make run` does (local mode, a temporary DATA_DIR) and drives chromium with
Playwright as the browser tests do: a customer asks about an order and for a refund (whose
result the worker posts), another asks for a person, whom a staff member answers.

    python -m tests.browser.screenshots [folder]
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path
from typing import Any

from tests.browser.app_process import CHROMIUM, CHROMIUM_ARGS, REPO, running_app

VIEWPORT = {"width": 1100, "height": 880}
TO_THE_END = "document.querySelector('[role=log]').scrollTop = 1e9; window.scrollTo(0, 0)"
FILES = ("chat-page.png", "staff-console.png")


def _sign_in(page: Any, url: str, label: str, who: str) -> None:
    page.goto(url)
    page.get_by_role("combobox", name=label).select_option(who)
    page.get_by_role("button", name="Sign in").click()


def _say(page: Any, expect: Any, text: str, answers: int) -> None:
    page.get_by_role("textbox", name="Message").fill(text)
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("log").locator("article")).to_have_count(answers)


def take(folder: Path) -> list[Path]:
    from playwright.sync_api import expect, sync_playwright

    if not CHROMIUM.exists():
        raise SystemExit(f"chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    folder.mkdir(parents=True, exist_ok=True)
    chat_png, console_png = (folder / name for name in FILES)
    with (
        tempfile.TemporaryDirectory(prefix="screenshots-") as work,
        running_app(Path(work)) as app,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        pages = []
        for _ in range(3):
            context = browser.new_context(base_url=app.url, viewport=VIEWPORT)
            context.set_default_timeout(15_000)
            pages.append(context.new_page())
        chat, waiting, console = pages

        # The chat page: an order question, then a refund whose result arrives live.
        _sign_in(chat, "/", "Customer", "C004")
        _say(chat, expect, "Where is my order A1020?", 2)
        _say(chat, expect, "I want a refund for A1007, the teapot arrived cracked", 4)
        expect(chat.get_by_role("log").locator("article")).to_have_count(5)
        chat.get_by_role("log").locator("article").nth(3).locator("summary").click()
        chat.get_by_role("textbox", name="Message").fill("Thanks! Can I also return A1008?")
        chat.evaluate(TO_THE_END)
        chat.screenshot(path=str(chat_png))

        # The staff console: two customers wait; one conversation is open and answered.
        _sign_in(waiting, "/", "Customer", "C002")
        _say(waiting, expect, "Where is my order A1003?", 2)
        _say(waiting, expect, "It is late again. Can I talk to a human, please?", 4)
        token = app.token(customer_id="C006")
        other = app.call("POST", "/v1/sessions", {"preferences": {}}, token)["id"]
        app.call("POST", f"/v1/sessions/{other}/messages", {"text": "I need a person"}, token)
        _sign_in(console, "/staff", "Staff member", "S001")
        console.get_by_role("link", name=re.compile(r"\bC002\b")).click()
        console.get_by_role("textbox", name="Reply").fill(
            "Hello, this is Maria from the support team. I am sorry the parcel is late:"
            " I have asked DHL to trace it and will write to you tomorrow."
        )
        console.get_by_role("button", name="Send").click()
        expect(console.get_by_role("log").locator("article")).to_have_count(5)
        expect(waiting.get_by_role("log").locator("article")).to_have_count(5)
        _say(waiting, expect, "Thank you, that helps.", 6)
        expect(console.get_by_role("log").locator("article")).to_have_count(6)
        console.get_by_role("link", name=re.compile(r"\bC006\b")).wait_for()
        expect(
            console.get_by_role("link", name=re.compile(r"C002, with a team member"))
        ).to_be_visible()
        console.evaluate(TO_THE_END)
        console.screenshot(path=str(console_png))
        browser.close()
    return [chat_png, console_png]


def main(argv: list[str]) -> int:
    folder = Path(argv[1]) if len(argv) > 1 else REPO / "docs" / "screenshots"
    for path in take(folder):
        print(f"wrote {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
