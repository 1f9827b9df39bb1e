"""Records the contract tests store: one session, turns, inquiries and idempotency records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from app.domain import Inquiry, InquiryStatus, Session
from app.ports import IdempotencyRecord, NewMessage, Turn

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
