"""A stand-in for google-cloud-pubsub's PublisherClient: records publishes, fails on demand."""

from __future__ import annotations

import json
from typing import Any


class _Done:
    """What `publish` returns: a future whose result is the message id, or the failure."""

    def __init__(self, value: Any = None, error: Exception | None = None) -> None:
        self.value, self.error = value, error

    def result(self, timeout: float | None = None) -> Any:
        if self.error is not None:
            raise self.error
        return self.value


class FakePublisherClient:
    """Records publishes; `failures` holds exceptions for the next publishes to raise."""

    def __init__(self) -> None:
        self.published: list[tuple[str, dict, dict]] = []
        self.failures: list[Exception] = []
        self.attempts = 0
        self.stopped = False

    def publish(self, topic: str, data: bytes, **attrs: Any) -> _Done:
        self.attempts += 1
        if self.failures:
            return _Done(error=self.failures.pop(0))
        self.published.append((topic, json.loads(data), attrs))
        return _Done(value=f"msg-{self.attempts}")

    def stop(self) -> None:
        self.stopped = True

    def to(self, topic: str) -> list[dict]:
        """The payloads published to `topic`, in order."""
        return [payload for t, payload, _ in self.published if t == topic]
