"""Dead-lettering with the Pub/Sub emulator: what can never succeed ends on the dead-letter
topic after the maximum delivery attempts, where a pull subscription (and an alert) find it.

Pub/Sub should retry only what can succeed later: an inquiry the worker keeps answering
"later" (503) for is redelivered up to the maximum and then dead-lettered, while a poison
message no retry can fix is acknowledged at once (and logged for replay), not retried.
"""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest

from tests.integration.conftest import MAX_ATTEMPTS, pull

pytestmark = pytest.mark.integration


def publish_raw(topic: str, data: bytes) -> str:
    from google.cloud import pubsub_v1

    publisher = pubsub_v1.PublisherClient()
    try:
        return publisher.publish(topic, data).result(timeout=30)
    finally:
        publisher.stop()


def test_a_never_processable_inquiry_is_dead_lettered_and_poison_is_not_retried(platform):
    services = platform.api_services
    poison = b"this is not an inquiry"
    publish_raw(platform.topology.inquiries_topic, poison)

    # An inquiry whose lease another worker holds for an hour: every delivery answers RETRY.
    # It is stored first (its publish fails), leased, and only then published.
    topic = services.queue.topic
    services.queue.topic = topic + "-missing"
    inquiry, _ = services.inquiries.create(
        "refund_review", {"order_id": "A1007"}, customer_id="C004"
    )
    services.queue.topic = topic
    now = services.clock.now()
    services.store.claim_inquiry(inquiry.id, "stuck-worker", now, now + timedelta(hours=1))
    services.inquiries.publish(inquiry.id)

    dead = pull(platform.topology.dead_letter_subscription, 1, "the dead-lettered inquiry")
    assert [json.loads(m.data) for m in dead] == [{"inquiry_id": inquiry.id}]

    with platform.lock:
        statuses = [status for status, _ in platform.pushes]
    # The inquiry was delivered exactly the maximum number of times, then moved; the poison
    # message once, acknowledged. (The emulator leaves deliveryAttempt out of its push body;
    # Pub/Sub itself sends it with a dead-letter policy.)
    assert statuses.count(503) == MAX_ATTEMPTS
    assert statuses.count(204) == 1
    stored = services.inquiries.get(inquiry.id, customer_id="C004")
    assert stored.status.value == "running"  # nothing lost either


def test_a_bad_envelope_is_acknowledged_so_it_is_not_redelivered(platform):
    import urllib.error
    import urllib.request

    body = {"message": {"data": base64.b64encode(b"[]").decode(), "messageId": "m-1"}}
    request = urllib.request.Request(
        f"{platform.worker_url}/pubsub/inquiries",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 204
