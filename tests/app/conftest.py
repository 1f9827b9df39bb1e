"""Fixtures for the HTTP layer: settings on a temporary data dir, api and worker test clients.

`FakeServices` is an in-memory stand-in for `app.ports.services.Services` whose failures the tests
choose (a backend down, a bug, a retry), so each HTTP mapping is tested on its own. The
end-to-end tests use the real services from `app.wiring` instead.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

import pytest

from app.config.settings import Settings
from app.domain.errors import Conflict, InvalidInput, NotFound
from app.domain.records import (
    Delivery,
    DeliveryResult,
    FaqHit,
    Inquiry,
    InquiryStatus,
    Message,
    MessagePage,
    Route,
    Session,
    TurnOutcome,
    utcnow,
)
from app.http import create_app
from app.identity.callers import Authenticator
from app.identity.local_issuer import LocalIssuer
from app.identity.pseudonym import Pseudonyms
from app.identity.setup import Identity


@pytest.fixture
def restored_root_logging():
    """Put pytest's root handlers and level back after a test that configures logging."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved_handlers:
        root.addHandler(handler)
    root.setLevel(saved_level)


@dataclass
class FakeServices:
    """Records every call; `fail_with` makes the next service call raise that exception."""

    calls: list[tuple[str, tuple]] = field(default_factory=list)
    sessions_by_id: dict[str, tuple[Session, list[Message]]] = field(default_factory=dict)
    inquiries_by_id: dict[str, Inquiry] = field(default_factory=dict)
    idempotency: dict[str, Any] = field(default_factory=dict)
    fail_with: BaseException | None = None
    ready: dict[str, bool] = field(default_factory=lambda: {"store": True, "queue": True})
    delivery_result: DeliveryResult = DeliveryResult.ACK
    started: int = 0
    closed: int = 0
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        self.faq = _Faq(self)
        self.sessions = _Sessions(self)
        self.conversation = _Conversation(self)
        self.inquiries = _Inquiries(self)
        self.worker = _Worker(self)

    def call(self, name: str, *args: Any) -> None:
        self.calls.append((name, args))
        if self.fail_with is not None:
            raise self.fail_with

    def owned_session(self, session_id: str, customer_id: str) -> tuple[Session, list[Message]]:
        found = self.sessions_by_id.get(session_id)
        if found is None or found[0].customer_id != customer_id:
            raise NotFound(f"session {session_id} not found")
        return found

    def new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):04d}"

    def readiness(self) -> dict[str, bool]:
        self.call("readiness")
        return dict(self.ready)

    def start_background(self) -> None:
        self.started += 1

    def close(self) -> None:
        self.closed += 1


@dataclass
class _Faq:
    fake: FakeServices

    def search(self, query: str, top_k: int) -> list[FaqHit]:
        self.fake.call("faq.search", query, top_k)
        hits = [FaqHit(f"faq-{n}", f"Q{n} about {query}?", f"A{n}", 1.0 / n) for n in range(1, 30)]
        return hits[:top_k]


@dataclass
class _Sessions:
    fake: FakeServices

    def create(self, customer_id: str, preferences: dict[str, Any]) -> Session:
        self.fake.call("sessions.create", customer_id, preferences)
        now = utcnow()
        session = Session(
            self.fake.new_id("s"), customer_id, preferences, now, now + timedelta(days=1)
        )
        self.fake.sessions_by_id[session.id] = (session, [])
        return session

    def get(self, session_id: str, *, customer_id: str) -> tuple[Session, MessagePage]:
        self.fake.call("sessions.get", session_id, customer_id)
        session, messages = self.fake.owned_session(session_id, customer_id)
        return session, MessagePage(messages[-50:], "c" if len(messages) > 50 else None)

    def messages(
        self, session_id: str, before: str | None, limit: str | None, *, customer_id: str
    ) -> MessagePage:
        """Pages of `limit` back from the cursor, which is the seq in this fake."""
        self.fake.call("sessions.messages", session_id, before, limit)
        _session, messages = self.fake.owned_session(session_id, customer_id)
        end = int(before) - 1 if before else len(messages)
        page = messages[max(0, end - int(limit or 50)) : end]
        return MessagePage(page, str(page[0].seq) if page and page[0].seq > 1 else None)


@dataclass
class _Conversation:
    fake: FakeServices

    def post_message(
        self,
        session_id: str,
        text: str,
        idempotency_key: str | None = None,
        *,
        customer_id: str,
    ) -> TurnOutcome:
        self.fake.call("conversation.post_message", session_id, text, idempotency_key)
        self.fake.owned_session(session_id, customer_id)
        remembered = self.fake.idempotency.get(f"{session_id}/{idempotency_key}")
        if idempotency_key and remembered:
            if remembered[0] != text:
                raise Conflict("Idempotency-Key reused with another text")
            return remembered[1]
        _session, messages = self.fake.sessions_by_id[session_id]
        now = utcnow()
        seq = len(messages)
        asked = Message(self.fake.new_id("m"), session_id, seq + 1, "customer", text, now)
        reply = Message(
            self.fake.new_id("m"), session_id, seq + 2, "agent", "ok", now, Route.SESSION
        )
        messages.extend([asked, reply])
        outcome = TurnOutcome(reply, Route.SESSION)
        if idempotency_key:
            self.fake.idempotency[f"{session_id}/{idempotency_key}"] = (text, outcome)
        return outcome


@dataclass
class _Inquiries:
    fake: FakeServices

    def create(
        self,
        kind: str,
        details: dict[str, Any],
        session_id: str | None = None,
        callback_url: str | None = None,
        idempotency_key: str | None = None,
        *,
        customer_id: str,
    ) -> tuple[Inquiry, bool]:
        self.fake.call("inquiries.create", kind, details, session_id, callback_url, idempotency_key)
        if kind not in {"refund_review", "account_export"}:
            raise InvalidInput("kind: must be one of account_export, refund_review", field="kind")
        if idempotency_key and idempotency_key in self.fake.idempotency:
            return self.fake.inquiries_by_id[self.fake.idempotency[idempotency_key]], False
        now = utcnow()
        inquiry = Inquiry(
            self.fake.new_id("i"),
            kind,
            details,
            InquiryStatus.QUEUED,
            0,
            now,
            now,
            now + timedelta(days=1),
            session_id,
            callback_url,
            customer_id=customer_id,
        )
        self.fake.inquiries_by_id[inquiry.id] = inquiry
        if idempotency_key:
            self.fake.idempotency[idempotency_key] = inquiry.id
        return inquiry, True

    def get(self, inquiry_id: str, *, customer_id: str) -> Inquiry:
        self.fake.call("inquiries.get", inquiry_id, customer_id)
        inquiry = self.fake.inquiries_by_id.get(inquiry_id)
        if inquiry is None or inquiry.customer_id != customer_id:
            raise NotFound(f"inquiry {inquiry_id} not found")
        return inquiry

    def request_erasure(self, customer_id: str) -> Inquiry:
        self.fake.call("inquiries.request_erasure", customer_id)
        now = utcnow()
        inquiry = Inquiry(
            self.fake.new_id("i"),
            "data_erasure",
            {},
            InquiryStatus.QUEUED,
            0,
            now,
            now,
            now + timedelta(days=1),
            customer_id=customer_id,
        )
        self.fake.inquiries_by_id[inquiry.id] = inquiry
        return inquiry


@dataclass
class _Worker:
    fake: FakeServices

    def handle(self, delivery: Delivery) -> DeliveryResult:
        self.fake.call("worker.handle", delivery)
        inquiry = self.fake.inquiries_by_id.get(delivery.inquiry_id)
        if inquiry is not None and self.fake.delivery_result is DeliveryResult.ACK:
            self.fake.inquiries_by_id[inquiry.id] = replace(
                inquiry, status=InquiryStatus.SUCCEEDED, attempts=delivery.attempt
            )
        return self.fake.delivery_result


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings.from_env({}, data_dir=str(tmp_path / "data"), auth_mode="local")


@pytest.fixture(scope="session")
def local_issuer(tmp_path_factory) -> LocalIssuer:
    """One local issuer for the whole session: an RSA key is made once, not per test."""
    return LocalIssuer.load_or_create(tmp_path_factory.mktemp("issuer"), "customer_id")


@pytest.fixture
def identity(local_issuer) -> Identity:
    authenticator = Authenticator(
        local_issuer.verifier(), "customer_id", Pseudonyms(b"test-pseudonym-key")
    )
    return Identity(authenticator, local_issuer)


@pytest.fixture
def bearer(local_issuer):
    """`bearer(customer_id=...)` or `bearer(staff_id=...)`: an Authorization header."""

    def header(**who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {local_issuer.mint(**who)}"}

    return header


@pytest.fixture
def fake_services() -> FakeServices:
    return FakeServices()


def allow_all(authorization: str | None) -> None:
    """A push verifier that lets every request through (the emulator's)."""


@pytest.fixture
def api_app(settings, fake_services, identity):
    return create_app(replace(settings, agent_role="api"), fake_services, identity=identity)


@pytest.fixture
def worker_app(settings, fake_services):
    return create_app(
        replace(settings, agent_role="worker"), fake_services, push_verifier=allow_all
    )


CUSTOMER = "C001"  # who the `api` client is signed in as


@pytest.fixture
def api(api_app, bearer):
    """A test client signed in as customer C001 (each request carries its token)."""
    client = api_app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = bearer(customer_id=CUSTOMER)["Authorization"]
    return client


@pytest.fixture
def anonymous(api_app):
    """A test client with no token."""
    return api_app.test_client()


@pytest.fixture
def worker(worker_app):
    return worker_app.test_client()
