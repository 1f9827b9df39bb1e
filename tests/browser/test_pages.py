"""The chat page and the staff console, used as people use them, in chromium.

The accessible names of issue 15 are the interface: "Customer", "Staff member", "Sign in",
"Message", "Send", the role=log transcript, "Reply", "Return to assistant", and links naming the
customer id. The app is the real one (api and worker, local mode); see conftest.py.
"""

from __future__ import annotations

import re
import time
from datetime import datetime
from typing import Any

import pytest

from tests.browser.app_process import RunningApp

LIVE_WITHIN_MS = 2000  # issue 15: new messages appear within two seconds, without a reload


@pytest.fixture
def expect(playwright_api: Any) -> Any:
    return playwright_api.expect


# Each message the transcript shows, with the moment (browser clock, ms) it appeared.
RECORD_ARRIVALS = """
() => {
  window.__arrived = {};
  const log = document.querySelector('[role="log"]');
  const seen = (node) => {
    if (node.dataset && node.dataset.seq && !(node.dataset.seq in window.__arrived)) {
      window.__arrived[node.dataset.seq] = Date.now();
    }
  };
  log.querySelectorAll("article").forEach(seen);
  new MutationObserver((changes) => changes.forEach((c) => c.addedNodes.forEach(seen)))
    .observe(log, { childList: true });
}
"""


def sign_in_customer(page: Any, expect: Any, customer: str) -> None:
    page.goto("/")
    page.get_by_role("combobox", name="Customer").select_option(customer)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("textbox", name="Message")).to_be_focused()


def sign_in_staff(page: Any, expect: Any, staff: str = "S001") -> None:
    page.goto("/staff")
    page.get_by_role("combobox", name="Staff member").select_option(staff)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Waiting for a person")).to_be_visible()


def say(page: Any, text: str) -> None:
    page.get_by_role("textbox", name="Message").fill(text)
    page.get_by_role("button", name="Send").click()


def entries(page: Any) -> Any:
    return page.get_by_role("log").locator("article")


def entry(page: Any, text: str) -> Any:
    """The transcript entries whose message text holds `text` (not their details)."""
    return entries(page).filter(has=page.locator(".message-text", has_text=text))


def by_author(page: Any, author: str) -> Any:
    """The transcript entries the page says `author` wrote."""
    exact = re.compile(f"^{re.escape(author)}$")
    return entries(page).filter(has=page.locator(".author", has_text=exact))


def wait_until(page: Any, expression: str, timeout_seconds: float = 10.0) -> None:
    """Polls a JavaScript expression from outside the page until it is true.

    Playwright's `wait_for_function` re-evaluates its predicate with `eval` inside the page,
    which the page's policy (`script-src 'self'`) refuses once the first try was false.
    """
    deadline = time.monotonic() + timeout_seconds
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout_seconds} s: {expression}")
        time.sleep(0.05)


def seqs(page: Any) -> list[int]:
    return [int(s) for s in entries(page).evaluate_all("(all) => all.map((a) => a.dataset.seq)")]


def session_id(page: Any, customer: str) -> str:
    return page.evaluate(f"localStorage.getItem('agent-platform.session.customer:{customer}')")


def latency_ms(page: Any, seq: int, created_at: str) -> float:
    """How long after it was stored the message with `seq` appeared on the page."""
    arrived = page.evaluate(f"window.__arrived[{seq}]")
    stored = datetime.fromisoformat(created_at.replace("Z", "+00:00")).timestamp() * 1000
    return arrived - stored


def test_a_customer_signs_in_and_an_order_question_is_answered(people, expect) -> None:
    page = people()
    page.goto("/")
    # Nothing of a conversation before the api accepts a token.
    expect(page.get_by_role("log")).to_be_hidden()
    expect(page.get_by_role("textbox", name="Message")).to_be_hidden()
    sign_in_customer(page, expect, "C002")
    expect(page.get_by_text("Signed in as C002")).to_be_visible()
    log = page.get_by_role("log")
    expect(log).to_have_attribute("aria-live", "polite")

    say(page, "Where is my order A1003?")
    question, answer = entry(page, "Where is my order A1003?"), entries(page).nth(1)
    expect(question.locator(".author")).to_have_text("You")
    expect(answer.locator(".author")).to_have_text("Assistant")
    expect(answer).to_contain_text("Order A1003 has shipped with DHL")
    expect(page.get_by_role("textbox", name="Message")).to_have_value("")

    # The route and source of the answer, on demand.
    details = answer.locator("details")
    expect(details.get_by_text("support", exact=False)).to_be_hidden()
    details.get_by_text("How this was answered").click()
    expect(details).to_contain_text("Route")
    expect(details).to_contain_text("session")
    expect(details).to_contain_text("Source")


def test_a_refund_result_appears_live_without_a_reload(
    people, expect, running_app: RunningApp
) -> None:
    page = people()
    sign_in_customer(page, expect, "C004")
    page.evaluate("window.__samePage = true")
    page.evaluate(RECORD_ARRIVALS)

    say(page, "I want a refund for A1007, the teapot arrived cracked")
    expect(entries(page).nth(1)).to_contain_text("refund review for order A1007")
    result = by_author(page, "Background task result")
    expect(result).to_have_count(1, timeout=15_000)
    expect(result).to_contain_text("A1007")
    assert page.evaluate("window.__samePage") is True  # no reload happened

    token = running_app.token(customer_id="C004")
    stored = running_app.call("GET", f"/v1/sessions/{session_id(page, 'C004')}", token=token)
    message = next(m for m in stored["messages"] if m["role"] == "system")
    assert latency_ms(page, message["seq"], message["created_at"]) < LIVE_WITHIN_MS
    result.locator("summary").click()
    expect(result.locator("details")).to_contain_text("refund_review")


def test_a_reopened_page_shows_the_earlier_messages_page_by_page(
    people, expect, running_app: RunningApp
) -> None:
    page = people()
    sign_in_customer(page, expect, "C001")
    say(page, "Hello")
    expect(entries(page)).to_have_count(2)
    session = session_id(page, "C001")
    token = running_app.token(customer_id="C001")
    for n in range(26):  # 52 more messages: more than the latest 50 a page opens with
        running_app.call(
            "POST", f"/v1/sessions/{session}/messages", {"text": f"Is shipping free {n}?"}, token
        )

    page.reload()
    expect(entries(page)).to_have_count(50)
    expect(entry(page, "Is shipping free 25?")).to_have_count(1)
    expect(entry(page, "Hello")).to_have_count(0)
    earlier = page.get_by_role("button", name="Show earlier messages")
    earlier.click()
    expect(entries(page)).to_have_count(54)
    expect(earlier).to_be_hidden()
    expect(entries(page).first).to_contain_text("Hello")
    assert seqs(page) == list(range(1, 55))
    assert session_id(page, "C001") == session  # the same conversation, reopened


def test_after_a_network_drop_the_page_resumes_without_losing_or_repeating_a_message(
    people, expect, running_app: RunningApp
) -> None:
    page = people()
    sign_in_customer(page, expect, "C003")
    say(page, "Hello")
    expect(entries(page)).to_have_count(2)
    expect(page.get_by_text("Live updates are on.")).to_be_visible()
    session = session_id(page, "C003")
    token = running_app.token(customer_id="C003")

    page.context.set_offline(True)
    expect(page.get_by_text("You are offline.")).to_be_visible()
    running_app.call(  # while the page is offline: the api stores two messages
        "POST", f"/v1/sessions/{session}/messages", {"text": "Is shipping free?"}, token
    )
    # The first reconnection fails as well: the page backs off and tries again.
    page.route("**/v1/sessions/*/events", lambda route: route.abort(), times=1)
    page.context.set_offline(False)

    expect(entry(page, "Is shipping free?")).to_have_count(1)
    expect(entries(page)).to_have_count(4)
    expect(page.get_by_text("Live updates are on.")).to_be_visible()
    running_app.call(
        "POST", f"/v1/sessions/{session}/messages", {"text": "Do you ship abroad?"}, token
    )
    expect(entry(page, "Do you ship abroad?")).to_have_count(1)
    expect(entries(page)).to_have_count(6)
    page.wait_for_timeout(500)  # anything repeated would arrive now
    assert seqs(page) == [1, 2, 3, 4, 5, 6]


def test_a_handoff_round_trip_between_the_chat_page_and_the_staff_console(
    people, expect, running_app: RunningApp
) -> None:
    customer, staff = people(), people()
    sign_in_customer(customer, expect, "C005")
    say(customer, "Can I talk to a human?")
    expect(customer.get_by_role("status").filter(has_text="team member will join")).to_be_visible()

    sign_in_staff(staff, expect, "S002")
    waiting = staff.get_by_role("link", name=re.compile(r"\bC005\b"))
    waiting.click()
    expect(staff.get_by_role("heading", name="Conversation with customer C005")).to_be_visible()
    expect(staff.get_by_role("log")).to_contain_text("Can I talk to a human?")
    customer.evaluate(RECORD_ARRIVALS)
    staff.evaluate(RECORD_ARRIVALS)

    staff.get_by_role("textbox", name="Reply").fill("Hello, this is the support team.")
    staff.get_by_role("button", name="Send").click()
    reply = entry(customer, "Hello, this is the support team.")
    expect(reply.locator(".author")).to_have_text("Team member")
    expect(reply).not_to_contain_text("S002")  # the staff member's id is never shown

    say(customer, "My parcel is damaged")
    expect(entry(staff, "My parcel is damaged").locator(".author")).to_have_text("Customer C005")
    expect(entry(customer, "My parcel is damaged")).to_have_count(1)
    expect(by_author(customer, "Assistant")).to_have_count(1)  # it stays silent

    staff.get_by_role("button", name="Return to assistant").click()
    expect(entry(customer, "back with the assistant")).to_have_count(1)
    expect(staff.get_by_role("link", name=re.compile(r"\bC005\b"))).to_have_count(0)
    say(customer, "Is shipping free?")
    expect(by_author(customer, "Assistant")).to_have_count(2)

    token = running_app.token(customer_id="C005")
    stored = running_app.call("GET", f"/v1/sessions/{session_id(customer, 'C005')}", token=token)
    by_text = {m["text"]: m for m in stored["messages"]}
    staff_reply = by_text["Hello, this is the support team."]
    customer_note = by_text["My parcel is damaged"]
    assert latency_ms(customer, staff_reply["seq"], staff_reply["created_at"]) < LIVE_WITHIN_MS
    assert latency_ms(staff, customer_note["seq"], customer_note["created_at"]) < LIVE_WITHIN_MS


def test_both_pages_work_with_the_keyboard_alone(people, expect, running_app: RunningApp) -> None:
    page = people()
    page.goto("/")
    expect(page.get_by_role("combobox", name="Customer")).to_be_visible()  # the page is ready
    keyboard = page.keyboard
    keyboard.press("Tab")
    expect(page.get_by_role("combobox", name="Customer")).to_be_focused()
    keyboard.press("ArrowDown")  # C001 -> C002 ...
    keyboard.press("ArrowDown")
    keyboard.press("ArrowDown")
    keyboard.press("ArrowDown")
    keyboard.press("ArrowDown")
    expect(page.get_by_role("combobox", name="Customer")).to_have_value("C006")
    keyboard.press("Tab")
    expect(page.get_by_role("button", name="Sign in")).to_be_focused()
    keyboard.press("Enter")
    message = page.get_by_role("textbox", name="Message")
    expect(message).to_be_focused()
    assert focus_ring(page) != "none"
    keyboard.type("Is shipping free?")
    keyboard.press("Enter")
    expect(entries(page)).to_have_count(2)
    expect(message).to_be_focused()
    expect(message).to_have_value("")
    keyboard.press("Tab")
    expect(page.get_by_role("button", name="Send")).to_be_focused()
    # Back from the message box into the transcript: the answer's details open with Enter.
    message.focus()
    for _ in range(4):
        keyboard.press("Shift+Tab")
        if page.evaluate("document.activeElement.tagName") == "SUMMARY":
            break
    assert page.evaluate("document.activeElement.tagName") == "SUMMARY"
    keyboard.press("Enter")
    expect(entries(page).nth(1).locator("details")).to_have_attribute("open", "")

    # The console: a conversation waits; a staff member answers and hands it back by keyboard.
    token = running_app.token(customer_id="C007")
    session = running_app.call("POST", "/v1/sessions", {"preferences": {}}, token)["id"]
    running_app.call(
        "POST", f"/v1/sessions/{session}/messages", {"text": "I want to talk to a human"}, token
    )
    console = people()
    console.goto("/staff")
    expect(console.get_by_role("combobox", name="Staff member")).to_be_visible()
    console.keyboard.press("Tab")
    expect(console.get_by_role("combobox", name="Staff member")).to_be_focused()
    console.keyboard.press("Tab")
    console.keyboard.press("Enter")
    link = console.get_by_role("link", name=re.compile(r"\bC007\b"))
    expect(link).to_be_visible()
    for _ in range(20):
        if link.evaluate("(a) => a === document.activeElement"):
            break
        console.keyboard.press("Tab")
    expect(link).to_be_focused()
    console.keyboard.press("Enter")
    reply = console.get_by_role("textbox", name="Reply")
    expect(reply).to_be_focused()
    console.keyboard.type("A person is here.")
    console.keyboard.press("Enter")
    expect(entry(console, "A person is here.")).to_have_count(1)
    back = console.get_by_role("button", name="Return to assistant")
    for _ in range(10):
        if back.evaluate("(b) => b === document.activeElement"):
            break
        console.keyboard.press("Tab")
    expect(back).to_be_focused()
    console.keyboard.press("Enter")
    expect(entry(console, "back with the assistant")).to_have_count(1)


def focus_ring(page: Any) -> str:
    return page.evaluate("getComputedStyle(document.activeElement).outlineStyle")


def test_a_customer_cannot_open_the_staff_console(people, expect, running_app: RunningApp) -> None:
    page = people()
    sign_in_customer(page, expect, "C008")
    with page.expect_response(re.compile(r"/v1/staff/handoffs$")) as answer:
        page.goto("/staff")
    assert answer.value.status == 403
    expect(page.get_by_role("alert")).to_contain_text("not a staff account")
    expect(page.get_by_role("heading", name="Waiting for a person")).to_be_hidden()
    expect(page.get_by_role("log")).to_be_hidden()
    token = running_app.token(customer_id="C008")
    assert running_app.status_of("GET", "/v1/staff/handoffs", token=token) == 403


def test_a_local_token_is_renewed_before_it_expires(people, expect) -> None:
    page = people()
    page.clock.install()
    sign_in_customer(page, expect, "C006")
    stored = "JSON.parse(localStorage.getItem('agent-platform.local-sign-in')).expiresAt"
    first = page.evaluate(stored)
    with page.expect_response(re.compile(r"/dev/token$")) as renewal:
        page.clock.fast_forward("56:00")  # tokens live an hour: renewed 5 minutes before
    assert renewal.value.status == 200
    wait_until(page, f"{stored} > {first}")
    say(page, "Is shipping free?")
    expect(by_author(page, "Assistant")).to_have_count(1)
