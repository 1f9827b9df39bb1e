"""Documents to domain records and back, for the Firestore adapter.

Free-form JSON (preferences, flow, message data, inquiry details and results, idempotent
responses) is stored as a JSON string, as SQLite stores it: Firestore maps refuse arrays of
arrays and empty keys that valid JSON may hold, and nothing queries inside these values.
Timestamps are stored as Firestore timestamps, which the TTL policies require. Order claims
carry no `expires_at`: they are order records, which no TTL policy may remove.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from app.domain.records import HandoffState, Inquiry, InquiryStatus, Message, Session
from app.ports.store import IdempotencyRecord, OrderClaim


def to_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def from_json(value: str | None) -> Any:
    return None if value is None else json.loads(value)


def plain_utc(value: datetime) -> datetime:
    """A plain `datetime` in UTC (the client returns a subclass carrying nanoseconds)."""
    value = value.astimezone(UTC)
    return datetime(
        value.year,
        value.month,
        value.day,
        value.hour,
        value.minute,
        value.second,
        value.microsecond,
        tzinfo=UTC,
    )


def session_doc(session: Session) -> dict[str, Any]:
    """`active_until` is the session's expiry; `expires_at`, the TTL field, is kept equal to it
    (a session stored by layout 1 may carry a later one); `next_seq` numbers its messages;
    `handoff_state` and `handoff_since` are what the staff's queue queries (a document stored
    before handoffs existed has neither, and reads as "none")."""
    return {
        "id": session.id,
        "customer_id": session.customer_id,
        "preferences": to_json(session.preferences),
        "created_at": session.created_at,
        "active_until": session.expires_at,
        "expires_at": session.expires_at,
        "flow": to_json(session.flow),
        "flow_version": session.flow_version,
        "next_seq": session.message_count + 1,
        "handoff_state": session.handoff.value,
        "handoff_since": session.handoff_since,
    }


def session_from(doc: dict[str, Any]) -> Session:
    since = doc.get("handoff_since")
    return Session(
        id=doc["id"],
        customer_id=doc["customer_id"],
        preferences=from_json(doc["preferences"]),
        created_at=plain_utc(doc["created_at"]),
        expires_at=plain_utc(doc["active_until"]),
        flow=from_json(doc["flow"]),
        flow_version=doc["flow_version"],
        message_count=doc["next_seq"] - 1,
        handoff=HandoffState(doc.get("handoff_state", HandoffState.NONE.value)),
        handoff_since=None if since is None else plain_utc(since),
    )


def message_from(doc: dict[str, Any], session_id: str) -> Message:
    return Message(
        id=doc["id"],
        session_id=session_id,
        seq=doc["seq"],
        role=doc["role"],
        text=doc["text"],
        created_at=plain_utc(doc["created_at"]),
        route=doc.get("route"),
        data=from_json(doc["data"]),
    )


def commit_key(moment: Any) -> tuple[int, int]:
    """A Firestore time to the nanosecond (datetime comparison stops at the microsecond)."""
    stamp = moment.timestamp_pb()
    return (stamp.seconds, stamp.nanos)


def layout1_order(snapshot: Any) -> tuple[tuple[int, int], str, int]:
    """A message's place in its session as layout 1 (no stored seq) ordered them: its commit
    time (its document's create time: numbering updates a message but never recreates it),
    then its turn, then its place in the turn."""
    doc = snapshot.to_dict()
    return (commit_key(snapshot.create_time), doc.get("turn", ""), doc.get("index", 0))


def inquiry_doc(inquiry: Inquiry) -> dict[str, Any]:
    return {
        "id": inquiry.id,
        "kind": inquiry.kind,
        "details": to_json(inquiry.details),
        "status": inquiry.status.value,
        "attempts": inquiry.attempts,
        "created_at": inquiry.created_at,
        "updated_at": inquiry.updated_at,
        "expires_at": inquiry.expires_at,
        "session_id": inquiry.session_id,
        "callback_url": inquiry.callback_url,
        "result": None if inquiry.result is None else to_json(inquiry.result),
        "error": inquiry.error,
        "customer_id": inquiry.customer_id,
        "published": False,
        "lease_holder": None,
        "lease_until": None,
        "settled": False,
        "effects": {},
    }


def inquiry_from(doc: dict[str, Any]) -> Inquiry:
    return Inquiry(
        id=doc["id"],
        kind=doc["kind"],
        details=from_json(doc["details"]),
        status=InquiryStatus(doc["status"]),
        attempts=doc["attempts"],
        created_at=plain_utc(doc["created_at"]),
        updated_at=plain_utc(doc["updated_at"]),
        expires_at=plain_utc(doc["expires_at"]),
        session_id=doc.get("session_id"),
        callback_url=doc.get("callback_url"),
        result=from_json(doc.get("result")),
        error=doc.get("error"),
        customer_id=doc.get("customer_id"),  # None: stored before owners were recorded
    )


def record_doc(record: IdempotencyRecord) -> dict[str, Any]:
    return {
        "scope": record.scope,
        "key": record.key,
        "fingerprint": record.fingerprint,
        "response": to_json(record.response),
        "created_at": record.created_at,
        "expires_at": record.expires_at,
    }


def record_from(doc: dict[str, Any]) -> IdempotencyRecord:
    return IdempotencyRecord(
        scope=doc["scope"],
        key=doc["key"],
        fingerprint=doc["fingerprint"],
        response=from_json(doc["response"]),
        created_at=plain_utc(doc["created_at"]),
        expires_at=plain_utc(doc["expires_at"]),
    )


def claim_doc(claim: OrderClaim) -> dict[str, Any]:
    return {
        "order_id": claim.order_id,
        "kind": claim.kind,
        "claim_id": claim.claim_id,
        "customer_id": claim.customer_id,
        "status": claim.status,
        "amount_cents": claim.amount_cents,
        "created_at": claim.created_at,
        "inquiry_id": claim.inquiry_id,
    }


def claim_from(doc: dict[str, Any]) -> OrderClaim:
    return OrderClaim(
        order_id=doc["order_id"],
        kind=doc["kind"],
        claim_id=doc["claim_id"],
        customer_id=doc["customer_id"],
        status=doc["status"],
        amount_cents=doc["amount_cents"],
        created_at=plain_utc(doc["created_at"]),
        inquiry_id=doc.get("inquiry_id"),
    )
