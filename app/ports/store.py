"""The store ports: durable state, one Protocol per aggregate, and the records they take.

Agents import these and `app.domain`, never an adapter. Each write that must be atomic is one
method here (a turn, an inquiry's completion, a once-only session message), so that every store
can implement it as one transaction: SQLite with BEGIN IMMEDIATE, Firestore with a transaction
over the documents the method names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from uuid import uuid4

from app.domain.errors import Conflict
from app.domain.leases import Claim
from app.domain.records import (
    HandoffState,
    Inquiry,
    InquiryStatus,
    Message,
    Session,
)


class DuplicateKey(Exception):
    """The key was stored by an earlier or concurrent request; `record` holds its answer."""

    def __init__(self, record: IdempotencyRecord) -> None:
        super().__init__(f"idempotency key {record.key!r} already used")
        self.record = record


class StaleFlow(Exception):
    """The session's flow changed since the turn was computed; recompute it on fresh state."""


class SessionFull(Conflict):
    """The write would take the session past its most messages: nothing of it was stored.

    A Conflict (409): the client starts a new session, as the detail says.
    """

    def __init__(self, session_id: str, max_messages: int) -> None:
        super().__init__(
            f"session {session_id!r} holds the most messages a session keeps ({max_messages}):"
            " start a new session (POST /v1/sessions)"
        )
        self.session_id = session_id
        self.max_messages = max_messages


def check_room(session_id: str, held: int, adding: int, max_messages: int | None) -> None:
    """SessionFull when `adding` messages to the `held` ones would pass `max_messages`."""
    if max_messages is not None and held + adding > max_messages:
        raise SessionFull(session_id, max_messages)


def session_scope(session_id: str) -> str:
    """The idempotency scope of one session's turns."""
    return f"session:{session_id}"


def inquiry_scope(customer_id: str) -> str:
    """The idempotency scope of one customer's inquiries: two customers' keys never meet."""
    return f"inquiries:{customer_id}"


@dataclass(frozen=True)
class Erasure:
    """What `Store.erase_customer` deleted (counts for the erasure inquiry's result)."""

    session_ids: tuple[str, ...]  # the erased sessions (a cache in front drops their entries)
    messages: int
    inquiries: int
    idempotency_records: int

    def counts(self) -> dict[str, int]:
        return {
            "sessions": len(self.session_ids),
            "messages": self.messages,
            "inquiries": self.inquiries,
            "idempotency_records": self.idempotency_records,
        }


@dataclass(frozen=True)
class IdempotencyRecord:
    """The first answer to a request that carried an Idempotency-Key."""

    scope: str  # session_scope(...) or inquiry_scope(...): a key is unique within its scope
    key: str
    fingerprint: str  # hash of the request body; a different body under the same key is a Conflict
    response: dict[str, Any]
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class NewMessage:
    """A message to store; its id is chosen up front so an answer can point at it before the
    store assigns its seq."""

    role: str
    text: str
    route: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=lambda: uuid4().hex)

    def stored(self, session_id: str, seq: int, created_at: datetime) -> Message:
        """The message as stored with its seq: what a store answers without reading it back."""
        return Message(
            id=self.id,
            session_id=session_id,
            seq=seq,
            role=self.role,
            text=self.text,
            created_at=created_at,
            route=self.route,
            data=self.data,
        )


@dataclass(frozen=True)
class Turn:
    """One turn of a conversation, written atomically: its messages get consecutive seqs.

    A customer's turn (their message, then the reply; their message alone while a person holds
    the conversation), or a staff member's reply or release (one message) with the handoff
    state it leaves the session in.
    """

    session_id: str
    messages: tuple[NewMessage, ...]  # the customer's message, then the reply
    # StaleFlow when the session's flow_version differs: the flow, or the handoff state, changed
    # since the turn was computed.
    expected_flow_version: int
    new_flow: dict[str, Any] | None  # None: leave the flow as it is
    now: datetime
    expires_at: datetime  # the session's new expiry (sessions slide on activity)
    idempotency: IdempotencyRecord | None = None
    inquiry: Inquiry | None = None  # an inquiry the turn opens, stored in the same transaction
    # A return the turn creates, stored in the same transaction: ClaimExists (and nothing
    # written) when the order already has a claim.
    order_claim: OrderClaim | None = None
    # SessionFull (and nothing written) when the session would hold more messages than this.
    max_messages: int | None = None
    # The session's handoff state after the turn (None: as it is). A change sets its `since`
    # to `now` (None with NONE) and bumps `flow_version`, once with a flow change.
    handoff: HandoffState | None = None


# The outcomes `append_once` records for its `EffectMark`.
APPENDED, SESSION_GONE = "appended", "session_gone"


@dataclass(frozen=True)
class EffectMark:
    """A side effect of an inquiry that a write performs, recorded in that write's transaction
    (as `record_effect` would, the first outcome standing), so that doing it and remembering it
    cost one transaction, not two."""

    inquiry_id: str
    effect: str


@dataclass(frozen=True)
class OrderClaim:
    """The one return or refund an order may have: at most one per order, ever.

    Stored by `Store.create_claim` (a refund review) or with a turn (`Turn.order_claim`, a
    return), each in one transaction, so two concurrent requests for one order cannot both
    get one. Claims are order records: an erasure keeps them, as it keeps the orders.
    """

    order_id: str
    kind: str  # "return" or "refund"
    claim_id: str  # RMA-A1001 for a return, RF-A1007 for a refund
    customer_id: str
    status: str  # return: "label_sent"; refund: "approved" or "manual_review"
    amount_cents: int
    created_at: datetime
    inquiry_id: str | None = None  # the refund review that made it


class ClaimExists(Exception):
    """The order already has a claim (`existing`); nothing of the write was stored."""

    def __init__(self, existing: OrderClaim) -> None:
        super().__init__(f"order {existing.order_id} already has {existing.claim_id}")
        self.existing = existing


class SessionStore(Protocol):
    """Sessions and their messages; a turn is written with everything it stores, atomically."""

    def create_session(self, session: Session) -> None: ...

    def get_session(self, session_id: str, now: datetime) -> Session | None:
        """None when unknown or expired at `now`."""

    def get_turn_state(
        self, session_id: str, scope: str, key: str, now: datetime
    ) -> tuple[Session | None, IdempotencyRecord | None]:
        """`get_session` and `get_idempotency(scope, key)` in one read: what a turn that
        carries an Idempotency-Key needs before it is computed."""

    def latest_messages(
        self, session_id: str, limit: int, before: int | None = None
    ) -> list[Message]:
        """The latest `limit` messages whose seq is below `before` (of all when None), oldest
        first. Reads at most `limit` messages, however long the session."""

    def get_message(self, session_id: str, message_id: str) -> Message | None: ...

    def append_turn(self, turn: Turn) -> list[Message]:
        """Store the turn's messages (seq assigned here), flow, handoff state, expiry,
        idempotency record, inquiry and order claim in one transaction. Raises NotFound
        (session gone or expired), StaleFlow, DuplicateKey, ClaimExists (the order already has
        a claim), SessionFull."""

    def append_once(
        self,
        session_id: str,
        message: NewMessage,
        dedupe_key: str,
        now: datetime,
        *,
        mark: EffectMark | None = None,
        max_messages: int | None = None,
    ) -> Message | None:
        """Append a message unless one with `dedupe_key` exists in the session (then return
        that one). None when the session is unknown or expired. In the same transaction,
        records `mark` with outcome APPENDED (stored now or before) or SESSION_GONE (None).
        SessionFull, with nothing stored or recorded, past `max_messages`."""


class IdempotencyStore(Protocol):
    """The first answers of requests that carried an Idempotency-Key."""

    def get_idempotency(self, scope: str, key: str, now: datetime) -> IdempotencyRecord | None: ...


class HandoffStore(Protocol):
    """Sessions waiting for, or held by, a person."""

    def handoff_sessions(self, state: HandoffState, now: datetime, limit: int) -> list[Session]:
        """Live sessions (at `now`) in handoff `state` (WAITING or JOINED), the longest in it
        first: at most `limit`, whatever the number of sessions."""

    def count_waiting_handoffs(self, since_before: datetime, now: datetime, limit: int) -> int:
        """How many live sessions have been WAITING since before `since_before`, counting at
        most `limit` (housekeeping's count of customers left waiting for a person)."""


class InquiryStore(Protocol):
    """Inquiries: opened, published to the queue, swept and counted."""

    def create_inquiry(self, inquiry: Inquiry, idempotency: IdempotencyRecord | None) -> None:
        """Raises DuplicateKey when the key is already stored."""

    def get_inquiry(self, inquiry_id: str) -> Inquiry | None: ...

    def mark_published(self, inquiry_id: str) -> None: ...

    def unpublished_inquiries(self, created_before: datetime, limit: int) -> list[str]:
        """Queued inquiries whose publish never succeeded (for the requeue sweep)."""

    def count_queued_inquiries(self, created_before: datetime, limit: int) -> int:
        """How many inquiries created before `created_before` are still queued, published or
        not, counting at most `limit` (housekeeping's count of inquiries queued too long)."""


class InquiryLeaseStore(Protocol):
    """Processing an inquiry: its lease (rules in `app.domain.leases`) and side-effect markers."""

    def claim_inquiry(
        self, inquiry_id: str, holder: str, now: datetime, lease_until: datetime
    ) -> Claim:
        """Take the inquiry's processing lease. When not final, mark it running and count an
        attempt. BUSY while another holder's lease is live."""

    def finish_inquiry(
        self,
        inquiry_id: str,
        holder: str,
        status: InquiryStatus,
        result: dict[str, Any] | None,
        error: str | None,
        now: datetime,
    ) -> Inquiry:
        """Store the outcome (final status) if this holder still holds the lease, else LeaseLost."""

    def release_inquiry(self, inquiry_id: str, holder: str, settled: bool, now: datetime) -> None:
        """Give the lease back; `settled` records that every side effect is done."""

    def effect_done(self, inquiry_id: str, effect: str) -> bool: ...

    def record_effect(self, inquiry_id: str, effect: str, outcome: str, now: datetime) -> None:
        """Remember that a side effect happened (or was given up) so it is never repeated."""


class OrderClaimStore(Protocol):
    """Order claims: returns and refunds, at most one per order."""

    def get_claim(self, order_id: str) -> OrderClaim | None:
        """The order's claim, if it has one."""

    def create_claim(self, claim: OrderClaim) -> OrderClaim:
        """Store `claim` unless the order has one; returns the order's claim either way (the
        caller compares it with its own to know whether it won)."""


class ErasureStore(Protocol):
    """A customer's right to be forgotten."""

    def erase_customer(self, customer_id: str, keep_inquiry_id: str | None = None) -> Erasure:
        """Delete every session of the customer with its messages and their idempotency
        records and dedupe markers, every inquiry the customer owns but `keep_inquiry_id`
        (with its side-effect markers), and the records of `inquiry_scope(customer_id)`.
        Deleting again finds nothing more: a redelivered erasure is harmless."""


class StoreUpkeep(Protocol):
    """Housekeeping and the store's life: purge, health, close."""

    def purge_expired(self, now: datetime) -> int:
        """Delete expired sessions, messages, inquiries and idempotency records; returns a count."""

    def ping(self) -> bool: ...

    def close(self) -> None: ...


class Store(
    SessionStore,
    IdempotencyStore,
    HandoffStore,
    InquiryStore,
    InquiryLeaseStore,
    OrderClaimStore,
    ErasureStore,
    StoreUpkeep,
    Protocol,
):
    """The whole durable state, as one adapter (SQLite, Firestore) implements it; agents ask
    for the parts they use."""
