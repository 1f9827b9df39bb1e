"""Opening inquiries (the asynchronous agent): validate, store as queued, publish, answer at once.

Everything a client can get wrong is checked here, before anything is stored: the kind, the
details of that kind, the originating session, and the callback URL (https on an allowed host,
and only when a signing key is configured, since every callback is signed).

An inquiry belongs to the customer who opens it, and acts on that customer's data alone: the
order of a refund review and the session must be theirs (another customer's read as unknown,
404), an account export exports the caller's own account (naming another is 403), and only
the owner can read the inquiry. Idempotency keys are scoped to the customer.
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import Any, Protocol
from uuid import uuid4

from app.agents import idempotency
from app.agents.erasure import ERASURE
from app.agents.orders import OrderBook
from app.agents.reviews import REASON_LABELS
from app.agents.sessions import SessionService, check_customer_id
from app.domain.callback_url import CallbackUrlError, allowed_callback_url
from app.domain.errors import AppError, Forbidden, InvalidInput, NotFound
from app.domain.records import Inquiry, InquiryStatus
from app.logs.setup import log_inquiry_state
from app.ports.clock import Clock
from app.ports.messaging import InquiryQueue
from app.ports.store import (
    DuplicateKey,
    IdempotencyRecord,
    IdempotencyStore,
    InquiryStore,
    inquiry_scope,
)

log = logging.getLogger(__name__)

KINDS = ("refund_review", "account_export")
RETENTION = timedelta(days=30)
REQUEUE_AFTER = timedelta(seconds=30)
_ORDER_ID = re.compile(r"^[Aa]\d{4}$")
MAX_URL_CHARS = 2048
MAX_NOTE_CHARS = 500


def check_callback_url(url: Any, allowed_hosts: tuple[str, ...], signing_key: str | None) -> str:
    """The URL as it will be sent, when it is https on an allowed host and port (the rule of
    app/domain/callback_url.py); anything else is InvalidInput(field="callback_url")."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL_CHARS:
        raise InvalidInput(
            f"callback_url must be a URL of at most {MAX_URL_CHARS} characters",
            field="callback_url",
        )
    try:
        checked = allowed_callback_url(url, allowed_hosts)
    except CallbackUrlError as exc:
        raise InvalidInput(str(exc), field="callback_url") from None
    if not signing_key:
        raise InvalidInput(
            "callbacks are disabled: CALLBACK_SIGNING_KEY is not set on the server",
            field="callback_url",
        )
    return checked


def _unknown_keys(details: dict[str, Any], allowed: tuple[str, ...]) -> None:
    extra = sorted(set(details) - set(allowed))
    if extra:
        raise InvalidInput(
            f"details has unknown field(s) {', '.join(extra)}; allowed: {', '.join(allowed)}",
            field=f"details.{extra[0]}",
        )


def check_refund_review(
    details: dict[str, Any], orders: OrderBook, customer_id: str
) -> dict[str, Any]:
    _unknown_keys(details, ("order_id", "reason", "note"))
    order_id = details.get("order_id")
    if not isinstance(order_id, str) or not _ORDER_ID.fullmatch(order_id):
        raise InvalidInput(
            "details.order_id is required: an order number like A1007", field="details.order_id"
        )
    if orders.owned(customer_id, order_id) is None:
        raise NotFound(f"order {order_id.upper()} does not exist", field="details.order_id")
    reason = details.get("reason", "other")
    if reason not in REASON_LABELS:
        raise InvalidInput(
            f"details.reason must be one of {', '.join(REASON_LABELS)}", field="details.reason"
        )
    clean: dict[str, Any] = {"order_id": order_id.upper(), "reason": reason}
    note = details.get("note")
    if note is not None:
        if not isinstance(note, str) or len(note) > MAX_NOTE_CHARS:
            raise InvalidInput(
                f"details.note must be a string of at most {MAX_NOTE_CHARS} characters",
                field="details.note",
            )
        clean["note"] = note
    return clean


def check_account_export(details: dict[str, Any], customer_id: str) -> dict[str, Any]:
    """The export of the caller's own account; `details.customer_id`, when sent, must be it."""
    _unknown_keys(details, ("customer_id",))
    named = details.get("customer_id", customer_id)
    try:
        named = check_customer_id(named)
    except InvalidInput:
        raise InvalidInput(
            "details.customer_id must be letters, digits and . _ @ + : - (or left out: the"
            " export is of the signed-in customer)",
            field="details.customer_id",
        ) from None
    if named != customer_id:
        raise Forbidden(
            "details.customer_id: you can export only your own account",
            field="details.customer_id",
        )
    return {"customer_id": customer_id}


class InquiryDesk(InquiryStore, IdempotencyStore, Protocol):
    """The parts of the store the inquiry service uses: inquiries and their idempotency keys."""


class InquiryService:
    """Implements `app.ports.services.InquiryPort`."""

    def __init__(
        self,
        store: InquiryDesk,
        queue: InquiryQueue,
        sessions: SessionService,
        orders: OrderBook,
        clock: Clock,
        callback_allowed_hosts: tuple[str, ...],
        callback_signing_key: str | None,
    ) -> None:
        self.store = store
        self.queue = queue
        self.sessions = sessions
        self.orders = orders
        self.clock = clock
        self.allowed_hosts = callback_allowed_hosts
        self.signing_key = callback_signing_key

    def prepare(
        self,
        kind: Any,
        details: Any,
        *,
        customer_id: str,
        session_id: Any = None,
        callback_url: Any = None,
    ) -> Inquiry:
        """A validated, queued inquiry of `customer_id`, not stored yet (the caller stores it,
        maybe in a turn)."""
        if kind not in KINDS:
            raise InvalidInput(f"kind must be one of {', '.join(KINDS)}", field="kind")
        if not isinstance(details, dict):
            raise InvalidInput("details must be a JSON object", field="details")
        if session_id is not None:
            try:
                self.sessions.require(session_id, customer_id)
            except NotFound:
                raise NotFound(
                    f"session_id {session_id!r} does not exist or has expired", field="session_id"
                ) from None
        if kind == "refund_review":
            clean = check_refund_review(details, self.orders, customer_id)
        else:
            clean = check_account_export(details, customer_id)
        if callback_url is not None:
            callback_url = check_callback_url(callback_url, self.allowed_hosts, self.signing_key)
        return self._new(kind, clean, customer_id, session_id, callback_url)

    def _new(
        self,
        kind: str,
        details: dict[str, Any],
        customer_id: str,
        session_id: str | None = None,
        callback_url: str | None = None,
    ) -> Inquiry:
        now = self.clock.now()
        return Inquiry(
            id=uuid4().hex,
            kind=kind,
            details=details,
            status=InquiryStatus.QUEUED,
            attempts=0,
            created_at=now,
            updated_at=now,
            expires_at=now + RETENTION,
            session_id=session_id,
            callback_url=callback_url,
            customer_id=customer_id,
        )

    def create(
        self,
        kind: Any,
        details: Any,
        session_id: Any = None,
        callback_url: Any = None,
        idempotency_key: str | None = None,
        *,
        customer_id: str,
    ) -> tuple[Inquiry, bool]:
        scope = inquiry_scope(customer_id)
        body = {
            "kind": kind,
            "details": details,
            "session_id": session_id,
            "callback_url": callback_url,
        }
        body_fingerprint = idempotency.fingerprint(body)
        record: IdempotencyRecord | None = None
        if idempotency_key is not None:
            key = idempotency.check_key(idempotency_key)
            earlier = self.store.get_idempotency(scope, key, self.clock.now())
            if earlier is not None:
                return self._replay(earlier, body_fingerprint, customer_id), False
        inquiry = self.prepare(
            kind, details, customer_id=customer_id, session_id=session_id, callback_url=callback_url
        )
        if idempotency_key is not None:
            record = idempotency.new_record(
                scope,
                idempotency_key,
                body_fingerprint,
                {"inquiry_id": inquiry.id},
                inquiry.created_at,
            )
        try:
            self.store.create_inquiry(inquiry, record)
        except DuplicateKey as duplicate:  # a concurrent request with the same key won
            return self._replay(duplicate.record, body_fingerprint, customer_id), False
        self._accepted(inquiry)
        return inquiry, True

    def request_erasure(self, customer_id: str) -> Inquiry:
        """Queue the erasure of everything the customer has here but their orders."""
        inquiry = self._new(ERASURE, {}, customer_id)
        self.store.create_inquiry(inquiry, None)
        self._accepted(inquiry)
        return inquiry

    def _accepted(self, inquiry: Inquiry) -> None:
        log_inquiry_state(inquiry, 0)
        self.publish(inquiry.id)

    def _replay(
        self, record: IdempotencyRecord, body_fingerprint: str, customer_id: str
    ) -> Inquiry:
        idempotency.ensure_same_request(record, body_fingerprint)
        return self.get(record.response["inquiry_id"], customer_id=customer_id)

    def publish(self, inquiry_id: str) -> bool:
        """Publish a stored inquiry; True when published. A failure is logged, not raised: the
        inquiry is stored, and `requeue_unpublished` publishes it later, so an accepted inquiry
        is never lost."""
        try:
            self.queue.publish(inquiry_id)
            self.store.mark_published(inquiry_id)
        except AppError as exc:
            log.error(
                "inquiry stored but not published yet: %s",
                exc.detail,
                extra={"json_fields": {"inquiry_id": inquiry_id}},
            )
            return False
        return True

    def requeue_unpublished(self, limit: int = 100) -> tuple[int, int]:
        """Publish inquiries whose first publish failed; returns (published, failed).

        Stops at the first failure, so `failed` is 0 or 1: the queue is down, and each further
        publish would wait out the same timeout, stretching one pass past its caller's deadline
        (the scheduler gives a housekeeping request 60 s). The next pass tries again; the
        failure is returned, not only logged, so that housekeeping's caller sees it.
        """
        due = self.store.unpublished_inquiries(self.clock.now() - REQUEUE_AFTER, limit)
        published = 0
        for inquiry_id in due:
            if not self.publish(inquiry_id):
                return published, 1
            published += 1
        return published, 0

    def get(self, inquiry_id: Any, *, customer_id: str) -> Inquiry:
        """The customer's inquiry; NotFound for unknown ids and other customers' alike."""
        inquiry = None
        if isinstance(inquiry_id, str) and 0 < len(inquiry_id) <= 64:
            inquiry = self.store.get_inquiry(inquiry_id)
        if inquiry is None or inquiry.customer_id != customer_id:
            raise NotFound(f"inquiry {inquiry_id!r} does not exist")
        return inquiry
