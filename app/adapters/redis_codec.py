"""How the session cache stores a session and its window of messages in Redis (JSON strings,
one hash field per message)."""

from __future__ import annotations

import json
from datetime import datetime

from app.domain.records import HandoffState, Message, Session


def encode_session(session: Session) -> str:
    return json.dumps(
        {
            "id": session.id,
            "customer_id": session.customer_id,
            "preferences": session.preferences,
            "created_at": session.created_at.isoformat(),
            "expires_at": session.expires_at.isoformat(),
            "flow": session.flow,
            "flow_version": session.flow_version,
            "message_count": session.message_count,
            "handoff": session.handoff.value,
            "handoff_since": None
            if session.handoff_since is None
            else session.handoff_since.isoformat(),
        },
        separators=(",", ":"),
    )


def decode_session(raw: str) -> Session:
    """KeyError for an entry without the handoff state: served, it would let the agent answer
    a customer who waits for a person."""
    body = json.loads(raw)
    since = body["handoff_since"]
    return Session(
        id=body["id"],
        customer_id=body["customer_id"],
        preferences=body["preferences"],
        created_at=datetime.fromisoformat(body["created_at"]),
        expires_at=datetime.fromisoformat(body["expires_at"]),
        flow=body["flow"],
        flow_version=body["flow_version"],
        # An entry of the version before counted nothing; the store's count decides anyway.
        message_count=body.get("message_count", 0),
        handoff=HandoffState(body["handoff"]),
        handoff_since=None if since is None else datetime.fromisoformat(since),
    )


def encode_message(message: Message) -> str:
    return json.dumps(
        {
            "id": message.id,
            "session_id": message.session_id,
            "seq": message.seq,
            "role": message.role,
            "text": message.text,
            "created_at": message.created_at.isoformat(),
            "route": message.route,
            "data": message.data,
        },
        separators=(",", ":"),
    )


def decode_message(raw: str) -> Message:
    m = json.loads(raw)
    return Message(
        id=m["id"],
        session_id=m["session_id"],
        seq=m["seq"],
        role=m["role"],
        text=m["text"],
        created_at=datetime.fromisoformat(m["created_at"]),
        route=m["route"],
        data=m["data"],
    )


def window_fields(messages: list[Message]) -> list[str]:
    """A window entry's fields and values (after `gen`): `last_seq`, then `m:<seq>` each."""
    fields = ["last_seq", str(messages[-1].seq) if messages else "0"]
    for message in messages:
        fields += [f"m:{message.seq}", encode_message(message)]
    return fields


def decode_window(entry: dict[str, str]) -> list[Message]:
    """The window's messages, oldest first; ValueError unless they end at `last_seq` without
    a gap (an entry is whole or not served)."""
    messages = sorted(
        (decode_message(value) for name, value in entry.items() if name.startswith("m:")),
        key=lambda m: m.seq,
    )
    last = int(entry["last_seq"])
    expected = list(range(last - len(messages) + 1, last + 1))
    if [m.seq for m in messages] != expected:
        raise ValueError("the cached window has a gap")
    return messages
