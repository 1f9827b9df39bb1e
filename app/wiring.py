"""Builds the services from settings: the one place that picks adapters.

Everything is constructed here from `Settings` (no module-level state), so tests build any
number of independent service sets on their own data directories. Adapters for Google Cloud
are imported only when their backend is selected, keeping the default cold start light:
STATE_BACKEND=firestore (FirestoreStore), QUEUE_BACKEND=pubsub (topics, pushed to the worker),
REDIS_HOST (a session cache in front of whichever store). A selected backend whose required
variables are missing fails here, at start-up, naming the variable.

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
import threading
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from app.adapters.disabled_callbacks import DisabledCallbackSender
from app.adapters.local_queue import LocalEventLog, LocalQueue
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
from app.live.feed import LiveFeed
from app.live.setup import build_live
from app.ports import CallbackSender, Clock, EventPublisher, InquiryQueue, Model, Store, SystemClock
from app.retry_policy import INQUIRY_LEASE_SECONDS, RetryPolicy
from app.settings import Settings, SettingsError

log = logging.getLogger(__name__)
HOUSEKEEPING_SECONDS = 30.0  # the Housekeeper's default; the worker's comes from the settings


class BackendNotAvailable(NotImplementedError):
    """A setting selects a backend this build does not have."""


class Housekeeper:
    """Runs `task` every `interval` seconds in a daemon thread until stopped.

    The Pub/Sub worker's stand-in for the local queue's dispatcher-driven housekeeping, off
    Cloud Run (see the module docstring for why Cloud Run uses the scheduler instead).
    """

    def __init__(self, task: Any, interval: float = HOUSEKEEPING_SECONDS) -> None:
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


@dataclass
class AppServices:
    """Implements `app.services.Services`; also exposes the adapters for tools and tests."""

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
    live: LiveFeed | None = None  # the api's server-sent event streams (app/live/)
    _closers: list[Any] = field(default_factory=list)
    _closed: bool = False
    _housekeeper: Housekeeper | None = None

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
        purged = self.store.purge_expired(now)
        if isinstance(self.queue, LocalQueue):
            purged += self.queue.purge()
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
        if isinstance(self.queue, LocalQueue):
            self.queue.start(self.worker.handle, housekeeping=self.housekeeping)
        elif self._housekeeper is None and self.settings.housekeeping_interval_seconds > 0:
            self._housekeeper = Housekeeper(
                self.housekeeping, self.settings.housekeeping_interval_seconds
            )
            self._housekeeper.start()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if isinstance(self.queue, LocalQueue):
            self.queue.stop()
        if self._housekeeper is not None:
            self._housekeeper.stop()
        for closer in self._closers:
            try:
                closer()
            except Exception:
                log.exception("error while closing")
        self.store.close()


def build_model(settings: Settings) -> Model:
    if settings.model == "rules":
        return RulesModel()
    if not settings.google_cloud_project:
        raise SettingsError("GOOGLE_CLOUD_PROJECT: required when MODEL=gemini")
    from app.adapters.gemini_model import GeminiModel  # imports google.genai

    return GeminiModel(
        project=settings.google_cloud_project,
        location=settings.gemini_location,
        model=settings.gemini_model,
    )


def _require(settings_value: Any, variable: str, because: str) -> None:
    if settings_value is None or (isinstance(settings_value, str) and not settings_value.strip()):
        raise SettingsError(f"{variable}: required when {because}")


def local_retry_policy(
    settings: Settings, lease_seconds: float = INQUIRY_LEASE_SECONDS
) -> RetryPolicy:
    """The local queue's retry policy: the Terraform subscription's (RetryPolicy's defaults)
    with MAX_DELIVERY_ATTEMPTS.

    A delivery that died or could not give the inquiry's lease back leaves it held for
    `lease_seconds`; the deliveries after it get RETRY, each one an attempt. Attempts too few
    for the retries to outlast that lease would dead-letter the message while the lease is
    still held, leaving the inquiry unfinished, so they are refused here, at start-up.
    """
    policy = RetryPolicy(max_attempts=settings.max_delivery_attempts)
    if not policy.waits_out(lease_seconds):
        fewest = policy.fewest_attempts_waiting_out(lease_seconds)
        allowed = f"at least {fewest}" if fewest is not None else "more than this policy allows"
        raise SettingsError(
            f"MAX_DELIVERY_ATTEMPTS: must be {allowed} with QUEUE_BACKEND=local: the local"
            f" queue retries after {policy.min_backoff_seconds:g} s, doubling up to"
            f" {policy.max_backoff_seconds:g} s, and its last attempt must come after the"
            f" worker's {lease_seconds:g} s inquiry lease has run out,"
            f" got {settings.max_delivery_attempts}"
        )
    return policy


def check_backend_settings(settings: Settings) -> None:
    """Every variable the selected backends need, checked before anything is built."""
    if settings.queue_backend == "local":
        local_retry_policy(settings)
    if settings.state_backend == "firestore":
        _require(settings.google_cloud_project, "GOOGLE_CLOUD_PROJECT", "STATE_BACKEND=firestore")
        _require(settings.firestore_database, "FIRESTORE_DATABASE", "STATE_BACKEND=firestore")
    if settings.queue_backend == "pubsub":
        from app.adapters.pubsub_publisher import check_topic_path

        check_topic_path("INQUIRIES_TOPIC", settings.inquiries_topic)
        check_topic_path("INQUIRY_EVENTS_TOPIC", settings.inquiry_events_topic)
    if not settings.redis_host:
        for variable, value in (
            ("REDIS_AUTH", settings.redis_auth),
            ("REDIS_CA_CERT", settings.redis_ca_cert),
        ):
            if value:
                raise SettingsError(f"REDIS_HOST: required when {variable} is set")
    elif settings.redis_ca_cert and "-----BEGIN CERTIFICATE-----" not in settings.redis_ca_cert:
        raise SettingsError(
            "REDIS_CA_CERT: must be a PEM certificate (-----BEGIN CERTIFICATE-----)"
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
        from app.adapters.redis_cache import CachedStore, connect_redis

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


def build_pubsub(settings: Settings, closers: list[Any]) -> tuple[InquiryQueue, EventPublisher]:
    """The inquiry queue and event publisher on Pub/Sub topics, sharing one client."""
    from app.adapters.pubsub_publisher import (
        PubSubEventPublisher,
        PubSubInquiryQueue,
        PubSubPublisher,
    )

    publisher = PubSubPublisher()
    closers.append(publisher.close)
    assert settings.inquiries_topic and settings.inquiry_events_topic  # checked above
    return (
        PubSubInquiryQueue(publisher, settings.inquiries_topic),
        PubSubEventPublisher(publisher, settings.inquiry_events_topic),
    )


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
    benchmarks); a `retry_policy` given is taken as is, without `local_retry_policy`'s check,
    and a `store` as is, with no cache in front (a Firestore store whose client counts its
    calls, say)."""
    check_backend_settings(settings)
    clock = clock or SystemClock()
    model = model or build_model(settings)
    closers: list[Any] = []
    if callbacks is None:
        if settings.callback_signing_key:
            from app.adapters.http_callback import HttpCallbackSender  # requests, ~30 ms

            sender = HttpCallbackSender.from_settings(settings)
            closers.append(sender.close)
            callbacks = sender
        else:
            callbacks = DisabledCallbackSender()

    db = None
    if settings.state_backend == "local" or settings.queue_backend == "local":
        db = Database(settings.data_dir)
    if store is None:
        store = build_store(settings, db)
    store, live = build_live(settings, store, clock, closers)  # announces every new message
    if db is not None and settings.state_backend != "local":
        closers.append(db.close)  # the local queue's file; the store closes its own
    if settings.queue_backend == "pubsub":
        queue, events = build_pubsub(settings, closers)
    else:
        assert db is not None
        policy = retry_policy or local_retry_policy(settings)
        queue = LocalQueue(db, clock, policy)
        events = LocalEventLog(db, clock)

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
        live=live,
        _closers=closers,
    )
