"""Time, as the agents read it: a port so tests move the clock by hand."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from app.domain.records import utcnow


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""


class SystemClock:
    """The wall clock; tests pass a clock they move by hand instead."""

    def now(self) -> datetime:
        return utcnow()
