"""The right to erasure at the services: `inquiries.request_erasure` queues it, the worker
deletes the customer's sessions, messages and inquiries, keeps everyone else's data and the
erasure inquiry with its counts, and posts nothing anywhere."""

from __future__ import annotations

from dataclasses import replace

import pytest

from app.agents.erasure import ERASURE, KEPT_BY_LAW
from app.domain.errors import NotFound
from app.domain.records import Delivery, DeliveryResult, InquiryStatus, Route
from tests.app.adapters.contract.builders import all_messages
from tests.app.core_support import ALLOWED_HOST, drain

HOOK = f"https://{ALLOWED_HOST}/inquiry-done"
REFUND = "I want a refund for A1001, it arrived broken"


def count(services, table):
    with services.store.db.read() as conn:
        return conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def say(services, session, text, key=None):
    return services.conversation.post_message(
        session.id, text, key, customer_id=session.customer_id
    )


def done_result(services, erasure):
    done = services.inquiries.get(erasure.id, customer_id=erasure.customer_id)
    assert done.status is InquiryStatus.SUCCEEDED, done.error
    return done.result


@pytest.fixture
def two_customers(services):
    """C001 and C002 with sessions, messages, inquiries and Idempotency-Keys (the same keys),
    every inquiry done and its result posted."""
    c001_chat = services.sessions.create("C001", {"name": "Ann"})
    say(services, c001_chat, "hello", "k-1")
    refund = say(services, c001_chat, REFUND, "k-2")
    assert refund.route is Route.INQUIRY
    c001_other = services.sessions.create("C001", {})
    say(services, c001_other, "Where is my order A1017?")
    c001_export, _ = services.inquiries.create(
        "account_export", {}, callback_url=HOOK, idempotency_key="exp", customer_id="C001"
    )

    c002_chat = services.sessions.create("C002", {})
    c002_turn = say(services, c002_chat, "Where is my order A1003?", "k-1")
    c002_export, _ = services.inquiries.create(
        "account_export", {}, idempotency_key="exp", customer_id="C002"
    )
    assert drain(services) == 3
    return {
        "c001_sessions": [c001_chat, c001_other],
        "c001_inquiries": [refund.inquiry_id, c001_export.id],
        "c002_chat": c002_chat,
        "c002_turn": c002_turn,
        "c002_export": c002_export,
    }


def test_an_erasure_deletes_the_customers_data_and_only_theirs(services, callbacks, two_customers):
    data = two_customers
    c002_chat = data["c002_chat"]
    c002_messages = all_messages(services.store, c002_chat.id)
    assert len(c002_messages) == 2
    assert [len(all_messages(services.store, s.id)) for s in data["c001_sessions"]] == [5, 2]
    events, sent = len(services.events.events()), list(callbacks.sent)
    assert (events, len(sent)) == (3, 1)

    erasure = services.inquiries.request_erasure("C001")
    assert (erasure.kind, erasure.status, erasure.customer_id) == (
        ERASURE,
        InquiryStatus.QUEUED,
        "C001",
    )
    assert (erasure.session_id, erasure.callback_url) == (None, None)
    assert services.queue.counts() == {"acked": 3, "pending": 1}
    assert drain(services) == 1

    assert done_result(services, erasure) == {
        "deleted": {"sessions": 2, "messages": 7, "inquiries": 2, "idempotency_records": 3},
        "kept": {"orders": KEPT_BY_LAW},
        "steps": [{"step": "erase", "outcome": "done"}],
    }
    # C001's sessions, messages and inquiries are gone...
    for session in data["c001_sessions"]:
        with pytest.raises(NotFound):
            services.sessions.get(session.id, customer_id="C001")
        assert services.store.get_session(session.id, services.clock.now()) is None
        assert all_messages(services.store, session.id) == []
    for inquiry_id in data["c001_inquiries"]:
        assert services.store.get_inquiry(inquiry_id) is None
        with pytest.raises(NotFound):
            services.inquiries.get(inquiry_id, customer_id="C001")
    # ... but the erasure inquiry, readable by C001 alone.
    with pytest.raises(NotFound):
        services.inquiries.get(erasure.id, customer_id="C002")
    assert count(services, "inquiries") == 2  # the erasure and C002's export

    # C002 keeps everything: the session, its messages, the inquiry, the same-named keys.
    assert services.sessions.get(c002_chat.id, customer_id="C002")[1].messages == c002_messages
    export = services.inquiries.get(data["c002_export"].id, customer_id="C002")
    assert export.status is InquiryStatus.SUCCEEDED
    again, created = services.inquiries.create(
        "account_export", {}, idempotency_key="exp", customer_id="C002"
    )
    assert (again.id, created) == (export.id, False)
    assert say(services, c002_chat, "Where is my order A1003?", "k-1") == data["c002_turn"]

    # The erasure posted nothing: no message, no event, no callback.
    assert count(services, "messages") == 2
    assert len(services.events.events()) == events
    assert callbacks.sent == sent
    assert services.store.effect_outcomes(erasure.id) == {}

    # C001's Idempotency-Keys went too: the same key opens a new inquiry now.
    fresh, created = services.inquiries.create(
        "account_export", {}, idempotency_key="exp", customer_id="C001"
    )
    assert created and fresh.id not in data["c001_inquiries"]


def test_a_redelivered_erasure_is_acknowledged_and_changes_nothing(services, two_customers):
    erasure = services.inquiries.request_erasure("C001")
    assert drain(services) == 1
    first = done_result(services, erasure)
    assert first["deleted"]["sessions"] == 2
    delivery = Delivery(erasure.id, "m-again", 2)
    assert services.worker.handle(delivery) is DeliveryResult.ACK
    assert done_result(services, erasure) == first
    assert services.inquiries.get(erasure.id, customer_id="C001").attempts == 1
    assert services.sessions.get(two_customers["c002_chat"].id, customer_id="C002")


def test_an_erasure_with_nothing_to_erase_counts_nothing(services):
    erasure = services.inquiries.request_erasure("C005")
    assert drain(services) == 1
    assert done_result(services, erasure)["deleted"] == {
        "sessions": 0,
        "messages": 0,
        "inquiries": 0,
        "idempotency_records": 0,
    }


def test_an_erasure_includes_expired_sessions_not_purged_yet(services, clock):
    session = services.sessions.create("C003", {})
    say(services, session, "hello")
    clock.advance(services.settings.session_ttl_seconds + 1)
    erasure = services.inquiries.request_erasure("C003")
    assert drain(services) == 1
    deleted = done_result(services, erasure)["deleted"]
    assert (deleted["sessions"], deleted["messages"]) == (1, 2)
    assert count(services, "sessions") == 0


def test_an_erasure_posts_nothing_even_naming_a_session_and_a_callback(services, callbacks):
    """The worker's side effects are off for an erasure, whatever the inquiry records."""
    session = services.sessions.create("C001", {})
    say(services, session, "hello")
    accepted = services.inquiries.prepare(
        "account_export", {}, customer_id="C001", session_id=session.id, callback_url=HOOK
    )
    erasure = replace(accepted, kind=ERASURE, details={})
    services.store.create_inquiry(erasure, None)
    assert services.worker.handle(Delivery(erasure.id, "m-1", 1)) is DeliveryResult.ACK
    assert done_result(services, erasure)["deleted"]["messages"] == 2
    assert all_messages(services.store, session.id) == []
    assert services.events.events() == []
    assert callbacks.sent == []
    assert services.store.effect_outcomes(erasure.id) == {}
