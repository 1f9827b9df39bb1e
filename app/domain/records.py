"""The records the agents work on, shared by every adapter and the HTTP layer.

Plain records (dataclasses, and a named tuple for the hits every FAQ search builds) with no
behaviour beyond turning themselves into JSON-ready dicts, so that SQLite, Firestore and the
HTTP layer all speak the same shapes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, NamedTuple

from app.domain.flows import SupportFlow


def utcnow() -> datetime:
    return datetime.now(UTC)


def isoformat(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class InquiryStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def is_final(self) -> bool:
        return self in (InquiryStatus.SUCCEEDED, InquiryStatus.FAILED)


class HandoffState(StrEnum):
    """Who holds a conversation: the assistant ("none"), nobody yet because the customer asked
    for a person ("waiting"), or a member of the support team ("joined")."""

    NONE = "none"
    WAITING = "waiting"
    JOINED = "joined"

    @property
    def held_by_a_person(self) -> bool:
        """Whether the agent stays silent: a person has the conversation, or is awaited."""
        return self is not HandoffState.NONE


class Route(StrEnum):
    """Which agent answered a customer turn."""

    FAQ = "faq"
    SESSION = "session"
    INQUIRY = "inquiry"
    HANDOFF = "handoff"  # the customer asked for a person


class FaqHit(NamedTuple):
    """A ranked FAQ entry. A named tuple: every search builds several, and a frozen dataclass
    costs twice as much to build."""

    id: str
    question: str
    answer: str
    score: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "question": self.question,
            "answer": self.answer,
            "score": self.score,
        }


@dataclass(frozen=True)
class Message:
    id: str
    session_id: str
    seq: int  # position in the session, 1-based, gap-free, assigned by the store
    role: str  # "customer", "agent", "staff" (a team member) or "system" (a result, a notice)
    text: str
    created_at: datetime
    route: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "seq": self.seq,
            "role": self.role,
            "text": self.text,
            "route": self.route,
            "data": self.data,
            "created_at": isoformat(self.created_at),
        }


@dataclass(frozen=True)
class Session:
    id: str
    customer_id: str
    preferences: dict[str, Any]
    created_at: datetime
    expires_at: datetime
    # The support agent's flow in its stored form (JSON); `support_flow()` reads it typed.
    flow: dict[str, Any] = field(default_factory=dict)
    flow_version: int = 0  # bumped by the store whenever `flow` changes (optimistic concurrency)
    message_count: int = 0  # how many messages the session holds (the last seq), as of the read
    # Who holds the conversation, and since when it is in that state (None with NONE). A change
    # bumps `flow_version` too, so a turn computed before it is recomputed.
    handoff: HandoffState = HandoffState.NONE
    handoff_since: datetime | None = None

    def support_flow(self) -> SupportFlow | None:
        """The flow in progress, None when there is none."""
        return SupportFlow.from_stored(self.flow)

    def handoff_dict(self) -> dict[str, Any]:
        since = None if self.handoff_since is None else isoformat(self.handoff_since)
        return {"state": self.handoff.value, "since": since}

    def as_dict(self, messages: list[Message] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "customer_id": self.customer_id,
            "preferences": self.preferences,
            "created_at": isoformat(self.created_at),
            "expires_at": isoformat(self.expires_at),
            "handoff": self.handoff_dict(),
        }
        if messages is not None:
            body["messages"] = [m.as_dict() for m in messages]
        return body


@dataclass(frozen=True)
class QueuedHandoff:
    """A conversation a person holds or is awaited in, as the staff console lists it."""

    session_id: str
    customer_id: str
    state: HandoffState
    since: datetime
    waiting_seconds: int  # how long it has been in its state, as of the listing

    def as_dict(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "customer_id": self.customer_id,
            "state": self.state.value,
            "since": isoformat(self.since),
            "waiting_seconds": self.waiting_seconds,
        }


@dataclass(frozen=True)
class MessagePage:
    """One page of a session's messages, oldest first, and the opaque cursor of the page
    before it (None when it starts at the first message)."""

    messages: list[Message]
    older: str | None = None


@dataclass(frozen=True)
class Inquiry:
    id: str
    kind: str
    details: dict[str, Any]
    status: InquiryStatus
    attempts: int
    created_at: datetime
    updated_at: datetime
    expires_at: datetime
    session_id: str | None = None
    callback_url: str | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
    # The customer who opened it: only they may read it. None only for an inquiry stored before
    # owners were recorded, which nobody can read and the worker does not run.
    customer_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "details": self.details,
            "status": self.status.value,
            "attempts": self.attempts,
            "session_id": self.session_id,
            "created_at": isoformat(self.created_at),
            "updated_at": isoformat(self.updated_at),
        }
        if self.result is not None:
            body["result"] = self.result
        if self.error is not None:
            body["error"] = self.error
        return body


@dataclass(frozen=True)
class TurnOutcome:
    """What `POST /v1/sessions/{id}/messages` answers."""

    reply: Message | None  # None while a person holds the conversation: the agent is silent
    route: Route
    inquiry_id: str | None = None
    source: str = ""  # what answered: an FAQ entry id, a flow step, an inquiry kind
    intent: str = ""  # what the turn was understood as
    message: Message | None = None  # the customer's message as stored (with its seq)

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "reply": None if self.reply is None else self.reply.as_dict(),
            "route": self.route.value,
            "source": self.source,
            "intent": self.intent,
            "message": None if self.message is None else self.message.as_dict(),
        }
        if self.inquiry_id is not None:
            body["inquiry_id"] = self.inquiry_id
        return body


@dataclass(frozen=True)
class Delivery:
    """One delivery of a queued inquiry to the worker, from Pub/Sub push or the local queue."""

    inquiry_id: str
    message_id: str
    attempt: int  # 1-based delivery attempt, as Pub/Sub's deliveryAttempt


class DeliveryResult(StrEnum):
    """How the worker answers a delivery: ACK stops redelivery, RETRY asks for it."""

    ACK = "ack"
    RETRY = "retry"
