"""The two ways inquiries travel from the api to the worker, one object each (QUEUE_BACKEND).

- `LocalQueueBackend`: the local queue and event log on the SQLite file. On the worker its
  dispatcher threads deliver queued inquiries to the worker's handler and run housekeeping;
  housekeeping also purges its acknowledged messages.
- `PubSubBackend`: Pub/Sub topics, pushed to the worker by Pub/Sub itself. Off Cloud Run the
  worker runs housekeeping in a `Housekeeper` thread every HOUSEKEEPING_INTERVAL_SECONDS;
  on Cloud Run (0) Cloud Scheduler calls POST /tasks/housekeeping instead.

Google Cloud's client is imported only when the Pub/Sub backend is built.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Protocol

from app.adapters.local_queue import LocalEventLog, LocalQueue
from app.adapters.sqlite_db import Database
from app.config.retry_policy import RetryPolicy
from app.config.settings import Settings
from app.ports.clock import Clock
from app.ports.messaging import EventPublisher, Handler, InquiryQueue

log = logging.getLogger(__name__)
HOUSEKEEPING_SECONDS = 30.0  # the Housekeeper's default; the worker's comes from the settings


class Housekeeper:
    """Runs `task` every `interval` seconds in a daemon thread until stopped.

    The Pub/Sub worker's stand-in for the local queue's dispatcher-driven housekeeping, off
    Cloud Run (see app/wiring.py's docstring for why Cloud Run uses the scheduler instead).
    """

    def __init__(self, task: Callable[[], object], interval: float = HOUSEKEEPING_SECONDS) -> None:
        self.task = task
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="housekeeping", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.task()
            except Exception:  # the next round tries again
                log.exception("housekeeping failed")

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None


class QueueBackend(Protocol):
    """The inquiry queue and event publisher of one backend, and what the worker runs beside
    requests with it."""

    @property
    def queue(self) -> InquiryQueue: ...

    @property
    def events(self) -> EventPublisher: ...

    def purge(self) -> int:
        """Housekeeping's share: delete what the backend keeps past its use; how many."""

    def start(self, handle: Handler, housekeeping: Callable[[], object]) -> None:
        """On the worker: start delivering (`handle`) and housekeeping, as the backend needs."""

    def stop(self) -> None:
        """Stop what `start` started; safe to call twice."""


class LocalQueueBackend:
    """QUEUE_BACKEND=local: the local queue's dispatcher delivers and runs housekeeping."""

    def __init__(self, db: Database, clock: Clock, policy: RetryPolicy) -> None:
        self._queue = LocalQueue(db, clock, policy)
        self._events = LocalEventLog(db, clock)

    @property
    def queue(self) -> LocalQueue:
        return self._queue

    @property
    def events(self) -> LocalEventLog:
        return self._events

    def purge(self) -> int:
        return self._queue.purge()

    def start(self, handle: Handler, housekeeping: Callable[[], object]) -> None:
        self._queue.start(handle, housekeeping=housekeeping)

    def stop(self) -> None:
        self._queue.stop()


class PubSubBackend:
    """QUEUE_BACKEND=pubsub: topics sharing one publisher client; Pub/Sub pushes by itself, so
    the worker only runs housekeeping, in a thread, when HOUSEKEEPING_INTERVAL_SECONDS > 0."""

    def __init__(self, settings: Settings, closers: list[Callable[[], Any]]) -> None:
        from app.adapters.pubsub_publisher import (
            PubSubEventPublisher,
            PubSubInquiryQueue,
            PubSubPublisher,
        )

        publisher = PubSubPublisher()
        closers.append(publisher.close)
        assert settings.inquiries_topic and settings.inquiry_events_topic  # checked by Settings
        self._queue = PubSubInquiryQueue(publisher, settings.inquiries_topic)
        self._events = PubSubEventPublisher(publisher, settings.inquiry_events_topic)
        self.interval = settings.housekeeping_interval_seconds
        self.housekeeper: Housekeeper | None = None

    @property
    def queue(self) -> InquiryQueue:
        return self._queue

    @property
    def events(self) -> EventPublisher:
        return self._events

    def purge(self) -> int:
        return 0

    def start(self, handle: Handler, housekeeping: Callable[[], object]) -> None:
        if self.housekeeper is None and self.interval > 0:
            self.housekeeper = Housekeeper(housekeeping, self.interval)
            self.housekeeper.start()

    def stop(self) -> None:
        if self.housekeeper is not None:
            self.housekeeper.stop()
