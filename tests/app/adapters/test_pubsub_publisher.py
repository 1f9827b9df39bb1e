"""The Pub/Sub adapter's mapping of publish outcomes onto the ports' failure semantics.

A fake client stands in for `PublisherClient` so that each failure is chosen by the test; the
integration tests run the same adapter against the Pub/Sub emulator.
"""

from __future__ import annotations

import threading
from concurrent.futures import TimeoutError as FutureTimeout

import pytest

from app.adapters.pubsub_publisher import PubSubInquiryQueue, PubSubPublisher
from app.adapters.queue_backends import Housekeeper
from app.domain.errors import Unavailable
from app.domain.records import Delivery, DeliveryResult, InquiryStatus
from tests.app.core_support import FakeClock, RecordingCallbacks, make_services
from tests.app.pubsub_fakes import FakePublisherClient

INQUIRIES = "projects/demo-agents/topics/agents-dev-inquiries"
EVENTS = "projects/demo-agents/topics/agents-dev-inquiry-events"


@pytest.fixture
def client():
    return FakePublisherClient()


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def services(tmp_path, client, clock):
    built = make_services(
        tmp_path / "data",
        clock,
        RecordingCallbacks(),
        queue_backend="pubsub",
        inquiries_topic=INQUIRIES,
        inquiry_events_topic=EVENTS,
    )
    built.queue.publisher._client = client  # the adapter the settings chose, on a fake client
    yield built
    built.close()


def test_an_inquiry_is_published_as_its_id_and_the_message_id_returned(client):
    queue = PubSubInquiryQueue(PubSubPublisher(client), INQUIRIES)
    assert queue.publish("inq-1") == "msg-1"
    assert client.published == [(INQUIRIES, {"inquiry_id": "inq-1"}, {"inquiry_id": "inq-1"})]
    assert queue.ping() is True


@pytest.mark.parametrize(
    "error",
    [RuntimeError("503 unavailable"), FutureTimeout(), OSError("connection reset")],
    ids=["api-error", "timeout", "network"],
)
def test_a_failed_publish_is_unavailable_and_readiness_shows_it(client, error):
    queue = PubSubInquiryQueue(PubSubPublisher(client), INQUIRIES)
    client.failures.append(error)
    with pytest.raises(Unavailable, match=INQUIRIES):
        queue.publish("inq-1")
    assert queue.ping() is False
    queue.publish("inq-2")
    assert queue.ping() is True


def test_a_failed_publish_keeps_the_inquiry_and_housekeeping_publishes_it_once(
    services, client, clock
):
    client.failures.append(RuntimeError("503 unavailable"))
    inquiry, created = services.inquiries.create(
        "refund_review", {"order_id": "A1007"}, customer_id="C004"
    )
    assert created
    assert services.inquiries.get(inquiry.id, customer_id="C004").status is InquiryStatus.QUEUED
    assert client.to(INQUIRIES) == []

    clock.advance(60)  # past the requeue delay
    services.housekeeping()
    assert client.to(INQUIRIES) == [{"inquiry_id": inquiry.id}]
    clock.advance(60)
    services.housekeeping()  # published now: not again
    assert client.to(INQUIRIES) == [{"inquiry_id": inquiry.id}]


def test_an_event_that_cannot_be_published_is_retried_then_sent_once(services, client):
    session = services.sessions.create("C004", {})  # A1007's owner
    inquiry, _ = services.inquiries.create(
        "refund_review", {"order_id": "A1007"}, session_id=session.id, customer_id="C004"
    )
    client.failures.append(RuntimeError("deadline exceeded"))
    assert services.worker.handle(Delivery(inquiry.id, "m-1", 1)) is DeliveryResult.RETRY
    assert client.to(EVENTS) == []
    assert services.worker.handle(Delivery(inquiry.id, "m-1", 2)) is DeliveryResult.ACK
    assert services.worker.handle(Delivery(inquiry.id, "m-2", 1)) is DeliveryResult.ACK
    events = [(payload, attrs) for t, payload, attrs in client.published if t == EVENTS]
    assert len(events) == 1
    payload, attrs = events[0]
    assert payload["inquiry_id"] == inquiry.id and payload["status"] == "succeeded"
    assert attrs == {"event_id": f"{inquiry.id}:succeeded"}
    messages = services.sessions.get(session.id, customer_id="C004")[1].messages
    results = [m for m in messages if m.role == "system"]
    assert len(results) == 1


def test_closing_the_services_stops_the_client(services, client):
    services.close()
    assert client.stopped


def test_the_housekeeper_keeps_running_after_a_failed_round():
    calls: list[int] = []
    second_round = threading.Event()

    def task():
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("store down for a moment")
        second_round.set()

    keeper = Housekeeper(task, interval=0.01)
    keeper.start()
    assert second_round.wait(timeout=30)
    keeper.stop()
    assert keeper._thread is None


def test_the_pubsub_worker_starts_housekeeping_and_close_stops_it(tmp_path):
    services = make_services(
        tmp_path / "data",
        agent_role="worker",
        queue_backend="pubsub",
        inquiries_topic=INQUIRIES,
        inquiry_events_topic=EVENTS,
    )
    services.start_background()
    thread = services.messaging.housekeeper._thread
    assert thread is not None and thread.is_alive()
    services.close()
    assert not thread.is_alive()


def test_the_api_role_starts_no_background_thread(tmp_path):
    services = make_services(
        tmp_path / "data",
        agent_role="api",
        queue_backend="pubsub",
        inquiries_topic=INQUIRIES,
        inquiry_events_topic=EVENTS,
    )
    services.start_background()
    assert services.messaging.housekeeper is None
    services.close()
