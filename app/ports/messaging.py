"""Messaging ports: the inquiry queue, inquiry events and signed callbacks."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any, Protocol

from app.domain.records import Delivery, DeliveryResult

Handler = Callable[[Delivery], DeliveryResult]


class InquiryQueue(Protocol):
    """Where new inquiries are published for the worker (Pub/Sub topic or the local queue)."""

    def publish(self, inquiry_id: str) -> str:
        """Returns the message id. Raises Unavailable when the queue does not take it."""

    def ping(self) -> bool: ...


class EventPublisher(Protocol):
    def publish_event(self, event_id: str, event: dict[str, Any]) -> None:
        """Publish an inquiry event; `event_id` lets consumers drop duplicates."""


class CallbackOutcome(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"  # the receiver may take it later (timeout, 408, 429, 5xx)
    REJECTED = "rejected"  # the receiver refused it for good (other 4xx, redirect)


class CallbackSender(Protocol):
    def send(self, url: str, payload: dict[str, Any], idempotency_key: str) -> CallbackOutcome:
        """POST the payload, HMAC-signed, with the idempotency key as a header."""
