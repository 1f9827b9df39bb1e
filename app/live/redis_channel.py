"""Live notifications across processes: Redis pub/sub, when the session cache's Redis is set.

Why: the worker (another Cloud Run service) appends an inquiry's result, and another api
instance may hold the customer's stream; the in-process hub cannot reach either. Every write
that adds messages publishes the session id (nothing else) on one channel; each api process
subscribes once, in a background thread started with its first stream, and wakes its streams of
that session. Redis pub/sub delivers at most once and only to connected subscribers, so a
notification can be lost (a reconnect, a Redis restart): after every (re)subscription all
streams re-read, and each stream's poll remains the safety net.

Never fails a request: a publish that fails is logged, and a circuit breaker keeps a dead Redis
out of the write path for a growing pause, as in the session cache.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Any

from app.adapters.redis_client import CircuitBreaker
from app.live.hub import Hub

log = logging.getLogger(__name__)

CHANNEL = "agents:live:sessions"
LISTEN_SECONDS = 1.0  # how often the listener checks whether it should stop
RETRY_SECONDS, RETRY_CAP_SECONDS = 0.5, 30.0


def _redis_errors() -> tuple[type[Exception], ...]:
    import redis

    return (redis.RedisError, OSError)


class RedisChannel:
    """`notify(session_id)`: wake this process's streams and publish to the others."""

    def __init__(
        self,
        client: Any,
        hub: Hub,
        channel: str = CHANNEL,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.client = client
        self.hub = hub
        self.channel = channel
        self.breaker = breaker or CircuitBreaker()
        self._errors = _redis_errors()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.subscribed = threading.Event()  # set while the listener is subscribed

    def notify(self, session_id: str) -> None:
        self.hub.notify(session_id)
        if not self.breaker.allow():
            return
        try:
            self.client.publish(self.channel, session_id)
        except self._errors as error:
            self.breaker.failure(error)
            return
        self.breaker.success()

    def start(self) -> None:
        """Start listening (once; a no-op afterwards and after `close`)."""
        with self._lock:
            if self._thread is not None or self._stop.is_set():
                return
            self._thread = threading.Thread(target=self._listen, name="live-redis", daemon=True)
            self._thread.start()

    def _listen(self) -> None:
        pause = RETRY_SECONDS
        while not self._stop.is_set():
            pubsub = self.client.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(self.channel)
                self.subscribed.set()
                self.hub.notify_all()  # whatever was published while not subscribed
                pause = RETRY_SECONDS
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=LISTEN_SECONDS)
                    if message and message.get("type") == "message":
                        self.hub.notify(_text(message.get("data")))
            except self._errors as error:
                log.warning("live: redis channel lost, resubscribing in %.1fs: %s", pause, error)
            finally:
                self.subscribed.clear()
                with contextlib.suppress(*self._errors):
                    pubsub.close()
            self._stop.wait(pause)
            pause = min(RETRY_CAP_SECONDS, pause * 2)

    def close(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(LISTEN_SECONDS + 1)


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
