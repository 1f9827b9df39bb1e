"""The inquiry worker: one delivery in, the work done once, every side effect done once.

Deliveries are at least once and may arrive twice at the same moment. The worker therefore
  1. takes the inquiry's lease in the store (a second delivery while it is held gets RETRY);
  2. if the inquiry is not final: marks it running, does the work, stores result and status;
  3. performs each side effect unless the store records it as done (as of the claim, which
     reads the markers with the lease): the session message (written once by its dedupe key,
     in one transaction with its marker), the inquiry event (deduplicated by its id) and the
     callback (carrying the inquiry id as Idempotency-Key, recorded once delivered);
  4. gives the lease back, recording the inquiry as settled when all of that is done.
A crash anywhere leaves a state from which the next delivery carries on without repeating
what is recorded. RETRY is answered only for what can succeed later (a busy lease, a backend
that does not answer, a callback receiver that asks to retry); on the last delivery attempt
the worker gives up explicitly (the inquiry fails, the callback is recorded as given up).

The work acts on the data of the inquiry's owner only (its `customer_id`): a refund review of
another customer's order fails as an unknown order. An erasure posts nothing anywhere: the
customer's data is gone, and nothing about it should go out again.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any
from uuid import uuid4

from app.agents.erasure import ERASURE, erase
from app.agents.orders import OrderBook
from app.agents.policy import StorePolicy
from app.agents.reviews import (
    InquiryFailed,
    account_export,
    refund_review,
    settle_refund,
    summarize,
)
from app.config.retry_policy import INQUIRY_LEASE_SECONDS
from app.domain.errors import AppError
from app.domain.leases import ClaimState, LeaseLost
from app.domain.records import Delivery, DeliveryResult, Inquiry, InquiryStatus, Route, isoformat
from app.logs.setup import log_inquiry_state
from app.ports.clock import Clock
from app.ports.messaging import CallbackOutcome, CallbackSender, EventPublisher
from app.ports.model import Model
from app.ports.store import EffectMark, NewMessage, SessionFull, Store

log = logging.getLogger(__name__)

SESSION_MESSAGE, EVENT, CALLBACK = "session_message", "event", "callback"
SESSION_FULL = "session_full"  # the session message's outcome when the session had no room


class InquiryWorker:
    """Implements `app.ports.services.InquiryWorkerPort`."""

    def __init__(
        self,
        store: Store,
        events: EventPublisher,
        callbacks: CallbackSender,
        model: Model,
        orders: OrderBook,
        clock: Clock,
        max_delivery_attempts: int,
        lease_seconds: float = INQUIRY_LEASE_SECONDS,
        policy: StorePolicy | None = None,
        session_max_messages: int | None = None,
    ) -> None:
        self.store = store
        self.events = events
        self.callbacks = callbacks
        self.model = model
        self.orders = orders
        self.policy = policy or StorePolicy()
        self.clock = clock
        self.max_attempts = max_delivery_attempts
        self.lease = timedelta(seconds=lease_seconds)
        self.session_max_messages = session_max_messages

    def handle(self, delivery: Delivery) -> DeliveryResult:
        last_attempt = delivery.attempt >= self.max_attempts
        holder = f"{delivery.message_id}:{uuid4().hex[:12]}"
        try:
            now = self.clock.now()
            claim = self.store.claim_inquiry(delivery.inquiry_id, holder, now, now + self.lease)
        except AppError as exc:
            log.warning("store unavailable, delivery will be retried: %s", exc.detail)
            return DeliveryResult.RETRY
        if claim.state is ClaimState.MISSING:
            log.warning("delivery for an unknown inquiry acknowledged", extra=_fields(delivery))
            return DeliveryResult.ACK
        if claim.state is ClaimState.SETTLED:
            return DeliveryResult.ACK
        if claim.state is ClaimState.BUSY:
            return DeliveryResult.RETRY
        assert claim.inquiry is not None
        inquiry = claim.inquiry
        settled = False
        try:
            if not inquiry.status.is_final:
                log_inquiry_state(inquiry, delivery.attempt)
                outcome = self._work(inquiry, last_attempt)
                if outcome is None:
                    return DeliveryResult.RETRY
                status, result, error = outcome
                inquiry = self.store.finish_inquiry(
                    inquiry.id, holder, status, result, error, self.clock.now()
                )
                log_inquiry_state(inquiry, delivery.attempt)
            settled = self._side_effects(inquiry, claim.effects, last_attempt)
            return DeliveryResult.ACK if settled else DeliveryResult.RETRY
        except LeaseLost:
            log.warning("lease lost to another delivery", extra=_fields(delivery))
            return DeliveryResult.RETRY
        except AppError as exc:
            log.warning("backend unavailable, delivery will be retried: %s", exc.detail)
            return DeliveryResult.RETRY
        finally:
            self._release(inquiry.id, holder, settled)

    def _work(
        self, inquiry: Inquiry, last_attempt: bool
    ) -> tuple[InquiryStatus, dict[str, Any] | None, str | None] | None:
        """(status, result, error), or None when a transient failure should be retried."""
        work = WORK.get(inquiry.kind)
        if work is None:
            return InquiryStatus.FAILED, None, f"unknown inquiry kind {inquiry.kind!r}"
        owner = inquiry.customer_id
        if owner is None:
            return (
                InquiryStatus.FAILED,
                None,
                "the inquiry records no customer (stored before owners were)",
            )
        try:
            return InquiryStatus.SUCCEEDED, work(self, inquiry, owner), None
        except InquiryFailed as exc:
            return InquiryStatus.FAILED, None, str(exc)
        except AppError as exc:
            if last_attempt:
                return (
                    InquiryStatus.FAILED,
                    None,
                    f"gave up after {inquiry.attempts} attempts: {exc.detail}",
                )
            log.warning("inquiry work will be retried: %s", exc.detail)
            return None

    def _side_effects(self, inquiry: Inquiry, done: frozenset[str], last_attempt: bool) -> bool:
        """Do what is not `done` yet (the markers the claim read under this lease, which no
        one else records while it is held); True when nothing is left to do."""
        if inquiry.kind == ERASURE:
            return True  # posts nothing anywhere
        now = self.clock.now()
        if inquiry.session_id and SESSION_MESSAGE not in done:
            text = summarize(inquiry.kind, inquiry.result, inquiry.error)
            data = {"inquiry_id": inquiry.id, "kind": inquiry.kind, "status": inquiry.status.value}
            message = NewMessage(
                role="system", text=self._word(text, data), route=Route.INQUIRY.value, data=data
            )
            try:  # the marker is recorded in the append's own transaction
                self.store.append_once(
                    inquiry.session_id,
                    message,
                    f"inquiry:{inquiry.id}",
                    now,
                    mark=EffectMark(inquiry.id, SESSION_MESSAGE),
                    max_messages=self.session_max_messages,
                )
            except SessionFull:  # the result stays readable at GET /v1/inquiries/{id}
                self.store.record_effect(inquiry.id, SESSION_MESSAGE, SESSION_FULL, now)

        if EVENT not in done:
            event = {
                "inquiry_id": inquiry.id,
                "kind": inquiry.kind,
                "status": inquiry.status.value,
                "session_id": inquiry.session_id,
                "occurred_at": isoformat(inquiry.updated_at),
            }
            self.events.publish_event(f"{inquiry.id}:{inquiry.status.value}", event)
            self.store.record_effect(inquiry.id, EVENT, "published", now)

        if inquiry.callback_url and CALLBACK not in done:
            outcome = self.callbacks.send(inquiry.callback_url, inquiry.as_dict(), inquiry.id)
            if outcome is CallbackOutcome.RETRY and not last_attempt:
                return False
            recorded = "gave_up" if outcome is CallbackOutcome.RETRY else outcome.value
            self.store.record_effect(inquiry.id, CALLBACK, recorded, self.clock.now())
            if outcome is not CallbackOutcome.DELIVERED:
                log.warning(
                    "callback not delivered: %s",
                    recorded,
                    extra={"json_fields": {"inquiry_id": inquiry.id}},
                )
        return True

    def _word(self, draft: str, facts: dict[str, Any]) -> str:
        try:
            return self.model.phrase(draft, facts)
        except AppError:
            return draft  # the wording is optional; the draft already says everything

    def _release(self, inquiry_id: str, holder: str, settled: bool) -> None:
        try:
            self.store.release_inquiry(inquiry_id, holder, settled, self.clock.now())
        except AppError as exc:  # the lease expires by itself
            log.warning("could not release the inquiry lease: %s", exc.detail)


def _refund_review(worker: InquiryWorker, inquiry: Inquiry, owner: str) -> dict[str, Any]:
    claim = worker.store.get_claim(str(inquiry.details.get("order_id", "")).upper())
    result = refund_review(worker.orders, inquiry.details, owner, worker.policy, claim)
    return settle_refund(result, worker.store, inquiry, worker.clock.now())


def _account_export(worker: InquiryWorker, inquiry: Inquiry, owner: str) -> dict[str, Any]:
    return account_export(worker.orders, inquiry.details, owner)


def _erase(worker: InquiryWorker, inquiry: Inquiry, owner: str) -> dict[str, Any]:
    return erase(worker.store, inquiry.id, owner)


# The work of each kind: (worker, inquiry, its owner) -> result; InquiryFailed when it cannot
# succeed, AppError when a backend did not answer (retried).
WORK = {"refund_review": _refund_review, "account_export": _account_export, ERASURE: _erase}


def _fields(delivery: Delivery) -> dict[str, Any]:
    return {
        "json_fields": {
            "inquiry_id": delivery.inquiry_id,
            "message_id": delivery.message_id,
            "attempt": delivery.attempt,
        }
    }
