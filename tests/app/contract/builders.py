"""Records the contract tests store: one session, turns, inquiries and idempotency records,
and a customer's whole footprint (`conversation`, `api_inquiry`) for the erasure tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from app.domain import Inquiry, InquiryStatus, Session
from app.ports import IdempotencyRecord, NewMessage, Store, Turn, inquiry_scope, session_scope

START = datetime(2025, 3, 12, 9, 0, tzinfo=UTC)
TTL = timedelta(hours=2)


def session(session_id: str = "s1", **overrides: Any) -> Session:
    values: dict[str, Any] = dict(
        id=session_id,
        customer_id="C001",
        preferences={"language": "en"},
        created_at=START,
        expires_at=START + TTL,
    )
    values.update(overrides)
    return Session(**values)


def turn(text: str = "hi", reply: str = "hello", **overrides: Any) -> Turn:
    values: dict[str, Any] = dict(
        session_id="s1",
        messages=(NewMessage("customer", text), NewMessage("agent", reply, route="faq")),
        expected_flow_version=0,
        new_flow=None,
        now=START,
        expires_at=START + TTL,
    )
    values.update(overrides)
    return Turn(**values)


def inquiry(inquiry_id: str = "i1", **overrides: Any) -> Inquiry:
    values: dict[str, Any] = dict(
        id=inquiry_id,
        kind="refund_review",
        details={"order_id": "A1007", "reason": "damaged"},
        status=InquiryStatus.QUEUED,
        attempts=0,
        created_at=START,
        updated_at=START,
        expires_at=START + timedelta(days=30),
        session_id="s1",
        customer_id="C001",  # the customer of `session()`
    )
    values.update(overrides)
    return Inquiry(**values)


def record(key: str = "k", scope: str = "inquiries", **overrides: Any) -> IdempotencyRecord:
    values: dict[str, Any] = dict(
        scope=scope,
        key=key,
        fingerprint="fp-1",
        response={"inquiry_id": "i1"},
        created_at=START,
        expires_at=START + timedelta(hours=24),
    )
    values.update(overrides)
    return IdempotencyRecord(**values)


def conversation(
    store: Store, session_id: str, customer_id: str, expires_at: datetime = START + TTL
) -> None:
    """A session whose turn opened an inquiry under an Idempotency-Key, and the inquiry's result
    appended once: 3 messages, 1 turn record, 1 dedupe marker, 1 inquiry with a side effect."""
    store.create_session(session(session_id, customer_id=customer_id, expires_at=expires_at))
    opened = inquiry(f"{session_id}-i", session_id=session_id, customer_id=customer_id)
    key = record(f"turn-{session_id}", scope=session_scope(session_id))
    store.append_turn(
        turn(session_id=session_id, inquiry=opened, idempotency=key, expires_at=expires_at)
    )
    store.append_once(session_id, NewMessage("system", "approved"), f"inquiry:{opened.id}", START)
    store.record_effect(opened.id, "callback", "delivered", START)


def api_inquiry(store: Store, inquiry_id: str, customer_id: str, key: str) -> None:
    """An inquiry opened through the API under an Idempotency-Key, with a side effect done."""
    stored = inquiry(inquiry_id, customer_id=customer_id, session_id=None)
    answer = {"inquiry_id": inquiry_id}
    store.create_inquiry(stored, record(key, scope=inquiry_scope(customer_id), response=answer))
    store.record_effect(inquiry_id, "event", "published", START)
