"""In-process wake-ups for live streams: one condition per session that a stream watches.

Why a version counter and not a bare Event: a stream notes the version before it reads the
store, so a notification that lands between its read and its wait is never lost (the wait
returns at once). Only the streams of the notified session wake; a session nobody watches
costs one dictionary lookup per notification. `close` wakes every stream for good (the
process is stopping: streams end and their clients reconnect elsewhere).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(eq=False)
class _Slot:
    condition: threading.Condition
    version: int = 0
    watchers: int = 0


class Watch:
    """One stream's view of its session's slot: `wait` until notified or `timeout`."""

    def __init__(self, hub: Hub, slot: _Slot) -> None:
        self._hub = hub
        self._slot = slot
        self._seen = slot.version

    def wait(self, timeout: float) -> bool:
        """True when the session was notified since the last call (or the hub closed);
        False when `timeout` seconds passed without."""
        deadline = time.monotonic() + max(0.0, timeout)
        with self._slot.condition:
            while self._slot.version == self._seen and not self._hub.closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._slot.condition.wait(left)
            self._seen = self._slot.version
            return True


class Hub:
    """Notifications by session id, to the streams of this process that watch it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._slots: dict[str, _Slot] = {}
        self.closed = False

    @contextmanager
    def watch(self, session_id: str) -> Iterator[Watch]:
        """Watch `session_id` for as long as the block runs."""
        with self._lock:
            slot = self._slots.get(session_id)
            if slot is None:
                slot = self._slots[session_id] = _Slot(threading.Condition(self._lock))
            slot.watchers += 1
            watch = Watch(self, slot)
        try:
            yield watch
        finally:
            with self._lock:
                slot.watchers -= 1
                if slot.watchers == 0 and self._slots.get(session_id) is slot:
                    del self._slots[session_id]

    def notify(self, session_id: str) -> None:
        """Wake the streams of `session_id` (new messages may be there)."""
        with self._lock:
            slot = self._slots.get(session_id)
            if slot is not None:
                slot.version += 1
                slot.condition.notify_all()

    def notify_all(self) -> None:
        """Wake every stream to re-read (notifications may have been missed)."""
        with self._lock:
            for slot in self._slots.values():
                slot.version += 1
                slot.condition.notify_all()

    def watched(self) -> int:
        """How many sessions have a stream open here."""
        with self._lock:
            return len(self._slots)

    def close(self) -> None:
        """Wake every stream for good: the process is stopping."""
        with self._lock:
            self.closed = True
            for slot in self._slots.values():
                slot.condition.notify_all()
