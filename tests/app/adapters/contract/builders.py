"""Records the contract tests store: one session, turns, inquiries, idempotency records and
order claims, and a customer's whole footprint (`conversation`, `api_inquiry`) for the erasure
tests; and `run_together`, which releases concurrent writers at once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from app.domain.errors import Unavailable
from app.domain.records import Inquiry, InquiryStatus, Message, Session
from app.ports.store import (
    IdempotencyRecord,
    NewMessage,
    OrderClaim,
    Store,
    Turn,
    inquiry_scope,
    session_scope,
)

START = datetime(2025, 3, 12, 9, 0, tzinfo=UTC)
TTL = timedelta(hours=2)


def session(session_id: str = "s1", **overrides: Any) -> Session:
    values: dict[str, Any] = dict(
        id=session_id,
        customer_id="C001",
        preferences={"language": "en"},
        created_at=START,
        expires_at=START + TTL,
    )
    values.update(overrides)
    return Session(**values)


def all_messages(store: Store, session_id: str, page: int = 100) -> list[Message]:
    """Every message of the session, oldest first, read page by page back from the latest
    as a client pages through `older` links (a page starting at seq 1 is the first)."""
    pages: list[list[Message]] = []
    before = None
    while messages := store.latest_messages(session_id, page, before):
        pages.append(messages)
        if messages[0].seq == 1:
            break
        before = messages[0].seq
    return [message for found in reversed(pages) for message in found]


def turn(text: str = "hi", reply: str = "hello", **overrides: Any) -> Turn:
    values: dict[str, Any] = dict(
        session_id="s1",
        messages=(NewMessage("customer", text), NewMessage("agent", reply, route="faq")),
        expected_flow_version=0,
        new_flow=None,
        now=START,
        expires_at=START + TTL,
    )
    values.update(overrides)
    return Turn(**values)


def inquiry(inquiry_id: str = "i1", **overrides: Any) -> Inquiry:
    values: dict[str, Any] = dict(
        id=inquiry_id,
        kind="refund_review",
        details={"order_id": "A1007", "reason": "damaged"},
        status=InquiryStatus.QUEUED,
        attempts=0,
        created_at=START,
        updated_at=START,
        expires_at=START + timedelta(days=30),
        session_id="s1",
        customer_id="C001",  # the customer of `session()`
    )
    values.update(overrides)
    return Inquiry(**values)


def record(key: str = "k", scope: str = "inquiries", **overrides: Any) -> IdempotencyRecord:
    values: dict[str, Any] = dict(
        scope=scope,
        key=key,
        fingerprint="fp-1",
        response={"inquiry_id": "i1"},
        created_at=START,
        expires_at=START + timedelta(hours=24),
    )
    values.update(overrides)
    return IdempotencyRecord(**values)


CLAIM_PREFIXES = {"return": "RMA", "refund": "RF"}
CLAIM_STATUSES = {"return": "label_sent", "refund": "approved"}


def claim(order_id: str = "A1001", kind: str = "return", **overrides: Any) -> OrderClaim:
    """The order's return (or refund) as the agents make it: RMA-A1001, RF-A1007."""
    values: dict[str, Any] = dict(
        order_id=order_id,
        kind=kind,
        claim_id=f"{CLAIM_PREFIXES[kind]}-{order_id}",
        customer_id="C001",  # the customer of `session()`
        status=CLAIM_STATUSES[kind],
        amount_cents=4999,
        created_at=START,
    )
    values.update(overrides)
    return OrderClaim(**values)


def conversation(
    store: Store, session_id: str, customer_id: str, expires_at: datetime = START + TTL
) -> None:
    """A session whose turn opened an inquiry under an Idempotency-Key, and the inquiry's result
    appended once: 3 messages, 1 turn record, 1 dedupe marker, 1 inquiry with a side effect."""
    store.create_session(session(session_id, customer_id=customer_id, expires_at=expires_at))
    opened = inquiry(f"{session_id}-i", session_id=session_id, customer_id=customer_id)
    key = record(f"turn-{session_id}", scope=session_scope(session_id))
    store.append_turn(
        turn(session_id=session_id, inquiry=opened, idempotency=key, expires_at=expires_at)
    )
    store.append_once(session_id, NewMessage("system", "approved"), f"inquiry:{opened.id}", START)
    store.record_effect(opened.id, "callback", "delivered", START)


def api_inquiry(store: Store, inquiry_id: str, customer_id: str, key: str) -> None:
    """An inquiry opened through the API under an Idempotency-Key, with a side effect done."""
    stored = inquiry(inquiry_id, customer_id=customer_id, session_id=None)
    answer = {"inquiry_id": inquiry_id}
    store.create_inquiry(stored, record(key, scope=inquiry_scope(customer_id), response=answer))
    store.record_effect(inquiry_id, "event", "published", START)


CLIENT_RETRIES = 10  # a store may answer Unavailable under contention: clients retry (503)


def run_together(count: int, work: Callable[[int], Any]) -> tuple[dict[int, Any], list[str]]:
    """Run `work(n)` for n < count on threads released together; results and errors by n."""
    barrier = threading.Barrier(count)
    results: dict[int, Any] = {}
    errors: list[str] = []

    def as_a_client(n: int) -> Any:
        """What an API client does with a 503 from a busy store: try again a little later."""
        for attempt in range(1, CLIENT_RETRIES + 1):
            try:
                return work(n)
            except Unavailable:
                if attempt == CLIENT_RETRIES:
                    raise
                time.sleep(0.05 * attempt)
        return None

    def run(n: int) -> None:
        barrier.wait()
        try:
            results[n] = as_a_client(n)
        except Exception as exc:  # reported by the test with the writer's number
            errors.append(f"writer {n}: {exc!r}")

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, errors
