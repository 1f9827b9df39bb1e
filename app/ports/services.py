"""What the HTTP layer may ask of the agents: the one seam between `app.http` and the rest.

`app.wiring.build_services(settings)` returns an object of this shape with the adapters that
the settings select. Handlers validate the shape of a request body (types, required fields)
and call these; the services enforce the domain rules and raise `app.domain.errors` exceptions.
Every call on a customer's data names the customer (from the verified token, never the body);
another customer's session or inquiry is NotFound, exactly like one that does not exist.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from app.domain.records import (
    Delivery,
    DeliveryResult,
    FaqHit,
    Inquiry,
    Message,
    MessagePage,
    QueuedHandoff,
    Session,
    TurnOutcome,
)


class FaqPort(Protocol):
    def search(self, query: str, top_k: int) -> list[FaqHit]:
        """Best matches first; stateless and side-effect free."""


class SessionPort(Protocol):
    def create(self, customer_id: str, preferences: dict[str, Any]) -> Session: ...

    def get(self, session_id: str, *, customer_id: str) -> tuple[Session, MessagePage]:
        """The customer's session and its latest messages (at most 50), oldest first;
        NotFound when unknown, expired or another customer's."""

    def messages(
        self, session_id: str, before: str | None, limit: str | int | None, *, customer_id: str
    ) -> MessagePage:
        """The `limit` (1 to 100, default 50) messages before the cursor `before` (the latest
        when None), oldest first; InvalidInput for a cursor or limit that is not one."""


class ConversationPort(Protocol):
    def post_message(
        self,
        session_id: str,
        text: str,
        idempotency_key: str | None = None,
        *,
        customer_id: str,
        on_text: Callable[[str], None] | None = None,
    ) -> TurnOutcome:
        """Route one customer turn (FAQ, support flow, a new inquiry or a person) and store
        both sides; while a person holds the conversation, store the customer's message alone
        (`reply` None).

        A repeated `idempotency_key` on the same session returns the first outcome and stores
        nothing; reused with another text it raises Conflict. `on_text` gets each piece of the
        reply's wording as the model produces it (a streamed reply), before the turn is stored.
        """


class HandoffPort(Protocol):
    """The support team's side of a handoff. Staff callers only (the HTTP layer checks the
    token): these reach any customer's session."""

    def queue(self) -> list[QueuedHandoff]:
        """Conversations waiting for a person (longest waiting first), then those a person
        holds; bounded."""

    def get(self, session_id: str) -> tuple[Session, MessagePage]:
        """Any customer's session and its latest messages; NotFound when unknown or expired."""

    def messages(self, session_id: str, before: str | None, limit: str | int | None) -> MessagePage:
        """A page of any customer's session, as `SessionPort.messages` pages it."""

    def reply(
        self, session_id: str, text: str, idempotency_key: str | None = None, *, staff: str
    ) -> tuple[Message, bool]:
        """Store a team member's reply (the first one joins a waiting conversation);
        (message, stored_now). Conflict when the assistant holds the conversation. `staff`
        (the caller's pseudonym) scopes the Idempotency-Key."""

    def release(self, session_id: str) -> Session:
        """Hand the conversation back to the assistant, with a notice to the customer;
        Conflict when it is with the assistant already."""


class InquiryPort(Protocol):
    def create(
        self,
        kind: str,
        details: dict[str, Any],
        session_id: str | None = None,
        callback_url: str | None = None,
        idempotency_key: str | None = None,
        *,
        customer_id: str,
    ) -> tuple[Inquiry, bool]:
        """Store the customer's inquiry as queued and publish it; (inquiry, created_now)."""

    def get(self, inquiry_id: str, *, customer_id: str) -> Inquiry:
        """The customer's inquiry; NotFound when unknown or another customer's."""

    def request_erasure(self, customer_id: str) -> Inquiry:
        """Queue the erasure of the customer's sessions, messages and inquiries."""


class InquiryWorkerPort(Protocol):
    def handle(self, delivery: Delivery) -> DeliveryResult:
        """Process one delivery idempotently: side effects happen once however often it comes."""


class Services(Protocol):
    """The agents, as the HTTP layer sees them. Read-only: a handler never replaces one."""

    @property
    def faq(self) -> FaqPort: ...

    @property
    def sessions(self) -> SessionPort: ...

    @property
    def conversation(self) -> ConversationPort: ...

    @property
    def handoffs(self) -> HandoffPort: ...

    @property
    def inquiries(self) -> InquiryPort: ...

    @property
    def worker(self) -> InquiryWorkerPort: ...

    def readiness(self) -> dict[str, bool]:
        """Each backend's name and whether it answers now (for /readyz)."""

    def housekeeping(self) -> dict[str, int]:
        """One pass of the worker's upkeep (republish what failed to publish, purge expired
        state, count inquiries queued and customers waiting for a person too long); what it
        did, as counts by name (for POST /tasks/housekeeping)."""

    def start_background(self) -> None:
        """Start what the role runs beside requests (the local queue's dispatcher on a worker)."""

    def close(self) -> None:
        """Stop background work and release connections; safe to call twice."""
