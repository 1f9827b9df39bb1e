"""The cache's circuit breaker: a dead Redis is skipped for a growing pause, then probed once."""

from __future__ import annotations

from app.adapters.redis_client import CircuitBreaker


class Ticks:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_closed_until_a_failure_then_open_for_the_pause():
    ticks = Ticks()
    breaker = CircuitBreaker(base_seconds=1, cap_seconds=8, clock=ticks)
    assert breaker.allow() and breaker.allow()
    breaker.failure(ConnectionError("refused"))
    assert not breaker.allow()
    ticks.now += 0.9
    assert not breaker.allow()
    ticks.now += 0.2
    assert breaker.allow()  # the probe


def test_only_one_caller_probes_and_each_failure_doubles_the_pause_up_to_the_cap():
    ticks = Ticks()
    breaker = CircuitBreaker(base_seconds=1, cap_seconds=4, clock=ticks)
    pauses = []
    for _ in range(5):
        breaker.failure(TimeoutError("timed out"))
        pauses.append(breaker.open_until - ticks.now)
        ticks.now = breaker.open_until
        assert breaker.allow()  # this caller probes ...
        assert not breaker.allow()  # ... and the next one keeps using the store
    assert pauses == [1, 2, 4, 4, 4]


def test_a_success_closes_it_and_resets_the_pause():
    ticks = Ticks()
    breaker = CircuitBreaker(base_seconds=1, cap_seconds=30, clock=ticks)
    for _ in range(3):
        breaker.failure(OSError("down"))
    ticks.now = breaker.open_until
    assert breaker.allow()
    breaker.success()
    assert breaker.allow() and breaker.allow() and not breaker.is_open
    breaker.failure(OSError("down again"))
    assert breaker.open_until - ticks.now == 1
