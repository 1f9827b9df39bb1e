"""Handoff to a person: the support team's side of a conversation the customer asked a human for.

A customer's "talk to a human" turn leaves the session "waiting" (stored with the turn, see
app/agents/conversation.py) and announces it on the events topic (app/agents/handoff_events.py).
The team sees the conversations waiting or held by a colleague (`queue`, waiting ones first,
each the longest first), reads any of them, and replies: the first reply moves "waiting" to
"joined". "Return to assistant" (`release`) hands the conversation back ("none") with a notice
to the customer. Every change is one turn of the session (its message and its new state in one
write), conditional on the state it was decided on: a colleague's join or release in between
makes it decide again, so two staff members never both "join" and a release is never lost.

Staff callers may read any customer's session; customers never reach this service (the HTTP
layer gates it to staff tokens). A staff member's id never reaches the customer: a staff
message carries `{"author": "team"}` only.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any, Protocol

from app.agents import idempotency
from app.agents.conversation import check_text
from app.agents.sessions import SessionService, check_limit, page_of, seq_of_cursor
from app.domain.errors import Conflict, NotFound, Unavailable
from app.domain.records import HandoffState, Message, MessagePage, QueuedHandoff, Route, Session
from app.ports.clock import Clock
from app.ports.store import (
    DuplicateKey,
    HandoffStore,
    IdempotencyRecord,
    NewMessage,
    SessionStore,
    StaleFlow,
    session_scope,
)

RELEASE_TEXT = (
    "You are back with the assistant. Ask me anything, or ask for a person again at any time."
)
TEAM = "team"  # what a staff message shows of its author
QUEUE_LIMIT = 100  # conversations GET /v1/staff/handoffs lists at most
MAX_RECOMPUTES = 20  # a staff action loses a race with a colleague at most this often


def staff_key(staff: str, key: str) -> str:
    """A staff member's Idempotency-Key within the session's scope: '#' is no character of a
    valid key, so it never meets the customer's keys, nor a colleague's."""
    return f"staff#{staff}#{key}"


class HandoffDesk(SessionStore, HandoffStore, Protocol):
    """The parts of the store the handoff service uses: sessions, and who waits for a person."""


class HandoffService:
    """Implements `app.ports.services.HandoffPort`."""

    def __init__(
        self,
        store: HandoffDesk,
        sessions: SessionService,
        clock: Clock,
        queue_limit: int = QUEUE_LIMIT,
    ) -> None:
        self.store = store
        self.sessions = sessions
        self.clock = clock
        self.queue_limit = queue_limit

    def queue(self) -> list[QueuedHandoff]:
        """Conversations waiting for a person (the longest waiting first), then those a person
        holds (the longest held first): at most `queue_limit` in all."""
        now = self.clock.now()
        found: list[QueuedHandoff] = []
        for state in (HandoffState.WAITING, HandoffState.JOINED):
            room = self.queue_limit - len(found)
            if room <= 0:
                break
            for session in self.store.handoff_sessions(state, now, room):
                if self.sessions.is_live(session, now) and session.handoff_since is not None:
                    since = session.handoff_since
                    waited = max(0, int((now - since).total_seconds()))
                    found.append(
                        QueuedHandoff(session.id, session.customer_id, state, since, waited)
                    )
        return found

    def get(self, session_id: str) -> tuple[Session, MessagePage]:
        """Any customer's session with its latest messages."""
        session = self.sessions.require_any(session_id)
        return session, self.sessions.window(session)

    def messages(self, session_id: str, before: Any = None, limit: Any = None) -> MessagePage:
        """A page of any customer's session, as the customer's own route pages it."""
        seq = None if before is None else seq_of_cursor(before)
        size = check_limit(limit)
        session = self.sessions.require_any(session_id)
        return page_of(self.store.latest_messages(session.id, size, seq))

    def reply(
        self, session_id: str, text: Any, idempotency_key: str | None = None, *, staff: str
    ) -> tuple[Message, bool]:
        """Store a team member's reply; (message, stored_now). The first reply to a waiting
        conversation joins it. Conflict when the assistant holds it ("none")."""
        text = check_text(text)
        scope = session_scope(session_id)
        body_fingerprint = idempotency.fingerprint({"text": text})
        key = None
        if idempotency_key is not None:
            key = staff_key(staff, idempotency.check_key(idempotency_key))
            session, earlier = self.sessions.require_any_keyed(session_id, scope, key)
            if earlier is not None:
                return self._replay(session_id, earlier, body_fingerprint), False
        else:
            session = self.sessions.require_any(session_id)
        for _ in range(MAX_RECOMPUTES):
            if session.handoff is HandoffState.NONE:
                raise Conflict(
                    f"session {session_id!r} is with the assistant, not handed to a person:"
                    " there is nothing to reply to",
                    field="handoff",
                )
            joins = session.handoff is HandoffState.WAITING
            data: dict[str, Any] = {"author": TEAM}
            if joins:
                data["handoff"] = HandoffState.JOINED.value
            message = NewMessage("staff", text, route=Route.HANDOFF.value, data=data)
            now = self.clock.now()
            record = None
            if key is not None:
                answer = {"message_id": message.id}
                record = idempotency.new_record(scope, key, body_fingerprint, answer, now)
            change = HandoffState.JOINED if joins else None
            try:
                (stored,) = self._write(session, message, now, change, record)
            except StaleFlow:  # a colleague joined or released it meanwhile: decide again
                session = self.sessions.require_any(session_id)
                continue
            except DuplicateKey as duplicate:  # a concurrent retry with the same key won
                return self._replay(session_id, duplicate.record, body_fingerprint), False
            return stored, True
        raise Unavailable("the conversation is too busy right now; retry the reply", retry_after=1)

    def release(self, session_id: str) -> Session:
        """Hand the conversation back to the assistant, with a notice to the customer; the
        session as it is now. Conflict when the assistant holds it already."""
        session = self.sessions.require_any(session_id)
        for _ in range(MAX_RECOMPUTES):
            if session.handoff is HandoffState.NONE:
                raise Conflict(
                    f"session {session_id!r} is with the assistant already", field="handoff"
                )
            notice = NewMessage(
                "system",
                RELEASE_TEXT,
                route=Route.HANDOFF.value,
                data={"handoff": HandoffState.NONE.value},
            )
            now = self.clock.now()
            try:
                (stored,) = self._write(session, notice, now, HandoffState.NONE, None)
            except StaleFlow:
                session = self.sessions.require_any(session_id)
                continue
            return replace(
                session,
                handoff=HandoffState.NONE,
                handoff_since=None,
                flow_version=session.flow_version + 1,
                message_count=stored.seq,
                expires_at=self.sessions.expiry(session.created_at, now),
            )
        raise Unavailable("the conversation is too busy right now; retry", retry_after=1)

    def _write(
        self,
        session: Session,
        message: NewMessage,
        now: datetime,
        change: HandoffState | None,
        record: IdempotencyRecord | None,
    ) -> list[Message]:
        """One turn of the session: the message, and the state change, on the condition that
        the session's flow version (which a state change bumps) is still as read."""
        return self.store.append_turn(
            self.sessions.message_turn(session, message, now, record, change)
        )

    def _replay(self, session_id: str, record: IdempotencyRecord, body_fingerprint: str) -> Message:
        idempotency.ensure_same_request(record, body_fingerprint)
        message = self.store.get_message(session_id, record.response["message_id"])
        if message is None:
            raise NotFound(f"session {session_id!r} does not exist or has expired")
        return message
