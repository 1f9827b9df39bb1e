"""Builds the services from settings: the one place that picks adapters.

Everything is constructed here from `Settings` (no module-level state), so tests build any
number of independent service sets on their own data directories. Adapters for Google Cloud
are imported only when their backend is selected, keeping the default cold start light.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from app.adapters.http_callback import DisabledCallbackSender, HttpCallbackSender
from app.adapters.local_queue import LocalEventLog, LocalQueue, RetryPolicy
from app.adapters.rules_model import RulesModel
from app.adapters.sqlite_db import Database
from app.adapters.sqlite_store import SqliteStore
from app.agents.conversation import ConversationService
from app.agents.faq import FaqAgent
from app.agents.inquiries import InquiryService
from app.agents.orders import OrderBook
from app.agents.router import HybridRouter
from app.agents.sessions import SessionService
from app.agents.support import SupportAgent
from app.agents.worker import InquiryWorker
from app.ports import CallbackSender, Clock, EventPublisher, InquiryQueue, Model, Store, SystemClock
from app.settings import Settings, SettingsError

log = logging.getLogger(__name__)


class BackendNotAvailable(NotImplementedError):
    """A setting selects a backend this build does not have yet."""


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
    _closers: list[Any] = field(default_factory=list)
    _closed: bool = False

    def readiness(self) -> dict[str, bool]:
        return {"store": self.store.ping(), "queue": self.queue.ping()}

    def housekeeping(self) -> None:
        """Publish inquiries whose publish failed; purge expired state and old acked messages."""
        self.inquiries.requeue_unpublished()
        purged = self.store.purge_expired(self.clock.now())
        if isinstance(self.queue, LocalQueue):
            purged += self.queue.purge()
        if purged:
            log.info("purged %d expired records", purged)

    def start_background(self) -> None:
        """On the worker with the local queue: dispatcher threads that deliver to the worker."""
        if self.settings.agent_role == "worker" and isinstance(self.queue, LocalQueue):
            self.queue.start(self.worker.handle, housekeeping=self.housekeeping)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if isinstance(self.queue, LocalQueue):
            self.queue.stop()
        for closer in self._closers:
            try:
                closer()
            except Exception:
                log.exception("error while closing")
        self.store.close()


def _not_yet(variable: str, value: str) -> BackendNotAvailable:
    return BackendNotAvailable(
        f"{variable}={value}: this backend is not built yet (issue 4); use {variable}=local"
    )


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


def build_services(
    settings: Settings,
    *,
    clock: Clock | None = None,
    model: Model | None = None,
    callbacks: CallbackSender | None = None,
    retry_policy: RetryPolicy | None = None,
) -> AppServices:
    """The services the settings select. Keyword arguments replace one adapter (for tests)."""
    if settings.state_backend != "local":
        raise _not_yet("STATE_BACKEND", settings.state_backend)
    if settings.queue_backend != "local":
        raise _not_yet("QUEUE_BACKEND", settings.queue_backend)

    clock = clock or SystemClock()
    model = model or build_model(settings)
    closers: list[Any] = []
    if callbacks is None:
        if settings.callback_signing_key:
            sender = HttpCallbackSender(settings.callback_signing_key)
            closers.append(sender.close)
            callbacks = sender
        else:
            callbacks = DisabledCallbackSender()

    db = Database(settings.data_dir)
    store = SqliteStore(db)
    policy = retry_policy or RetryPolicy(max_attempts=settings.max_delivery_attempts)
    queue = LocalQueue(db, clock, policy)
    events = LocalEventLog(db, clock)

    orders = OrderBook()
    faq = FaqAgent()
    sessions = SessionService(store, clock, settings.session_ttl_seconds)
    inquiries = InquiryService(
        store,
        queue,
        sessions,
        clock,
        settings.callback_allowed_hosts,
        settings.callback_signing_key,
    )
    router = HybridRouter(faq, SupportAgent(orders))
    conversation = ConversationService(store, sessions, inquiries, router, model, clock)
    worker = InquiryWorker(
        store, events, callbacks, model, orders, clock, settings.max_delivery_attempts
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
        _closers=closers,
    )
