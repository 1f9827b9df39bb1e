"""The Redis connection the cache and the live channel share: short timeouts, no retries, and a
circuit breaker that keeps a dead Redis out of the request path for a growing pause (1 s
doubling to 30 s), probing with one request at a time."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

SOCKET_TIMEOUT_SECONDS = 0.25


class CircuitBreaker:
    """Closed while Redis answers; after a failure, open for a pause that doubles (capped).

    When a pause ends, one caller probes; the others keep skipping Redis until it succeeds.
    """

    def __init__(
        self,
        base_seconds: float = 1.0,
        cap_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base = base_seconds
        self.cap = cap_seconds
        self.clock = clock
        self.failures = 0
        self.open_until = 0.0
        self._lock = threading.Lock()

    def _pause(self) -> float:
        pause: float = min(self.cap, self.base * 2 ** max(0, self.failures - 1))
        return pause

    def allow(self) -> bool:
        with self._lock:
            now = self.clock()
            if now < self.open_until:
                return False
            if self.failures:  # a probe: hold the others off as if it will fail
                self.open_until = now + self._pause()
            return True

    def success(self) -> None:
        with self._lock:
            if self.failures:
                log.info("redis cache reachable again after %d failure(s)", self.failures)
            self.failures = 0
            self.open_until = 0.0

    def failure(self, error: Exception) -> None:
        with self._lock:
            self.failures += 1
            self.open_until = self.clock() + self._pause()
            pause = self._pause()
        log.warning("redis cache unavailable, using the store for %.0fs: %s", pause, error)

    @property
    def is_open(self) -> bool:
        return self.clock() < self.open_until


def connect_redis(
    host: str,
    port: int,
    password: str | None = None,
    ca_cert_pem: str | None = None,
    timeout_seconds: float = SOCKET_TIMEOUT_SECONDS,
) -> Any:
    """A redis-py client with short timeouts and no retries of its own (the breaker decides).

    With `ca_cert_pem` (Memorystore with in-transit encryption, port 6378) it speaks TLS and
    verifies the server against that CA. Nothing connects until the first command.
    """
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    tls: dict[str, Any] = {}
    if ca_cert_pem:
        tls = {"ssl": True, "ssl_ca_data": ca_cert_pem, "ssl_cert_reqs": "required"}
    return redis.Redis(
        host=host,
        port=port,
        password=password or None,
        socket_timeout=timeout_seconds,
        socket_connect_timeout=timeout_seconds,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=30,
        client_name="agents-session-cache",
        **tls,
    )


def redis_errors() -> tuple[type[Exception], ...]:
    import redis

    return (redis.RedisError, OSError)
