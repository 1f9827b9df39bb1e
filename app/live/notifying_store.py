"""A Store decorator that announces every write that adds messages to a session.

Why a decorator: every writer of messages (a customer's turn and a staff reply or release
through `append_turn`, an inquiry's result through `append_once`, on the api and on the
worker) goes through the store, so wrapping it once in app/wiring.py catches all of them,
including ones added later under these names. The announcement (`notify(session_id)`) comes
after the write has committed, never before, and a failure to announce never fails the write:
the streams' poll finds the message anyway. An erasure is announced too, so that the streams of
an erased session end at once. Every other method passes straight through (`__getattr__`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from app.domain.records import Message
from app.ports.store import EffectMark, Erasure, NewMessage, Store, Turn

log = logging.getLogger(__name__)


class NotifyingStore:
    """Implements `Store`: the wrapped store's answers, then `notify(session_id)`."""

    def __init__(self, store: Store, notify: Callable[[str], None]) -> None:
        self.store = store
        self.notify = notify

    def __getattr__(self, name: str) -> Any:
        if name == "store":  # not set yet: no recursion while half constructed
            raise AttributeError(name)
        return getattr(self.store, name)

    def _announce(self, session_id: str) -> None:
        try:
            self.notify(session_id)
        except Exception:  # the poll of each stream is the safety net
            log.warning("live: could not announce new messages", exc_info=True)

    def append_turn(self, turn: Turn) -> list[Message]:
        stored = self.store.append_turn(turn)
        self._announce(turn.session_id)
        return stored

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
        stored = self.store.append_once(
            session_id, message, dedupe_key, now, mark=mark, max_messages=max_messages
        )
        if stored is not None:
            self._announce(session_id)
        return stored

    def erase_customer(self, customer_id: str, keep_inquiry_id: str | None = None) -> Erasure:
        erasure = self.store.erase_customer(customer_id, keep_inquiry_id)
        for session_id in erasure.session_ids:
            self._announce(session_id)
        return erasure

    def close(self) -> None:
        self.store.close()
