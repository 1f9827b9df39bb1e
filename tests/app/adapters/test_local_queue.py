"""The local queue has Pub/Sub push semantics: at least once, backoff, dead letter."""

from __future__ import annotations

import time

import pytest

from app.adapters.local_queue import LocalQueue, RetryPolicy
from app.adapters.sqlite_db import Database, to_ts
from app.domain.records import DeliveryResult, InquiryStatus
from tests.app.core_support import FakeClock, make_services

POLICY = RetryPolicy(
    max_attempts=4, min_backoff_seconds=10, max_backoff_seconds=25, ack_deadline_seconds=60
)


@pytest.fixture
def queue(tmp_path):
    db = Database(tmp_path)
    yield LocalQueue(db, FakeClock(), POLICY)
    db.close()


class Recorder:
    def __init__(self, *answers):
        self.answers = list(answers)
        self.deliveries = []

    def __call__(self, delivery):
        self.deliveries.append(delivery)
        answer = self.answers.pop(0) if self.answers else DeliveryResult.ACK
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_an_acked_message_is_delivered_once(queue):
    message_id = queue.publish("inq-1")
    handler = Recorder(DeliveryResult.ACK)
    assert queue.drain(handler) == 1
    assert [(d.inquiry_id, d.message_id, d.attempt) for d in handler.deliveries] == [
        ("inq-1", message_id, 1)
    ]
    assert queue.counts() == {"acked": 1}
    assert queue.drain(handler) == 0


def test_retries_back_off_exponentially_then_dead_letter(queue):
    message_id = queue.publish("inq-1")
    handler = Recorder(*[DeliveryResult.RETRY] * 10)
    delays = []
    for _ in range(POLICY.max_attempts - 1):
        assert queue.dispatch_once(handler)
        state = queue.message_state(message_id)
        delays.append(state["available_at"] - to_ts(queue.clock.now()))
        assert queue.dispatch_once(handler) is False  # not before its backoff has passed
        queue.clock.advance(delays[-1])
    assert delays == [10, 20, 25]  # doubled each time, capped at the maximum
    assert queue.dispatch_once(handler)  # the last attempt
    assert queue.message_state(message_id)["state"] == "dead"
    assert [d.attempt for d in handler.deliveries] == [1, 2, 3, 4]
    queue.clock.advance(3600)
    assert queue.dispatch_once(handler) is False  # a dead message is never delivered again


def test_a_handler_exception_counts_as_retry(queue):
    message_id = queue.publish("inq-1")
    handler = Recorder(RuntimeError("bug"), DeliveryResult.ACK)
    queue.dispatch_once(handler)
    state = queue.message_state(message_id)
    assert state["state"] == "pending"
    assert state["last_error"] == "RuntimeError: bug"
    queue.clock.advance(10)
    queue.dispatch_once(handler)
    assert queue.message_state(message_id)["state"] == "acked"


def test_a_crashed_delivery_is_redelivered_after_its_lease_and_the_backoff(queue):
    """Pub/Sub's retry policy applies to an exceeded ack deadline as to a nack."""
    message_id = queue.publish("inq-1")
    leased = queue.lease_next()  # the dispatcher dies here: no answer ever comes
    assert leased.attempt == 1
    handler = Recorder(DeliveryResult.ACK)
    queue.clock.advance(59)
    assert queue.dispatch_once(handler) is False  # still leased
    queue.clock.advance(1)
    assert queue.dispatch_once(handler) is False  # the lease ran out, the backoff not yet
    queue.clock.advance(POLICY.backoff(1))
    assert queue.dispatch_once(handler)
    assert [(d.message_id, d.attempt) for d in handler.deliveries] == [(message_id, 2)]
    assert queue.message_state(message_id)["state"] == "acked"
    # The crashed dispatcher's late answer changes nothing, as a late Pub/Sub ack.
    assert queue.settle(leased, DeliveryResult.RETRY) == "stale"
    assert queue.message_state(message_id)["state"] == "acked"


def test_a_lease_expiring_on_the_last_attempt_dead_letters(queue):
    message_id = queue.publish("inq-1")
    for attempt in range(1, POLICY.max_attempts + 1):
        assert queue.lease_next() is not None
        queue.clock.advance(60)
        if attempt < POLICY.max_attempts:
            assert queue.lease_next() is None  # not before the backoff after the lease
            queue.clock.advance(POLICY.backoff(attempt))
    assert queue.lease_next() is None  # dead-lettered as soon as the last lease has run out
    assert queue.message_state(message_id)["state"] == "dead"


def test_messages_survive_a_restart(tmp_path):
    clock = FakeClock()
    first = Database(tmp_path)
    LocalQueue(first, clock, POLICY).publish("inq-1")
    first.close()
    second = Database(tmp_path)
    handler = Recorder()
    assert LocalQueue(second, clock, POLICY).drain(handler) == 1
    assert handler.deliveries[0].inquiry_id == "inq-1"
    second.close()


def test_the_worker_roles_dispatcher_delivers_to_the_worker(tmp_path):
    """start_background on the worker: inquiries published by the api get done."""
    api = make_services(tmp_path, agent_role="api")
    worker = make_services(tmp_path, agent_role="worker")
    inquiry, _ = api.inquiries.create("refund_review", {"order_id": "A1007"}, customer_id="C004")
    worker.start_background()
    try:
        deadline = time.monotonic() + 30
        while worker.queue.counts() != {"acked": 1}:  # acked after the work and side effects
            assert time.monotonic() < deadline, "the dispatcher did not deliver"
            time.sleep(0.05)
        done = api.inquiries.get(inquiry.id, customer_id="C004")
        assert done.status is InquiryStatus.SUCCEEDED
    finally:
        worker.close()
        api.close()


def test_old_acked_messages_are_purged_dead_ones_kept(queue):
    acked = queue.publish("inq-1")
    dead = queue.publish("inq-2")
    queue.drain(Recorder(DeliveryResult.ACK, *[DeliveryResult.RETRY] * 10))
    for _ in range(POLICY.max_attempts):
        queue.clock.advance(60)
        queue.drain(Recorder(DeliveryResult.RETRY))
    assert queue.message_state(dead)["state"] == "dead"
    assert queue.purge(keep_acked_seconds=3600) == 0
    queue.clock.advance(3600)
    assert queue.purge(keep_acked_seconds=3600) == 1
    assert queue.message_state(acked) is None
    assert queue.message_state(dead)["state"] == "dead"
