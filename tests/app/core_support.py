"""Helpers for the core (non-HTTP) tests: a hand-moved clock, a recording callback sender,
real services on a temporary data directory, and who owns each sample order. The fixtures
built on them are in `tests/app/agents/conftest.py`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from app.adapters.local_queue import RetryPolicy
from app.config.settings import Settings
from app.ports.messaging import CallbackOutcome
from app.wiring import AppServices, build_services

START = datetime(2025, 3, 12, 9, 0, tzinfo=UTC)
ALLOWED_HOST = "hooks.example.com"
SIGNING_KEY = "test-signing-key"

# The owner of each sample order (app/data/orders.json). A customer acts on their own orders
# only, so a test about an order talks to the service as its owner; test_ownership.py checks
# this table against the shipped data.
ORDER_OWNERS = {
    "A1001": "C001",
    "A1002": "C001",
    "A1003": "C002",
    "A1004": "C002",
    "A1005": "C003",
    "A1006": "C003",
    "A1007": "C004",
    "A1008": "C004",
    "A1009": "C005",
    "A1010": "C005",
    "A1011": "C006",
    "A1012": "C006",
    "A1013": "C007",
    "A1014": "C007",
    "A1015": "C008",
    "A1016": "C008",
    "A1017": "C001",
    "A1018": "C002",
    "A1019": "C003",
    "A1020": "C004",
}


def owner_of(order_id: str) -> str:
    """The customer who placed a sample order."""
    return ORDER_OWNERS[order_id.upper()]


class FakeClock:
    """A clock that moves only when told to, so expiry and backoff are tested without sleeping."""

    def __init__(self, start: datetime = START) -> None:
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += timedelta(seconds=seconds)


@dataclass
class RecordingCallbacks:
    """A CallbackSender that records every send and answers from a script (default DELIVERED)."""

    script: list[CallbackOutcome] = field(default_factory=list)
    sent: list[tuple[str, dict[str, Any], str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, url: str, payload: dict[str, Any], idempotency_key: str) -> CallbackOutcome:
        with self._lock:
            self.sent.append((url, payload, idempotency_key))
            return self.script.pop(0) if self.script else CallbackOutcome.DELIVERED


def make_settings(data_dir: Any, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": str(data_dir),
        "callback_allowed_hosts": (ALLOWED_HOST,),
        "callback_signing_key": SIGNING_KEY,
        "max_delivery_attempts": 5,
        "session_ttl_seconds": 3600,
    }
    values.update(overrides)
    return Settings.from_env({}, **values)


def make_services(
    data_dir: Any,
    clock: FakeClock | None = None,
    callbacks: RecordingCallbacks | None = None,
    **overrides: Any,
) -> AppServices:
    settings = make_settings(data_dir, **overrides)
    return build_services(
        settings,
        clock=clock or FakeClock(),
        callbacks=callbacks or RecordingCallbacks(),
        retry_policy=RetryPolicy(
            max_attempts=settings.max_delivery_attempts,
            min_backoff_seconds=10,
            max_backoff_seconds=600,
            ack_deadline_seconds=60,
        ),
    )


def drain(services: AppServices) -> int:
    """Deliver every queued inquiry to the worker now."""
    return services.queue.drain(services.worker.handle)
