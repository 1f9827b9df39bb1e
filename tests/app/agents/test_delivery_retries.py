"""The delivery retries outlast an inquiry lease left behind, with the app's own defaults.

A delivery takes the inquiry's 60 s lease in the store. If it dies, or the store stops
answering before it can give the lease back, the lease stays held until it runs out, and the
deliveries meanwhile find the inquiry busy and answer RETRY, each one a delivery attempt. The
retries must outlast that lease, or the message is dead-lettered and the inquiry never posts
its result (what `make soak` saw with the Firestore emulator frozen). These tests build the
services as the app does (no retry policy passed in) on a hand-moved clock.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from app.adapters.local_queue import RetryPolicy
from app.config.retry_policy import INQUIRY_LEASE_SECONDS
from app.config.settings import Settings, SettingsError
from app.domain.errors import Unavailable
from app.domain.records import Delivery, DeliveryResult, InquiryStatus
from app.wiring import build_services
from tests.app.adapters.contract.builders import all_messages
from tests.app.core_support import FakeClock, RecordingCallbacks

ENVIRONMENTS = Path(__file__).resolve().parents[3] / "environments"


class Killed(BaseException):
    """The worker process is killed: nothing of its delivery runs on, not even a `finally`'s
    store call, and its dispatcher never answers the queue."""


class Faults:
    """Store calls that fail on given delivery attempts, as a frozen store or a kill makes them."""

    def __init__(self, services, clock: FakeClock, fault_on: int, died: bool) -> None:
        self.services, self.clock = services, clock
        self.fault_on, self.died = fault_on, died
        self.attempt = 0
        self.lease_taken_at = None
        store = services.store
        real_claim, real_append, real_release = (
            store.claim_inquiry,
            store.append_once,
            store.release_inquiry,
        )

        def claim_inquiry(*args, **kwargs):
            if self.attempt < self.fault_on:  # the store does not answer yet
                raise Unavailable("store frozen")
            claim = real_claim(*args, **kwargs)
            if self.attempt == self.fault_on:
                self.lease_taken_at = self.clock.now()
            return claim

        def failing(real):
            def call(*args, **kwargs):
                if self.attempt == self.fault_on:
                    raise Killed() if self.died else Unavailable("store frozen")
                return real(*args, **kwargs)

            return call

        store.claim_inquiry = claim_inquiry
        store.append_once = failing(real_append)  # a step after the work is stored
        store.release_inquiry = failing(real_release)  # and giving the lease back

    def handle(self, delivery: Delivery) -> DeliveryResult:
        self.attempt = delivery.attempt
        if self.died and delivery.attempt == self.fault_on:
            self.clock.advance(1)  # the delivery starts a moment after its message was leased
        return self.services.worker.handle(delivery)


def run(services, clock: FakeClock, handler, limit_seconds: int = 3600) -> None:
    """The dispatcher's loop on the fake clock, a second per idle poll, until nothing is due."""
    waited = 0
    while services.queue.counts().keys() & {"pending", "leased"}:
        try:
            if services.queue.dispatch_once(handler):
                continue
        except Killed:  # a new worker process takes over; the message stays leased
            continue
        assert waited < limit_seconds, services.queue.counts()
        clock.advance(1)
        waited += 1


def default_settings(data_dir: Path) -> Settings:
    """The app's own defaults, as `make run` starts with."""
    return Settings.from_env({"DATA_DIR": str(data_dir)})


@pytest.mark.parametrize("died", [False, True], ids=["release_failed", "delivery_died"])
@pytest.mark.parametrize("fault_on", ["first", "second_last"])
def test_a_lease_left_behind_is_waited_out_and_the_inquiry_completes(tmp_path, fault_on, died):
    settings = default_settings(tmp_path / "data")
    clock = FakeClock()
    services = build_services(settings, clock=clock, callbacks=RecordingCallbacks())
    try:
        attempt = 1 if fault_on == "first" else settings.max_delivery_attempts - 1
        faults = Faults(services, clock, attempt, died)
        session = services.sessions.create("C004", {})
        inquiry, _ = services.inquiries.create(
            "refund_review",
            {"order_id": "A1007", "reason": "damaged"},
            session_id=session.id,
            customer_id="C004",
        )

        run(services, clock, faults.handle)

        assert faults.lease_taken_at is not None, "the fault never met a held lease"
        assert services.queue.counts() == {"acked": 1}  # not dead-lettered
        done = services.inquiries.get(inquiry.id, customer_id="C004")
        assert done.status is InquiryStatus.SUCCEEDED
        assert services.store.effect_outcomes(inquiry.id) == {
            "session_message": "appended",
            "event": "published",
        }
        posted = [
            m
            for m in all_messages(services.store, session.id)
            if m.role == "system" and m.data and m.data.get("inquiry_id") == inquiry.id
        ]
        assert len(posted) == 1
        # ... and it was finished by a delivery after the lease left behind had run out
        assert (clock.now() - faults.lease_taken_at).total_seconds() >= INQUIRY_LEASE_SECONDS
    finally:
        services.close()


def test_the_default_retry_policy_is_the_terraform_subscriptions():
    """RetryPolicy() and Settings() mirror an environment file's messaging defaults, from which
    modules/messaging.py creates the push subscription."""
    from infra.config import MessagingConfig

    subscription = MessagingConfig()
    policy = RetryPolicy()
    assert policy.min_backoff_seconds == subscription.minimum_backoff_seconds
    assert policy.max_backoff_seconds == subscription.maximum_backoff_seconds
    assert policy.ack_deadline_seconds == subscription.ack_deadline_seconds
    assert Settings().max_delivery_attempts == subscription.max_delivery_attempts
    assert Settings().local_retry_policy() == policy


def test_every_environments_subscription_outlasts_the_inquiry_lease():
    """The same rule on Pub/Sub: each environment's subscription retries long enough."""
    from infra.loader import load_environments

    for environment in load_environments(directory=ENVIRONMENTS):
        messaging = environment.config.messaging
        subscription = RetryPolicy(
            max_attempts=messaging.max_delivery_attempts,
            min_backoff_seconds=messaging.minimum_backoff_seconds,
            max_backoff_seconds=messaging.maximum_backoff_seconds,
            ack_deadline_seconds=messaging.ack_deadline_seconds,
        )
        assert subscription.waits_out(INQUIRY_LEASE_SECONDS), environment.name


def test_every_allowed_max_delivery_attempts_outlasts_the_lease():
    for attempts in range(5, 101):
        settings = Settings.from_env({"MAX_DELIVERY_ATTEMPTS": str(attempts)})
        assert settings.local_retry_policy().waits_out(INQUIRY_LEASE_SECONDS), attempts


def test_fewer_attempts_than_the_lease_needs_are_refused_naming_the_variable(tmp_path):
    with pytest.raises(SettingsError, match=r"^MAX_DELIVERY_ATTEMPTS: must be between 5 and 100"):
        Settings.from_env({"MAX_DELIVERY_ATTEMPTS": "4"})
    # Settings built in code skip the parser; the services still refuse them at start-up.
    settings = Settings(data_dir=str(tmp_path / "data"), max_delivery_attempts=4)
    with pytest.raises(SettingsError) as refused:
        build_services(settings)
    assert str(refused.value) == (
        "MAX_DELIVERY_ATTEMPTS: must be at least 5 with QUEUE_BACKEND=local: the local queue"
        " retries after 10 s, doubling up to 600 s, and its last attempt must come after the"
        " worker's 60 s inquiry lease has run out, got 4"
    )
    assert not (tmp_path / "data").exists()  # refused before anything was built


@pytest.mark.parametrize(
    ("policy", "lease", "waits", "fewest"),
    [
        (RetryPolicy(max_attempts=5), 60, True, 5),  # 10, 20, 40, then 80 s before the last
        (RetryPolicy(max_attempts=4), 60, False, 5),  # 40 s before the last
        (RetryPolicy(max_attempts=5), 100, False, 6),
        (RetryPolicy(max_attempts=30, max_backoff_seconds=30), 60, False, None),
        (RetryPolicy(max_attempts=30, min_backoff_seconds=0), 60, False, None),
        (RetryPolicy(max_attempts=1), 60, False, 5),
        (RetryPolicy(max_attempts=1), 0, True, 1),
    ],
)
def test_waits_out(policy, lease, waits, fewest):
    assert policy.waits_out(lease) is waits
    assert policy.fewest_attempts_waiting_out(lease) == fewest
