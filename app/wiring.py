"""Builds the services from settings: the one place that picks adapters.

Everything is constructed here from `Settings` (no module-level state), so tests build any
number of independent service sets on their own data directories. Adapters for Google Cloud
are imported only when their backend is selected, keeping the default cold start light:
STATE_BACKEND=firestore (FirestoreStore), QUEUE_BACKEND=pubsub (topics, pushed to the worker),
REDIS_HOST (a session cache in front of whichever store). A selected backend whose required
variables are missing fails here, at start-up, naming the variable (`Settings.check_backends`).
Each queue backend is one object (app/adapters/queue_backends.py).

Housekeeping (publishing inquiries whose publish failed, purging expired state, counting the
inquiries left queued too long) runs on the worker, one pass at a time (`AppServices.housekeeping`):
- with the local queue, inside its dispatcher threads (`make run`);
- on request, `POST /tasks/housekeeping` (push identity only), which Cloud Scheduler calls
  every few minutes on Cloud Run;
- with Pub/Sub off Cloud Run (the emulators), in a background thread that the worker starts
  after gunicorn forks (`start_background`), every HOUSEKEEPING_INTERVAL_SECONDS.

On Cloud Run the infra sets HOUSEKEEPING_INTERVAL_SECONDS=0, so the scheduler is the only
driver. The thread is no complement there: with cpu_idle the instance has CPU only while a
request is in flight (and dev scales to zero), so the thread cannot be relied on; when it runs
it takes CPU from that request, and a pass throttled mid-publish times out, logs a false
failure and can publish twice. Each instance would also repeat the same store queries. The
scheduler's runs are one driver per environment, each logged with its status and counts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from app.adapters.disabled_callbacks import DisabledCallbackSender
from app.adapters.queue_backends import LocalQueueBackend, PubSubBackend, QueueBackend
from app.adapters.rules_model import RulesModel
from app.adapters.sqlite_db import Database
from app.adapters.sqlite_store import SqliteStore
from app.agents.conversation import ConversationService
from app.agents.faq import FaqAgent
from app.agents.handoffs import HandoffService
from app.agents.inquiries import InquiryService
from app.agents.orders import OrderBook
from app.agents.policy import StorePolicy
from app.agents.router import HybridRouter
from app.agents.sessions import WINDOW, SessionService
from app.agents.support import SupportAgent
from app.agents.worker import InquiryWorker
from app.config.retry_policy import RetryPolicy
from app.config.settings import Settings
from app.live.feed import LiveFeed
from app.live.setup import build_live
from app.ports.clock import Clock, SystemClock
from app.ports.messaging import CallbackSender, EventPublisher, InquiryQueue
from app.ports.model import Model
from app.ports.store import Store

log = logging.getLogger(__name__)


class BackendNotAvailable(NotImplementedError):
    """A setting selects a backend this build does not have."""


@dataclass
class AppServices:
    """Implements `app.ports.services.Services`; also exposes the adapters for tools and tests."""

    settings: Settings
    clock: Clock
    store: Store
    queue: InquiryQueue
    events: EventPublisher
    model: Model
    faq: FaqAgent
    sessions: SessionService
    conversation: ConversationService
    inquiries: InquiryService
    worker: InquiryWorker
    handoffs: HandoffService
    messaging: QueueBackend  # the queue and event publisher, and what runs beside them
    live: LiveFeed | None = None  # the api's server-sent event streams (app/live/)
    _closers: list[Any] = field(default_factory=list)
    _closed: bool = False

    def readiness(self) -> dict[str, bool]:
        return {"store": self.store.ping(), "queue": self.queue.ping()}

    def housekeeping(self, stale_after: timedelta | None = None) -> dict[str, int]:
        """One pass: publish inquiries whose publish failed; purge expired state and old acked
        messages; count the inquiries still `queued` longer than `stale_after` (default
        STALE_QUEUED_AFTER_SECONDS) and the customers waiting for a person longer than
        HANDOFF_WAIT_ALERT_SECONDS.

        Returns the counts `republished`, `republish_failed` (1 when a publish failed again,
        which POST /tasks/housekeeping answers with a 503 so that Cloud Scheduler retries and
        the worker's 5xx alert sees it), `purged`, `stale_queued` (counted up to 1000: an
        inquiry nobody works on, whether its publish failed or its deliveries do) and
        `handoffs_waiting_too_long` (counted up to 1000: no team member has joined). Logged on
        one line, jsonPayload event="housekeeping", which the observability module's
        stale-queued and handoff-wait metrics read: at WARNING when something is wrong, at
        DEBUG when idle.
        """
        if stale_after is None:
            stale_after = timedelta(seconds=self.settings.stale_queued_after_seconds)
        wait_alert = timedelta(seconds=self.settings.handoff_wait_alert_seconds)
        now = self.clock.now()
        republished, republish_failed = self.inquiries.requeue_unpublished()
        purged = self.store.purge_expired(now) + self.messaging.purge()
        stale_queued = self.store.count_queued_inquiries(now - stale_after, 1000)
        waiting = self.store.count_waiting_handoffs(now - wait_alert, now, 1000)
        summary = {
            "republished": republished,
            "republish_failed": republish_failed,
            "purged": purged,
            "stale_queued": stale_queued,
            "handoffs_waiting_too_long": waiting,
        }
        level = logging.DEBUG
        if republish_failed or stale_queued or waiting:
            level = logging.WARNING
        elif republished or purged:
            level = logging.INFO
        seconds = int(stale_after.total_seconds())
        fields = {
            "event": "housekeeping",
            **summary,
            "stale_after_seconds": seconds,
            "handoff_wait_alert_seconds": self.settings.handoff_wait_alert_seconds,
        }
        log.log(
            level,
            "housekeeping: republished %d (%d failed), purged %d, %d queued for over %d s,"
            " %d waiting for a person for over %d s",
            republished,
            republish_failed,
            purged,
            stale_queued,
            seconds,
            waiting,
            self.settings.handoff_wait_alert_seconds,
            extra={"json_fields": fields},
        )
        return summary

    def start_background(self) -> None:
        """On the worker: with the local queue, dispatcher threads that deliver to the worker
        (and run housekeeping); with Pub/Sub, which pushes by itself, a housekeeping thread
        unless HOUSEKEEPING_INTERVAL_SECONDS is 0 (Cloud Run, where the scheduler calls)."""
        if self.settings.agent_role != "worker" or self._closed:
            return
        self.messaging.start(self.worker.handle, housekeeping=self.housekeeping)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.messaging.stop()
        for closer in self._closers:
            try:
                closer()
            except Exception:
                log.exception("error while closing")
        self.store.close()


def build_model(settings: Settings) -> Model:
    if settings.model == "rules":
        return RulesModel()
    project = settings.gemini_project()
    from app.adapters.gemini_model import GeminiModel  # imports google.genai

    return GeminiModel(
        project=project,
        location=settings.gemini_location,
        model=settings.gemini_model,
    )


def build_store(settings: Settings, db: Database | None) -> Store:
    """The durable store the settings select, behind the Redis session cache when REDIS_HOST
    is set (on both roles: the worker's writes must replace the cache's tokens too)."""
    store: Store
    if settings.state_backend == "firestore":
        try:
            from app.adapters.firestore_store import FirestoreStore
        except ImportError as missing:
            raise BackendNotAvailable(
                f"STATE_BACKEND=firestore: the Firestore adapter cannot be loaded ({missing})"
            ) from None
        store = FirestoreStore.from_settings(settings)
    else:
        assert db is not None
        store = SqliteStore(db)
    if settings.redis_host:
        from app.adapters.redis_cache import CachedStore
        from app.adapters.redis_client import connect_redis

        client = connect_redis(
            settings.redis_host, settings.redis_port, settings.redis_auth, settings.redis_ca_cert
        )
        # The window GET /v1/sessions/{id} shows: all the cache holds of a session's messages.
        store = CachedStore(store, client, settings.redis_cache_ttl_seconds, window=WINDOW)
        log.info(
            "session cache: redis %s:%d (tls=%s)",
            settings.redis_host,
            settings.redis_port,
            bool(settings.redis_ca_cert),
        )
    return store


def build_callbacks(settings: Settings, closers: list[Any]) -> CallbackSender:
    """Signed callbacks when CALLBACK_SIGNING_KEY is set; otherwise none are sent."""
    if not settings.callback_signing_key:
        return DisabledCallbackSender()
    from app.adapters.http_callback import HttpCallbackSender  # requests, ~30 ms

    sender = HttpCallbackSender.from_settings(settings)
    closers.append(sender.close)
    return sender


def build_messaging(
    settings: Settings,
    db: Database | None,
    clock: Clock,
    retry_policy: RetryPolicy | None,
    closers: list[Any],
) -> QueueBackend:
    """The queue backend QUEUE_BACKEND selects (the local one on the SQLite file `db`)."""
    if settings.queue_backend == "pubsub":
        return PubSubBackend(settings, closers)
    assert db is not None
    return LocalQueueBackend(db, clock, retry_policy or settings.local_retry_policy())


def build_services(
    settings: Settings,
    *,
    clock: Clock | None = None,
    model: Model | None = None,
    callbacks: CallbackSender | None = None,
    retry_policy: RetryPolicy | None = None,
    store: Store | None = None,
) -> AppServices:
    """The services the settings select. Keyword arguments replace one adapter (for tests and
    benchmarks); a `retry_policy` given is taken as is, without the check of
    `Settings.local_retry_policy`, and a `store` as is, with no cache in front (a Firestore
    store whose client counts its calls, say)."""
    settings.check_backends()
    clock = clock or SystemClock()
    model = model or build_model(settings)
    closers: list[Any] = []
    if callbacks is None:
        callbacks = build_callbacks(settings, closers)

    db = None
    if settings.state_backend == "local" or settings.queue_backend == "local":
        db = Database(settings.data_dir)
    if store is None:
        store = build_store(settings, db)
    store, live = build_live(settings, store, clock, closers)  # announces every new message
    if db is not None and settings.state_backend != "local":
        closers.append(db.close)  # the local queue's file; the store closes its own
    messaging = build_messaging(settings, db, clock, retry_policy, closers)
    services = build_agents(settings, store, messaging, clock, model, callbacks)
    services.live = live
    services._closers = closers
    return services


def build_agents(
    settings: Settings,
    store: Store,
    messaging: QueueBackend,
    clock: Clock,
    model: Model,
    callbacks: CallbackSender,
) -> AppServices:
    """The agents on the adapters chosen, wired to one another."""
    queue, events = messaging.queue, messaging.events
    orders = OrderBook(today=clock.now().date())
    policy = StorePolicy(settings.return_window_days, settings.not_delivered_grace_days)
    faq = FaqAgent()
    sessions = SessionService(
        store,
        clock,
        settings.session_ttl_seconds,
        settings.session_max_messages,
        settings.session_max_age,
    )
    inquiries = InquiryService(
        store,
        queue,
        sessions,
        orders,
        clock,
        settings.callback_allowed_hosts,
        settings.callback_signing_key,
    )
    router = HybridRouter(faq, SupportAgent(orders, store, policy))
    conversation = ConversationService(store, sessions, inquiries, router, model, clock, events)
    worker = InquiryWorker(
        store,
        events,
        callbacks,
        model,
        orders,
        clock,
        settings.max_delivery_attempts,
        policy=policy,
        session_max_messages=settings.session_max_messages,
    )
    return AppServices(
        settings=settings,
        clock=clock,
        store=store,
        queue=queue,
        events=events,
        model=model,
        faq=faq,
        sessions=sessions,
        conversation=conversation,
        inquiries=inquiries,
        worker=worker,
        handoffs=HandoffService(store, sessions, clock),
        messaging=messaging,
    )
