"""Sessions of the stateful agent: who the customer is, their preferences, their messages.

A session lives `SESSION_TTL_SECONDS` after its last turn (every turn slides the expiry), and
never longer than `SESSION_MAX_AGE` after it began; after that it reads as unknown, and the
store may purge it. It holds at most `SESSION_MAX_MESSAGES` messages (then a turn is 409:
start a new session). A session belongs to the customer who opened it: for anyone else it
reads exactly as a session that does not exist.

Reads are bounded too: a session comes with its latest `WINDOW` messages, and older ones are
read page by page (`messages`), newest page first, each page oldest first. A page's cursor is
an opaque token naming a seq; seqs never change once assigned, so paging back from any page
returns every older message exactly once, however many messages arrive meanwhile.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import datetime, timedelta
from typing import Any
from uuid import uuid4

from app.domain.errors import InvalidInput, NotFound
from app.domain.records import HandoffState, Message, MessagePage, Session
from app.ports.clock import Clock
from app.ports.store import IdempotencyRecord, NewMessage, SessionStore, Turn

_CUSTOMER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+:-]{0,127}$")
MAX_PREFERENCES_BYTES = 4096
WINDOW = 50  # the latest messages GET /v1/sessions/{id} returns
DEFAULT_PAGE, MAX_PAGE = 50, 100  # GET /v1/sessions/{id}/messages?limit=
_CURSOR_PREFIX = "seq:"
_MAX_SEQ = 2**62  # a seq Firestore's int64 and SQLite's INTEGER both hold
CURSOR_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
_CURSOR = re.compile(CURSOR_PATTERN)


def check_customer_id(customer_id: Any) -> str:
    if not isinstance(customer_id, str) or not _CUSTOMER_ID.fullmatch(customer_id):
        raise InvalidInput(
            "customer_id must be 1 to 128 characters: letters, digits and . _ @ + : -, "
            "starting with a letter or digit",
            field="customer_id",
        )
    return customer_id


def check_preferences(preferences: Any) -> dict[str, Any]:
    if not isinstance(preferences, dict):
        raise InvalidInput("preferences must be a JSON object", field="preferences")
    if not all(isinstance(k, str) for k in preferences):
        raise InvalidInput("preferences keys must be strings", field="preferences")
    try:
        size = len(json.dumps(preferences).encode("utf-8"))
    except (TypeError, ValueError):
        raise InvalidInput("preferences must hold only JSON values", field="preferences") from None
    if size > MAX_PREFERENCES_BYTES:
        raise InvalidInput(
            f"preferences must be at most {MAX_PREFERENCES_BYTES} bytes as JSON, got {size}",
            field="preferences",
        )
    return preferences


def cursor_before(seq: int) -> str:
    """The opaque cursor of the messages before `seq` (URL-safe, no padding)."""
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{seq}".encode()).decode().rstrip("=")


def seq_of_cursor(cursor: Any) -> int:
    """The seq a cursor of `cursor_before` names; InvalidInput(field="before") otherwise."""
    wrong = InvalidInput("before must be a cursor from an `older` link of this API", field="before")
    if not isinstance(cursor, str) or not _CURSOR.fullmatch(cursor):
        raise wrong
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, ValueError):
        raise wrong from None
    digits = text.removeprefix(_CURSOR_PREFIX)
    if digits == text or not digits.isdigit() or not 1 <= int(digits) <= _MAX_SEQ:
        raise wrong
    return int(digits)


def check_limit(limit: Any) -> int:
    """A page size from 1 to MAX_PAGE (an int, or the digits of a query string)."""
    if limit is None:
        return DEFAULT_PAGE
    if isinstance(limit, str) and limit.isdigit() and len(limit) <= 3:
        limit = int(limit)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be an integer from 1 to {MAX_PAGE}", field="limit")
    return limit


def page_of(messages: list[Message]) -> MessagePage:
    """The page of `messages` (oldest first), with a cursor when older ones exist (seqs start
    at 1 and have no gaps)."""
    older = cursor_before(messages[0].seq) if messages and messages[0].seq > 1 else None
    return MessagePage(messages, older)


class SessionService:
    """Implements `app.ports.services.SessionPort`."""

    def __init__(
        self,
        store: SessionStore,
        clock: Clock,
        ttl_seconds: int,
        max_messages: int = 1000,
        max_age_seconds: int = 30 * 86400,
    ) -> None:
        self.store = store
        self.clock = clock
        self.ttl = timedelta(seconds=ttl_seconds)
        self.max_messages = max_messages
        self.max_age = timedelta(seconds=max_age_seconds)

    def expiry(self, created_at: datetime, now: datetime) -> datetime:
        """A session's expiry after activity at `now`: one TTL later, but never past its
        maximum age."""
        return min(now + self.ttl, created_at + self.max_age)

    def message_turn(
        self,
        session: Session,
        message: NewMessage,
        now: datetime,
        record: IdempotencyRecord | None = None,
        handoff: HandoffState | None = None,
    ) -> Turn:
        """A turn of one message the agent does not answer (the customer's while a person holds
        the conversation, a team member's), stored only if the session's flow version (which
        a handoff change bumps) is still as read."""
        return Turn(
            session_id=session.id,
            messages=(message,),
            expected_flow_version=session.flow_version,
            new_flow=None,
            now=now,
            expires_at=self.expiry(session.created_at, now),
            idempotency=record,
            max_messages=self.max_messages,
            handoff=handoff,
        )

    def create(self, customer_id: Any, preferences: Any = None) -> Session:
        customer_id = check_customer_id(customer_id)
        preferences = check_preferences({} if preferences is None else preferences)
        now = self.clock.now()
        session = Session(
            id=uuid4().hex,
            customer_id=customer_id,
            preferences=preferences,
            created_at=now,
            expires_at=self.expiry(now, now),
        )
        self.store.create_session(session)
        return session

    def require(self, session_id: Any, customer_id: str) -> Session:
        """The customer's live session, or NotFound: unknown, malformed, expired and other
        customers' ids all look the same."""
        session = None
        if _possible_id(session_id):
            session = self.store.get_session(session_id, self.clock.now())
        return self._owned(session, session_id, customer_id)

    def require_keyed(
        self, session_id: Any, customer_id: str, scope: str, key: str
    ) -> tuple[Session, IdempotencyRecord | None]:
        """`require`, and the record stored under (scope, key), read together."""
        session = record = None
        if _possible_id(session_id):
            session, record = self.store.get_turn_state(session_id, scope, key, self.clock.now())
        return self._owned(session, session_id, customer_id), record

    def _owned(self, session: Session | None, session_id: Any, customer_id: str) -> Session:
        if session is None or session.customer_id != customer_id:
            raise NotFound(f"session {session_id!r} does not exist or has expired")
        return self._live(session, session_id)

    def _live(self, session: Session | None, session_id: Any) -> Session:
        if session is None or not self.is_live(session, self.clock.now()):
            raise NotFound(f"session {session_id!r} does not exist or has expired")
        return session

    def is_live(self, session: Session, now: datetime) -> bool:
        """Whether a session the store returned is still within its maximum age (one stored
        before the cap may outlive it in the store)."""
        return session.created_at + self.max_age > now

    # --- the support team's view: any customer's session (staff callers only) ---

    def require_any(self, session_id: Any) -> Session:
        """A live session whoever's it is, or NotFound. Only for the staff's routes: a
        customer's call goes through `require`, which checks the owner."""
        session = None
        if _possible_id(session_id):
            session = self.store.get_session(session_id, self.clock.now())
        return self._live(session, session_id)

    def require_any_keyed(
        self, session_id: Any, scope: str, key: str
    ) -> tuple[Session, IdempotencyRecord | None]:
        """`require_any`, and the record stored under (scope, key), read together."""
        session = record = None
        if _possible_id(session_id):
            session, record = self.store.get_turn_state(session_id, scope, key, self.clock.now())
        return self._live(session, session_id), record

    def window(self, session: Session) -> MessagePage:
        """The session's latest WINDOW messages."""
        return page_of(self.store.latest_messages(session.id, WINDOW))

    def get(self, session_id: str, *, customer_id: str) -> tuple[Session, MessagePage]:
        """The session and its latest WINDOW messages."""
        session = self.require(session_id, customer_id)
        return session, page_of(self.store.latest_messages(session.id, WINDOW))

    def messages(
        self, session_id: str, before: Any = None, limit: Any = None, *, customer_id: str
    ) -> MessagePage:
        """The `limit` messages before the cursor `before` (the latest when None)."""
        seq = None if before is None else seq_of_cursor(before)
        size = check_limit(limit)
        session = self.require(session_id, customer_id)
        return page_of(self.store.latest_messages(session.id, size, seq))


def _possible_id(session_id: Any) -> bool:
    return isinstance(session_id, str) and 0 < len(session_id) <= 64
