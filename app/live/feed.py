"""One live stream of a session's messages, and the per-process cap on open streams.

A stream sends every message whose seq is above the client's resume point, in seq order, each
once: seqs are 1-based and gap-free, so the session's `message_count` says how many there are,
and the messages after the resume point are read forward in pages of at most PAGE with the
store's `latest_messages(session_id, limit, before)`. Between reads the stream waits on the
hub (a write announced in this process, or by Redis from another) for at most the poll
interval, then re-reads the count: one document, or one Redis read behind the session cache.
A comment line goes out every heartbeat interval; the stream ends after its maximum duration,
when the session is gone (expired or erased) or when the process stops. Each stream holds one
server thread, so at most `max_streams` are open at once (`StreamSlots`): past that the route
answers 503 with Retry-After instead of queueing behind the others.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta

from app.domain.errors import NotFound, Unavailable
from app.domain.records import Message, Session
from app.live import sse
from app.live.hub import Hub
from app.logs.setup import log_event
from app.ports.clock import Clock
from app.ports.store import SessionStore

log = logging.getLogger(__name__)

PAGE = 100  # the most messages one read asks the store for (the store's page limit)
RETRY_MILLISECONDS = 1000  # the reconnection delay each stream announces first
MAX_SESSION_ID = 64


@dataclass(frozen=True)
class Timings:
    heartbeat_seconds: float
    max_seconds: float
    poll_seconds: float


class StreamSlot:
    """One open stream's place under the cap; `release` gives it back (once)."""

    def __init__(self, slots: StreamSlots) -> None:
        self._slots = slots
        self._released = False

    def release(self) -> None:
        with self._slots.lock:
            if self._released:
                return
            self._released = True
            self._slots.taken -= 1


class StreamSlots:
    """A counting semaphore that never blocks: a stream either gets a slot now or 503."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.taken = 0
        self.lock = threading.Lock()

    def take(self) -> StreamSlot | None:
        with self.lock:
            if self.taken >= self.limit:
                return None
            self.taken += 1
        return StreamSlot(self)


class LiveFeed:
    """Streams of a session's new messages, for its customer or for the support team."""

    def __init__(
        self,
        store: SessionStore,
        clock: Clock,
        hub: Hub,
        timings: Timings,
        max_streams: int,
        session_max_age: timedelta,
        listen: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.hub = hub
        self.timings = timings
        self.slots = StreamSlots(max_streams)
        self.session_max_age = session_max_age
        self._listen = listen

    def session(self, session_id: str, customer_id: str | None) -> Session:
        """The live session; with `customer_id`, only that customer's (NotFound otherwise,
        exactly as for one that does not exist). None: any customer's (staff)."""
        session = None
        if 0 < len(session_id) <= MAX_SESSION_ID:
            session = self.store.get_session(session_id, self.clock.now())
        if (
            session is None
            or (customer_id is not None and session.customer_id != customer_id)
            or session.created_at + self.session_max_age <= self.clock.now()
        ):
            raise NotFound(f"session {session_id!r} does not exist or has expired")
        return session

    def take_slot(self) -> StreamSlot | None:
        """A place for one more stream in this process, or None at the cap."""
        slot = self.slots.take()
        if slot is not None and self._listen is not None:
            self._listen()  # the cross-process channel, from the first stream on
        return slot

    def stream(
        self,
        session_id: str,
        after: int,
        slot: StreamSlot,
        client_gone: Callable[[], bool] | None = None,
    ) -> Iterator[bytes]:
        """The stream's bytes: `retry:`, then messages above `after`, heartbeats, the end.
        Gives `slot` back when it ends, however it ends. `client_gone`, checked after every
        wait, lets a stream whose client has left end within a poll interval rather than at
        the next heartbeat, whose write is the first to fail."""
        started = time.monotonic()
        sent, reason = 0, "max_duration"
        try:
            yield sse.retry(RETRY_MILLISECONDS)
            with self.hub.watch(session_id) as watch:
                deadline = started + self.timings.max_seconds
                beat = started + self.timings.heartbeat_seconds
                while True:
                    try:
                        count = self._count(session_id)
                        if count is None:
                            reason = "session_gone"
                            return
                        for message in self._after(session_id, after, count):
                            after, sent = message.seq, sent + 1
                            yield sse.event("message", message.as_dict(), message.seq)
                            beat = time.monotonic() + self.timings.heartbeat_seconds
                    except Unavailable as exc:  # the store did not answer: the next poll asks
                        log.warning("live: the store did not answer a stream's read: %s", exc)
                    if self.hub.closed:
                        reason = "stopping"
                        return
                    now = time.monotonic()
                    if now >= deadline:
                        return
                    watch.wait(min(deadline, beat, now + self.timings.poll_seconds) - now)
                    if client_gone is not None and client_gone():
                        reason = "client_gone"
                        return
                    if time.monotonic() >= beat:
                        yield sse.HEARTBEAT
                        beat = time.monotonic() + self.timings.heartbeat_seconds
        except GeneratorExit:
            reason = "client_gone"
            raise
        finally:
            slot.release()
            seconds = round(time.monotonic() - started, 3)
            fields = {"event": "live.stream", "reason": reason, "messages": sent}
            fields["seconds"] = seconds
            log_event(log, logging.INFO, f"live stream ended: {reason}, {sent} sent", fields)

    def _count(self, session_id: str) -> int | None:
        """How many messages the session holds (its last seq); None once it is gone."""
        session = self.store.get_session(session_id, self.clock.now())
        return None if session is None else session.message_count

    def _after(self, session_id: str, after: int, count: int) -> Iterator[Message]:
        """The messages above `after` up to seq `count`, in seq order, read forward a page at
        a time (seqs are gap-free: the page ending at seq `upto` is the latest before it)."""
        while after < count:
            upto = min(count, after + PAGE)
            page = self.store.latest_messages(session_id, upto - after, upto + 1)
            moved = False
            for message in sorted(page, key=lambda m: m.seq):
                if message.seq > after:
                    after, moved = message.seq, True
                    yield message
            if not moved:  # nothing where the count says there is: read again next time
                return

    def stop(self) -> None:
        """End every stream of this process (it is stopping); new ones end at once too."""
        self.hub.close()
