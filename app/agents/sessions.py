"""Sessions of the stateful agent: who the customer is, their preferences, their messages.

A session lives `SESSION_TTL_SECONDS` after its last turn (every turn slides the expiry);
after that it reads as unknown, and the store may purge it. A session belongs to the customer
who opened it: for anyone else it reads exactly as a session that does not exist.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any
from uuid import uuid4

from app.domain import Message, Session
from app.errors import InvalidInput, NotFound
from app.ports import Clock, Store

_CUSTOMER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+:-]{0,127}$")
MAX_PREFERENCES_BYTES = 4096


def check_customer_id(customer_id: Any) -> str:
    if not isinstance(customer_id, str) or not _CUSTOMER_ID.match(customer_id):
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


class SessionService:
    """Implements `app.services.SessionService`."""

    def __init__(self, store: Store, clock: Clock, ttl_seconds: int) -> None:
        self.store = store
        self.clock = clock
        self.ttl = timedelta(seconds=ttl_seconds)

    def create(self, customer_id: Any, preferences: Any = None) -> Session:
        customer_id = check_customer_id(customer_id)
        preferences = check_preferences({} if preferences is None else preferences)
        now = self.clock.now()
        session = Session(
            id=uuid4().hex,
            customer_id=customer_id,
            preferences=preferences,
            created_at=now,
            expires_at=now + self.ttl,
        )
        self.store.create_session(session)
        return session

    def require(self, session_id: Any, customer_id: str) -> Session:
        """The customer's live session, or NotFound: unknown, malformed, expired and other
        customers' ids all look the same."""
        session = None
        if isinstance(session_id, str) and 0 < len(session_id) <= 64:
            session = self.store.get_session(session_id, self.clock.now())
        if session is None or session.customer_id != customer_id:
            raise NotFound(f"session {session_id!r} does not exist or has expired")
        return session

    def get(self, session_id: str, *, customer_id: str) -> tuple[Session, list[Message]]:
        session = self.require(session_id, customer_id)
        return session, self.store.list_messages(session.id)
