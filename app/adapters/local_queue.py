"""A durable queue in the app's SQLite file with the semantics of a Pub/Sub push subscription.

At least once: a delivery is leased for `ack_deadline` seconds; if the handler crashes or
never answers, the lease expires and the message is delivered again. RETRY (or an exception)
schedules the next attempt after an exponential backoff, and so does an expired lease, as
Pub/Sub's retry policy applies to an exceeded ack deadline as to a nack; after `max_attempts`
deliveries the message is moved to the `dead` state, the local stand-in for a dead-letter
topic. The handler is `InquiryWorker.handle`, the same code that serves `POST /pubsub/inquiries`.

`RetryPolicy()`'s defaults are those of the push subscription that `modules/messaging.py`
creates from an environment file's defaults (`infra/config.py`, `MessagingConfig`): retries
after 10 s doubling up to 600 s, a 60 s ack deadline; the app sets `max_attempts` from
MAX_DELIVERY_ATTEMPTS, as the infra sets it from the subscription's. Those timings are what
lets a delivery that finds the inquiry leased by a delivery that died, or that could not
give its lease back, be retried until that lease has run out (`RetryPolicy.waits_out`).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import uuid4

from app.adapters.sqlite_db import Database, to_ts
from app.config.retry_policy import RetryPolicy
from app.domain.errors import AppError
from app.domain.records import Delivery, DeliveryResult
from app.ports.clock import Clock
from app.ports.messaging import Handler

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS queue_messages (
    id TEXT PRIMARY KEY,
    topic TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    available_at REAL NOT NULL,
    lease_until REAL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS queue_messages_ready ON queue_messages (topic, state, available_at);
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY,
    topic TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at REAL NOT NULL
);
"""

PENDING, LEASED, ACKED, DEAD = "pending", "leased", "acked", "dead"
# The next deliverable message: ready, or leased by a holder whose lease ran out. A leased
# message's `available_at` is when it is due again if no answer comes (its lease plus the
# backoff); `lease_until` is checked too, for rows leased by a version that did not set it.
_READY_WHERE = (
    " FROM queue_messages WHERE topic = ?"
    " AND ((state = ? AND available_at <= ?)"
    " OR (state = ? AND lease_until <= ? AND available_at <= ?))"
    " ORDER BY available_at, rowid LIMIT 1"
)
_ANY_READY, _NEXT_READY = "SELECT 1" + _READY_WHERE, "SELECT *" + _READY_WHERE


@dataclass(frozen=True)
class QueuedMessage:
    id: str
    payload: dict[str, Any]
    attempt: int


class LocalQueue:
    """Implements `InquiryQueue` and delivers to a handler from dispatcher threads."""

    def __init__(
        self, db: Database, clock: Clock, policy: RetryPolicy, topic: str = "inquiries"
    ) -> None:
        self.db = db
        self.clock = clock
        self.policy = policy
        self.topic = topic
        db.add_schema(SCHEMA)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # --- publishing ---

    def publish(self, inquiry_id: str) -> str:
        message_id = uuid4().hex
        now = to_ts(self.clock.now())
        with self.db.write() as conn:
            conn.execute(
                "INSERT INTO queue_messages (id, topic, payload, state, available_at, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    message_id,
                    self.topic,
                    json.dumps({"inquiry_id": inquiry_id}),
                    PENDING,
                    now,
                    now,
                    now,
                ),
            )
        self._wake.set()
        return message_id

    def ping(self) -> bool:
        return self.db.ping()

    # --- delivering ---

    def lease_next(self) -> QueuedMessage | None:
        """Lease the next deliverable message: ready, or leased by someone whose lease expired
        (once the backoff after it has passed)."""
        now = to_ts(self.clock.now())
        ready = (self.topic, PENDING, now, LEASED, now, now)
        with self.db.read() as conn:  # idle polls look without taking the write lock
            if conn.execute(_ANY_READY, ready).fetchone() is None:
                return None
        with self.db.write() as conn:
            while True:
                row = conn.execute(_NEXT_READY, ready).fetchone()
                if row is None:
                    return None
                if row["attempts"] >= self.policy.max_attempts:
                    # Its last delivery timed out: the attempts are used up.
                    conn.execute(
                        "UPDATE queue_messages SET state = ?, lease_until = NULL, updated_at = ?,"
                        " last_error = ? WHERE id = ?",
                        (DEAD, now, "ack deadline exceeded on the last attempt", row["id"]),
                    )
                    log.error(
                        "message dead-lettered", extra={"json_fields": {"message_id": row["id"]}}
                    )
                    continue
                attempt = row["attempts"] + 1
                lease_until = now + self.policy.ack_deadline_seconds
                # Unanswered, it is due again after the backoff (dead-lettered once the last
                # attempt's lease has run out).
                due = lease_until
                if attempt < self.policy.max_attempts:
                    due += self.policy.backoff(attempt)
                conn.execute(
                    "UPDATE queue_messages SET state = ?, attempts = ?, lease_until = ?,"
                    " available_at = ?, updated_at = ? WHERE id = ?",
                    (LEASED, attempt, lease_until, due, now, row["id"]),
                )
                return QueuedMessage(row["id"], json.loads(row["payload"]), attempt)

    def settle(
        self, message: QueuedMessage, result: DeliveryResult, error: str | None = None
    ) -> str:
        """Record the handler's answer for this lease; returns the message's new state.

        An answer that arrives after the lease expired and the message was leased again is
        ignored, as Pub/Sub ignores a late ack.
        """
        now = self.clock.now()
        if result is DeliveryResult.ACK:
            state, available_at = ACKED, now
        elif message.attempt >= self.policy.max_attempts:
            state, available_at = DEAD, now
        else:
            state = PENDING
            available_at = now + timedelta(seconds=self.policy.backoff(message.attempt))
        with self.db.write() as conn:
            changed = conn.execute(
                "UPDATE queue_messages SET state = ?, available_at = ?, lease_until = NULL,"
                " updated_at = ?, last_error = ? WHERE id = ? AND state = ? AND attempts = ?",
                (
                    state,
                    to_ts(available_at),
                    to_ts(now),
                    error,
                    message.id,
                    LEASED,
                    message.attempt,
                ),
            ).rowcount
        if not changed:
            return "stale"
        if state == DEAD:
            log.error(
                "message dead-lettered",
                extra={"json_fields": {"message_id": message.id, "attempts": message.attempt}},
            )
        return state

    def deliver(self, message: QueuedMessage, handler: Handler) -> str:
        """Hand one leased message to the handler; an exception counts as RETRY."""
        delivery = Delivery(
            inquiry_id=str(message.payload.get("inquiry_id", "")),
            message_id=message.id,
            attempt=message.attempt,
        )
        error = None
        try:
            result = handler(delivery)
        except Exception as exc:
            log.exception("handler failed", extra={"json_fields": {"message_id": message.id}})
            result, error = DeliveryResult.RETRY, f"{type(exc).__name__}: {exc}"[:500]
        return self.settle(message, result, error)

    def dispatch_once(self, handler: Handler) -> bool:
        """Deliver at most one message; False when nothing is deliverable now."""
        message = self.lease_next()
        if message is None:
            return False
        self.deliver(message, handler)
        return True

    def drain(self, handler: Handler, limit: int = 1000) -> int:
        """Deliver everything deliverable now (tests and tools); returns how many deliveries."""
        count = 0
        while count < limit and self.dispatch_once(handler):
            count += 1
        return count

    # --- background dispatcher ---

    def start(
        self,
        handler: Handler,
        threads: int = 2,
        poll_seconds: float = 0.05,
        housekeeping: Callable[[], object] | None = None,
        housekeeping_seconds: float = 30.0,
    ) -> None:
        """Start dispatcher threads (the worker role's stand-in for Pub/Sub push)."""
        if self._threads:
            return
        self._stop.clear()
        for n in range(threads):
            thread = threading.Thread(
                target=self._run,
                args=(
                    handler,
                    poll_seconds,
                    housekeeping if n == 0 else None,
                    housekeeping_seconds,
                ),
                name=f"local-queue-{n}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)

    def _run(
        self,
        handler: Handler,
        poll_seconds: float,
        housekeeping: Callable[[], object] | None,
        housekeeping_seconds: float,
    ) -> None:
        idle_polls = 0
        every = max(1, int(housekeeping_seconds / poll_seconds))
        while not self._stop.is_set():
            try:
                if self.dispatch_once(handler):
                    continue
            except AppError as exc:  # the database is busy or gone for a moment
                log.warning("local queue cannot dispatch: %s", exc.detail)
            except Exception:  # keep the dispatcher alive whatever happens
                log.exception("local queue dispatcher error")
            idle_polls += 1
            if housekeeping is not None and idle_polls % every == 1:
                try:
                    housekeeping()
                except Exception:
                    log.exception("housekeeping failed")
            self._wake.wait(poll_seconds)
            self._wake.clear()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the dispatcher threads after their current delivery. Safe to call twice."""
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads = []

    def purge(self, keep_acked_seconds: float = 86_400) -> int:
        """Delete acked messages older than `keep_acked_seconds`; dead ones stay for inspection."""
        before = to_ts(self.clock.now()) - keep_acked_seconds
        with self.db.write() as conn:
            return conn.execute(
                "DELETE FROM queue_messages WHERE topic = ? AND state = ? AND updated_at < ?",
                (self.topic, ACKED, before),
            ).rowcount

    # --- inspection ---

    def message_state(self, message_id: str) -> dict[str, Any] | None:
        with self.db.read() as conn:
            row = conn.execute(
                "SELECT * FROM queue_messages WHERE id = ?", (message_id,)
            ).fetchone()
        return dict(row) if row else None

    def counts(self) -> dict[str, int]:
        """How many messages are in each state (pending, leased, acked, dead)."""
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT state, COUNT(*) AS n FROM queue_messages WHERE topic = ? GROUP BY state",
                (self.topic,),
            ).fetchall()
        return {r["state"]: r["n"] for r in rows}


class LocalEventLog:
    """Implements `EventPublisher`: events land once (by id) in the `events` table."""

    def __init__(self, db: Database, clock: Clock, topic: str = "inquiry-events") -> None:
        self.db = db
        self.clock = clock
        self.topic = topic
        db.add_schema(SCHEMA)

    def publish_event(self, event_id: str, event: dict[str, Any]) -> None:
        with self.db.write() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO events (id, topic, payload, created_at) VALUES (?, ?, ?, ?)",
                (event_id, self.topic, json.dumps(event), to_ts(self.clock.now())),
            )

    def events(self) -> list[dict[str, Any]]:
        """Every published event, oldest first."""
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT payload FROM events WHERE topic = ? ORDER BY created_at, id", (self.topic,)
            ).fetchall()
        return [json.loads(r["payload"]) for r in rows]
