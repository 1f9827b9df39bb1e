"""Handoff to a person, through the real services on SQLite: the customer's side (the
conversation service) and the team's (the handoff service), the event, and housekeeping's count.
"""

from __future__ import annotations

import json
import logging

import pytest

from app.agents.handoffs import RELEASE_TEXT, staff_key
from app.agents.router import HANDOFF
from app.config.settings import Settings, SettingsError
from app.domain.errors import Conflict, NotFound, Unavailable
from app.domain.records import HandoffState, Route
from app.ports.store import session_scope
from tests.app.core_support import make_services

ASK = "I want to talk to a human"
STAFF = "u-staff-pseudonym"


def handoff_events(services) -> list[dict]:
    return [e for e in services.events.events() if e.get("type") == "handoff.requested"]


def waiting_session(services, customer: str = "C001") -> str:
    session = services.sessions.create(customer, {})
    services.conversation.post_message(session.id, ASK, customer_id=customer)
    return session.id


def test_the_round_trip_from_the_assistant_to_a_person_and_back(services, clock) -> None:
    session = services.sessions.create("C001", {})
    asked = services.conversation.post_message(session.id, ASK, customer_id="C001")
    assert (asked.route, asked.source, asked.reply.text) == (Route.HANDOFF, "human", HANDOFF)
    assert asked.reply.data["handoff"] == "waiting"
    assert asked.message.text == ASK and asked.message.seq == 1 and asked.reply.seq == 2
    held, _ = services.sessions.get(session.id, customer_id="C001")
    assert held.as_dict()["handoff"] == {"state": "waiting", "since": "2025-03-12T09:00:00.000Z"}

    clock.advance(40)
    unanswered = services.conversation.post_message(session.id, "hello?", customer_id="C001")
    assert unanswered.reply is None and unanswered.route is Route.HANDOFF
    assert unanswered.as_dict()["reply"] is None
    assert unanswered.as_dict()["message"]["text"] == "hello?"
    (queued,) = services.handoffs.queue()
    assert (queued.session_id, queued.customer_id, queued.state) == (session.id, "C001", "waiting")
    assert queued.waiting_seconds == 40

    joined, stored_now = services.handoffs.reply(session.id, "Hi, I'm Sam.", staff=STAFF)
    assert stored_now and joined.role == "staff" and joined.route == "handoff"
    assert joined.data == {"author": "team", "handoff": "joined"}
    second, _ = services.handoffs.reply(session.id, "How can I help?", staff=STAFF)
    assert second.data == {"author": "team"}
    assert services.handoffs.queue()[0].state is HandoffState.JOINED

    still = services.conversation.post_message(
        session.id, "Where is my order A1001?", customer_id="C001"
    )
    assert still.reply is None  # the person answers, not the agent

    released = services.handoffs.release(session.id)
    assert released.handoff is HandoffState.NONE and released.handoff_since is None
    assert services.handoffs.queue() == []
    back = services.conversation.post_message(
        session.id, "Where is my order A1001?", customer_id="C001"
    )
    assert back.reply is not None and back.route is Route.SESSION and "A1001" in back.reply.text

    _, page = services.sessions.get(session.id, customer_id="C001")
    shown = [(m.role, m.data.get("handoff")) for m in page.messages]
    assert shown == [
        ("customer", None),
        ("agent", "waiting"),
        ("customer", None),
        ("staff", "joined"),
        ("staff", None),
        ("customer", None),
        ("system", "none"),
        ("customer", None),
        ("agent", None),
    ]
    assert page.messages[6].text == RELEASE_TEXT
    assert [m.seq for m in page.messages] == list(range(1, 10))
    assert len(handoff_events(services)) == 1


def test_the_request_is_announced_once_even_when_the_turn_is_retried(services) -> None:
    session = services.sessions.create("C002", {})
    first = services.conversation.post_message(session.id, ASK, "key-1", customer_id="C002")
    again = services.conversation.post_message(session.id, ASK, "key-1", customer_id="C002")
    assert again.reply == first.reply and again.message == first.message
    assert again.as_dict() == first.as_dict()
    (event,) = handoff_events(services)
    assert event == {
        "type": "handoff.requested",
        "session_id": session.id,
        "customer_id": "C002",
        "occurred_at": "2025-03-12T09:00:00.000Z",
    }
    assert services.sessions.get(session.id, customer_id="C002")[0].message_count == 2


def test_a_held_turn_replays_its_null_reply_and_its_message(services) -> None:
    session_id = waiting_session(services)
    first = services.conversation.post_message(session_id, "still there?", "k", customer_id="C001")
    again = services.conversation.post_message(session_id, "still there?", "k", customer_id="C001")
    assert first.reply is None and again.as_dict() == first.as_dict()
    with pytest.raises(Conflict):
        services.conversation.post_message(session_id, "other text", "k", customer_id="C001")
    assert services.sessions.get(session_id, customer_id="C001")[0].message_count == 3


def test_a_record_stored_before_it_named_the_message_replays_the_one_before_the_reply(
    services,
) -> None:
    session = services.sessions.create("C001", {})
    first = services.conversation.post_message(session.id, "hello", "old", customer_id="C001")
    store = services.store
    record = store.get_idempotency(session_scope(session.id), "old", services.clock.now())
    response = {k: v for k, v in record.response.items() if k != "message_id"}
    with store.db.write() as conn:  # as the version before stored it
        conn.execute(
            "UPDATE idempotency SET response = ? WHERE key = ?", (json.dumps(response), "old")
        )
    again = services.conversation.post_message(session.id, "hello", "old", customer_id="C001")
    assert again.message == first.message


def test_a_publish_that_fails_leaves_the_handoff_stored_and_logs_it(services, caplog) -> None:
    def down(event_id: str, event: dict) -> None:
        raise Unavailable("Pub/Sub did not accept the message")

    services.conversation.events.publish_event = down
    session = services.sessions.create("C001", {})
    with caplog.at_level(logging.WARNING, logger="app.agents.handoff_events"):
        asked = services.conversation.post_message(session.id, ASK, customer_id="C001")
    assert asked.reply.data["handoff"] == "waiting"
    assert services.handoffs.queue()[0].session_id == session.id
    assert "handoff event not published" in caplog.text


def test_staff_actions_on_a_conversation_the_assistant_holds_are_conflicts(services) -> None:
    session = services.sessions.create("C001", {})
    with pytest.raises(Conflict, match="nothing to reply to") as refused:
        services.handoffs.reply(session.id, "hello", staff=STAFF)
    assert refused.value.field == "handoff"
    with pytest.raises(Conflict, match="with the assistant already"):
        services.handoffs.release(session.id)
    session_id = waiting_session(services, "C002")
    services.handoffs.release(session_id)
    with pytest.raises(Conflict):
        services.handoffs.release(session_id)  # a second click, or a colleague's
    assert services.sessions.get(session_id, customer_id="C002")[0].message_count == 3


def test_a_staff_reply_under_a_key_is_stored_once_per_staff_member(services) -> None:
    session_id = waiting_session(services)
    first, stored = services.handoffs.reply(session_id, "On it", "r1", staff=STAFF)
    again, stored_again = services.handoffs.reply(session_id, "On it", "r1", staff=STAFF)
    assert (stored, stored_again) == (True, False) and again == first
    with pytest.raises(Conflict, match="different request body"):
        services.handoffs.reply(session_id, "Something else", "r1", staff=STAFF)
    colleague, _ = services.handoffs.reply(session_id, "On it", "r1", staff="u-colleague")
    assert colleague.id != first.id and colleague.data == {"author": "team"}
    # The customer's keys live in the same scope, and never meet the staff's.
    assert staff_key(STAFF, "r1") != "r1"
    mine = services.conversation.post_message(session_id, "thanks", "r1", customer_id="C001")
    assert mine.message.text == "thanks"
    assert services.sessions.get(session_id, customer_id="C001")[0].message_count == 5


def test_a_release_between_a_turn_and_its_write_lets_the_agent_answer(services) -> None:
    """The turn was computed while a person held the conversation; the release bumps the flow
    version, so the store refuses the stale turn and it is computed again, on the assistant."""
    session_id = waiting_session(services)
    store = services.store
    original = store.append_turn
    calls = []

    def released_first(turn):
        calls.append(turn)
        if len(calls) == 1:  # the customer's held turn, computed: the team releases first
            services.handoffs.release(session_id)
        return original(turn)

    store.append_turn = released_first
    try:
        outcome = services.conversation.post_message(
            session_id, "Where is my order A1001?", customer_id="C001"
        )
    finally:
        store.append_turn = original
    assert outcome.reply is not None and "A1001" in outcome.reply.text
    roles = [[m.role for m in t.messages] for t in calls]
    assert roles == [["customer"], ["system"], ["customer", "agent"]]  # held, released, answered


def test_two_staff_members_never_both_join(services) -> None:
    session_id = waiting_session(services)
    store = services.store
    original = store.append_turn
    calls = []

    def colleague_first(turn):
        if not calls:
            calls.append("colleague")
            services.handoffs.reply(session_id, "I'll take it", staff="u-colleague")
        return original(turn)

    store.append_turn = colleague_first
    try:
        mine, _ = services.handoffs.reply(session_id, "Me too", staff=STAFF)
    finally:
        store.append_turn = original
    _, page = services.sessions.get(session_id, customer_id="C001")
    joins = [m for m in page.messages if m.data.get("handoff") == "joined"]
    assert len(joins) == 1 and joins[0].text == "I'll take it"
    assert mine.data == {"author": "team"}


def test_the_queue_lists_waiting_conversations_first_the_longest_waiting_first(
    services, clock
) -> None:
    joined = waiting_session(services, "C001")
    clock.advance(10)
    first = waiting_session(services, "C002")
    clock.advance(10)
    second = waiting_session(services, "C003")
    services.handoffs.reply(joined, "Hello", staff=STAFF)
    clock.advance(5)
    listed = [(q.session_id, q.state.value, q.waiting_seconds) for q in services.handoffs.queue()]
    assert listed == [(first, "waiting", 15), (second, "waiting", 5), (joined, "joined", 5)]
    services.handoffs.queue_limit = 2
    assert [q.session_id for q in services.handoffs.queue()] == [first, second]


def test_the_staff_read_any_customer_s_session_and_customers_only_their_own(services) -> None:
    session_id = waiting_session(services, "C001")
    session, page = services.handoffs.get(session_id)
    assert session.customer_id == "C001" and len(page.messages) == 2
    assert [m.seq for m in services.handoffs.messages(session_id, None, "1").messages] == [2]
    with pytest.raises(NotFound):
        services.sessions.get(session_id, customer_id="C002")
    with pytest.raises(NotFound):
        services.handoffs.get("no-such-session")


def test_housekeeping_counts_the_customers_waiting_too_long(tmp_path, clock) -> None:
    services = make_services(tmp_path / "data", clock, handoff_wait_alert_seconds=60)
    try:
        waiting = waiting_session(services, "C001")
        joined = waiting_session(services, "C002")
        services.handoffs.reply(joined, "Hello", staff=STAFF)
        assert services.housekeeping()["handoffs_waiting_too_long"] == 0
        clock.advance(61)
        assert services.housekeeping()["handoffs_waiting_too_long"] == 1
        services.handoffs.reply(waiting, "Sorry for the wait", staff=STAFF)
        assert services.housekeeping()["handoffs_waiting_too_long"] == 0
    finally:
        services.close()


def test_the_wait_alert_setting_is_read_and_checked() -> None:
    assert Settings.from_env({}).handoff_wait_alert_seconds == 300
    assert Settings.from_env({"HANDOFF_WAIT_ALERT_SECONDS": "90"}).handoff_wait_alert_seconds == 90
    for wrong in ("10", "86401", "soon"):
        with pytest.raises(SettingsError, match=r"^HANDOFF_WAIT_ALERT_SECONDS: must be"):
            Settings.from_env({"HANDOFF_WAIT_ALERT_SECONDS": wrong})
    with pytest.raises(SettingsError, match="between 30 and 86400"):
        Settings.from_env({"HANDOFF_WAIT_ALERT_SECONDS": "0"})
