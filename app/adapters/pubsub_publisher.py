"""The `InquiryQueue` and `EventPublisher` ports on Pub/Sub topics (QUEUE_BACKEND=pubsub).

An inquiry is published as `{"inquiry_id": ...}` to INQUIRIES_TOPIC; Pub/Sub pushes it to the
worker. An event is published as its JSON to INQUIRY_EVENTS_TOPIC with an `event_id` attribute
so consumers can drop the duplicates that at-least-once delivery brings.

A publish that Pub/Sub does not confirm within `timeout_seconds` raises `Unavailable`, the
port's failure: the inquiry service then leaves the inquiry stored but unpublished and the
worker's housekeeping publishes it again; the worker answers RETRY for an event it could not
publish. A publish that timed out may still land later, so an inquiry can be published twice:
the worker's lease and side-effect records make the second delivery a no-op.

Imported only when QUEUE_BACKEND=pubsub (google-cloud-pubsub and grpc are heavy). The client
honours PUBSUB_EMULATOR_HOST, so the same code runs against the emulator.
"""

from __future__ import annotations

import importlib
import json
import logging
import threading
from typing import Any, Protocol

from app.domain.errors import Unavailable

log = logging.getLogger(__name__)

PUBLISH_TIMEOUT_SECONDS = 10.0
BATCH_LATENCY_SECONDS = 0.01  # one message per request is the norm: do not wait for a batch


class _Future(Protocol):
    def result(self, timeout: float | None = None) -> str: ...


class PublisherClientLike(Protocol):
    """The part of `google.cloud.pubsub_v1.PublisherClient` used here (tests pass a fake)."""

    def publish(self, topic: str, data: bytes, **attrs: str) -> _Future: ...

    def stop(self) -> None: ...


def new_publisher_client() -> PublisherClientLike:
    """A publisher that sends each message at once instead of waiting to fill a batch."""
    # The library ships no type information: imported as a plain module (its attributes Any).
    pubsub_v1 = importlib.import_module("google.cloud.pubsub_v1")

    batch = pubsub_v1.types.BatchSettings(max_latency=BATCH_LATENCY_SECONDS)
    client: PublisherClientLike = pubsub_v1.PublisherClient(batch_settings=batch)
    return client


class PubSubPublisher:
    """One publisher client shared by the queue and the event publisher of a process."""

    def __init__(
        self,
        client: PublisherClientLike | None = None,
        timeout_seconds: float = PUBLISH_TIMEOUT_SECONDS,
    ) -> None:
        self._client = client
        self._lock = threading.Lock()
        self.timeout_seconds = timeout_seconds
        self.last_publish_ok = True

    @property
    def client(self) -> PublisherClientLike:
        with self._lock:  # created on first use, after gunicorn forked the worker process
            if self._client is None:
                self._client = new_publisher_client()
            return self._client

    def publish(self, topic: str, payload: dict[str, Any], **attributes: str) -> str:
        """Publish JSON and wait for Pub/Sub's message id; Unavailable when it does not come."""
        data = json.dumps(payload, separators=(",", ":")).encode("utf-8")
        try:
            message_id = self.client.publish(topic, data, **attributes).result(
                timeout=self.timeout_seconds
            )
        except Exception as error:  # grpc, api_core and timeout errors all mean "not now"
            self.last_publish_ok = False
            reason = f"{type(error).__name__}: {error}".splitlines()[0][:300]
            log.warning("publish to %s failed: %s", topic, reason)
            raise Unavailable(f"Pub/Sub did not accept the message for {topic}: {reason}") from None
        self.last_publish_ok = True
        return str(message_id)

    def close(self) -> None:
        """Flush what is in flight and stop the client's threads (only if one was created)."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.stop()


class PubSubInquiryQueue:
    """Implements `InquiryQueue`: the inquiry's id goes to INQUIRIES_TOPIC."""

    def __init__(self, publisher: PubSubPublisher, topic: str) -> None:
        self.publisher = publisher
        self.topic = topic

    def publish(self, inquiry_id: str) -> str:
        return self.publisher.publish(self.topic, {"inquiry_id": inquiry_id}, inquiry_id=inquiry_id)

    def ping(self) -> bool:
        """False while the last publish failed. No call to Pub/Sub: the publisher role has no
        permission to read the topic, and a readiness probe should not cost a request."""
        return self.publisher.last_publish_ok


class PubSubEventPublisher:
    """Implements `EventPublisher`: events go to INQUIRY_EVENTS_TOPIC with their id attached."""

    def __init__(self, publisher: PubSubPublisher, topic: str) -> None:
        self.publisher = publisher
        self.topic = topic

    def publish_event(self, event_id: str, event: dict[str, Any]) -> None:
        self.publisher.publish(self.topic, event, event_id=event_id)
