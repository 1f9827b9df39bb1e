"""One customer turn, end to end: understand, route, and store both sides atomically.

The turn is computed on a snapshot of the session and written with the flow version it was
computed from; if another turn changed the flow in between (StaleFlow) it is recomputed on
fresh state. An inquiry the turn opens is stored in the same transaction and published after
it, so a retried or conflicting turn never opens a second one. Only the session's customer may
post to it; for anyone else, a retried key included, the session does not exist. A session
that holds SESSION_MAX_MESSAGES refuses the turn (409, start a new session) before the model is
asked, and the store checks it again as it writes. What the turn needs before it is computed
(the session, and the record of its Idempotency-Key) is read in one call.

Handoff to a person: a turn asking for one stores the session's new state ("waiting") with
the turn and announces it on the events topic after the write. While a person is awaited or
holds the conversation, a turn stores the customer's message alone and the agent stays silent
(`reply` null); the model is not asked. A team member's join or release changes the session's
flow version, so a turn computed on the state before is computed again.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.agents import idempotency
from app.agents.handoff_events import HELD_SOURCE, announce_request
from app.agents.inquiries import InquiryService
from app.agents.replies import Reply
from app.agents.router import HybridRouter
from app.agents.sessions import SessionService
from app.agents.wording import word_streamed
from app.domain.errors import AppError, InvalidInput, NotFound, Unavailable
from app.domain.flows import stored_change
from app.domain.records import HandoffState, Inquiry, Message, Route, Session, TurnOutcome
from app.logs.setup import log_inquiry_state
from app.ports.clock import Clock
from app.ports.messaging import EventPublisher
from app.ports.model import Model, Understanding
from app.ports.store import (
    ClaimExists,
    DuplicateKey,
    IdempotencyRecord,
    NewMessage,
    OrderClaim,
    SessionStore,
    StaleFlow,
    Turn,
    check_room,
    session_scope,
)

log = logging.getLogger(__name__)

# The one limit of a customer turn's text; the NewMessage body of /openapi.json publishes it.
MAX_TEXT_CHARS = 2000
MAX_RECOMPUTES = 50  # a turn loses a flow race at most this often before giving up with 503
TURN_MESSAGES = 2  # the customer's message and the reply


def check_text(text: Any) -> str:
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput("text must be a non-empty string", field="text")
    if len(text) > MAX_TEXT_CHARS:
        raise InvalidInput(f"text must be at most {MAX_TEXT_CHARS} characters", field="text")
    return text


@dataclass(frozen=True)
class _PlannedTurn:
    """A turn computed on one state of the session, and what follows once it is stored."""

    turn: Turn
    reply: Reply
    inquiry: Inquiry | None
    answer: NewMessage


class ConversationService:
    """Implements `app.ports.services.ConversationPort`."""

    def __init__(
        self,
        store: SessionStore,
        sessions: SessionService,
        inquiries: InquiryService,
        router: HybridRouter,
        model: Model,
        clock: Clock,
        events: EventPublisher,
    ) -> None:
        self.store = store
        self.sessions = sessions
        self.inquiries = inquiries
        self.router = router
        self.model = model
        self.clock = clock
        self.events = events

    def post_message(
        self,
        session_id: str,
        text: str,
        idempotency_key: str | None = None,
        *,
        customer_id: str,
        on_text: Callable[[str], None] | None = None,
    ) -> TurnOutcome:
        """`on_text`: given, each piece of the reply's wording as the model produces it (a
        streamed reply); the turn is stored whole all the same, after the last piece."""
        text = check_text(text)
        body_fingerprint = idempotency.fingerprint({"text": text})
        if idempotency_key is not None:
            idempotency.check_key(idempotency_key)
        if idempotency_key is None:
            session = self.sessions.require(session_id, customer_id)
        else:
            session, earlier = self.sessions.require_keyed(
                session_id, customer_id, session_scope(session_id), idempotency_key
            )
            if earlier is not None:
                return self._replay(session_id, earlier, body_fingerprint)
        # A full session refuses the turn before the model is asked; the store checks again.
        adding = 1 if session.handoff.held_by_a_person else TURN_MESSAGES
        check_room(session.id, session.message_count, adding, self.sessions.max_messages)

        understanding = None
        for attempt in range(MAX_RECOMPUTES):
            if session.handoff.held_by_a_person:  # a person answers: store the message alone
                try:
                    return self._held(session, text, idempotency_key, body_fingerprint)
                except StaleFlow:  # handed back meanwhile: the agent answers after all
                    session = self._reread(session_id, customer_id, attempt)
                    continue
                except DuplicateKey as duplicate:
                    return self._replay(session_id, duplicate.record, body_fingerprint)
            if understanding is None:
                understanding = self.model.understand(text)
            key = None if idempotency_key is None else (idempotency_key, body_fingerprint)
            planned = self._plan(session, text, understanding, key, on_text)
            on_text = None  # streamed once: a turn computed again is sent whole with the turn
            try:
                stored = self.store.append_turn(planned.turn)
            except (StaleFlow, ClaimExists):  # recompute on fresh state (the claim included)
                session = self._reread(session_id, customer_id, attempt)
                continue
            except DuplicateKey as duplicate:  # a concurrent retry with the same key won
                return self._replay(session_id, duplicate.record, body_fingerprint)
            return self._stored(session, planned, stored, understanding)
        raise Unavailable("the session is too busy right now; retry the message", retry_after=1)

    def _reread(self, session_id: str, customer_id: str, attempt: int) -> Session:
        """The session afresh, after a pause that grows with the attempts (a lost race)."""
        time.sleep(random.uniform(0, 0.002 * (attempt + 1)))
        return self.sessions.require(session_id, customer_id)

    def _plan(
        self,
        session: Session,
        text: str,
        understanding: Understanding,
        key: tuple[str, str] | None,
        on_text: Callable[[str], None] | None,
    ) -> _PlannedTurn:
        """The turn the router decides on this state of the session, worded, ready to store.
        `key`: the Idempotency-Key and the body's fingerprint, when the request has one."""
        reply = self.router.decide(session, text, understanding)
        inquiry = None
        if reply.inquiry is not None:
            inquiry = self.inquiries.prepare(
                reply.inquiry.kind,
                reply.inquiry.details,
                customer_id=session.customer_id,
                session_id=session.id,
            )
        data = {**reply.data, "source": reply.source, "intent": understanding.intent.value}
        if inquiry is not None:
            data["inquiry_id"] = inquiry.id
        worded = self._word(reply.text, data, on_text)
        answer = NewMessage(role="agent", text=worded, route=reply.route.value, data=data)
        mine = NewMessage(role="customer", text=text)
        record = None
        if key is not None:
            response = {
                "reply_message_id": answer.id,
                "message_id": mine.id,
                "route": reply.route.value,
                "inquiry_id": inquiry.id if inquiry else None,
                "source": reply.source,
                "intent": understanding.intent.value,
            }
            record = idempotency.new_record(
                session_scope(session.id), key[0], key[1], response, self.clock.now()
            )
        now = self.clock.now()
        turn = Turn(
            session_id=session.id,
            messages=(mine, answer),
            expected_flow_version=session.flow_version,
            new_flow=stored_change(reply.flow),
            now=now,
            expires_at=self.sessions.expiry(session.created_at, now),
            idempotency=record,
            inquiry=inquiry,
            order_claim=_claim(reply, session.customer_id, now),
            max_messages=self.sessions.max_messages,
            handoff=reply.handoff,
        )
        return _PlannedTurn(turn, reply, inquiry, answer)

    def _stored(
        self,
        session: Session,
        planned: _PlannedTurn,
        stored: list[Message],
        understanding: Understanding,
    ) -> TurnOutcome:
        """What follows a stored turn (its inquiry published, a handoff announced), answered."""
        reply, inquiry = planned.reply, planned.inquiry
        if inquiry is not None:
            log_inquiry_state(inquiry, 0)
            self.inquiries.publish(inquiry.id)
        if reply.handoff is HandoffState.WAITING:
            announce_request(self.events, session, planned.answer.id, planned.turn.now)
        return TurnOutcome(
            reply=stored[-1],
            route=reply.route,
            inquiry_id=inquiry.id if inquiry else None,
            source=reply.source,
            intent=understanding.intent.value,
            message=stored[0],
        )

    def _word(
        self, draft: str, facts: dict[str, Any], on_text: Callable[[str], None] | None = None
    ) -> str:
        """Let the model word the reply; its wording is optional, the draft is the answer."""
        try:
            if on_text is not None:
                return word_streamed(self.model, draft, facts, on_text)
            return self.model.phrase(draft, facts)
        except AppError as exc:
            log.warning("model could not word the reply, using the draft: %s", exc.detail)
            return draft

    def _held(
        self, session: Session, text: str, key: str | None, body_fingerprint: str
    ) -> TurnOutcome:
        """Store the customer's message alone, on the condition that a person still holds the
        conversation (StaleFlow otherwise); the agent does not answer."""
        mine = NewMessage(role="customer", text=text)
        now = self.clock.now()
        record = None
        if key is not None:
            response = {
                "reply_message_id": None,
                "message_id": mine.id,
                "route": Route.HANDOFF.value,
                "source": HELD_SOURCE,
                "intent": "",
            }
            record = idempotency.new_record(
                session_scope(session.id), key, body_fingerprint, response, now
            )
        (stored,) = self.store.append_turn(self.sessions.message_turn(session, mine, now, record))
        return TurnOutcome(reply=None, route=Route.HANDOFF, source=HELD_SOURCE, message=stored)

    def _replay(
        self, session_id: str, record: IdempotencyRecord, body_fingerprint: str
    ) -> TurnOutcome:
        """The first answer to a keyed turn, read back: nothing is stored or published again."""
        idempotency.ensure_same_request(record, body_fingerprint)
        response = record.response
        reply = None
        if response["reply_message_id"] is not None:
            reply = self.store.get_message(session_id, response["reply_message_id"])
        mine = self._customer_message(session_id, response, reply)
        gone = self.store.get_session(session_id, self.clock.now()) is None
        if gone or mine is None or (reply is None and response["reply_message_id"] is not None):
            raise NotFound(f"session {session_id!r} does not exist or has expired")
        return TurnOutcome(
            reply=reply,
            route=Route(response["route"]),
            inquiry_id=response.get("inquiry_id"),
            source=response.get("source", ""),
            intent=response.get("intent", ""),
            message=mine,
        )

    def _customer_message(
        self, session_id: str, response: dict[str, Any], reply: Message | None
    ) -> Message | None:
        """The customer's message of a recorded turn; a record stored before it named that
        message is answered with the one right before the reply."""
        if response.get("message_id") is not None:
            return self.store.get_message(session_id, response["message_id"])
        if reply is None:
            return None
        before = self.store.latest_messages(session_id, 1, reply.seq)
        return before[0] if before else None


def _claim(reply: Reply, customer_id: str, now: datetime) -> OrderClaim | None:
    """The order claim (a return) the reply creates, for the turn to store atomically."""
    request = reply.order_claim
    if request is None:
        return None
    return OrderClaim(
        order_id=request.order_id,
        kind=request.kind,
        claim_id=request.claim_id,
        customer_id=customer_id,
        status=request.status,
        amount_cents=request.amount_cents,
        created_at=now,
    )
