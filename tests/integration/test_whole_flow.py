"""The whole event-driven flow on real servers, as it runs on Google Cloud.

A customer message opens an inquiry (api -> Firestore -> Pub/Sub), the Pub/Sub emulator pushes
it to the worker over HTTP, the worker stores the result in Firestore, posts it into the
session and publishes an event; the customer reads it through the Redis session cache.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from app.adapters.firestore_store import FirestoreStore
from app.adapters.redis_cache import CachedStore
from app.domain.records import utcnow
from app.live.notifying_store import NotifyingStore
from tests.app.adapters.contract.builders import all_messages
from tests.integration.conftest import pull, wait_for
from tests.support.tokens import bearer_header

pytestmark = pytest.mark.integration


def test_a_message_opens_an_inquiry_whose_result_lands_in_the_session(platform):
    api = platform.api
    created = api.post("/v1/sessions", json={})
    assert created.status_code == 201
    session_path = created.headers["Location"]
    session_id = created.get_json()["id"]

    turn = api.post(
        f"{session_path}/messages",
        json={"text": "I want a refund for order A1007, it arrived damaged"},
    )
    assert turn.status_code == 200, turn.get_json()
    assert turn.get_json()["route"] == "inquiry"
    inquiry_id = turn.get_json()["inquiry_id"]

    def finished():
        body = api.get(f"/v1/inquiries/{inquiry_id}").get_json()
        return body if body["status"] in ("succeeded", "failed") else None

    done = wait_for(finished, "the pushed inquiry to finish")
    assert done["status"] == "succeeded" and done["result"], done
    # Delivered by the emulator's push over HTTP and acknowledged (recorded once answered).
    wait_for(lambda: platform.pushes, "the worker's answer to the push")
    assert all(status == 204 for status, _ in platform.pushes)

    # Firestore holds the outcome (read with a store of its own, not through the app).
    store = FirestoreStore.from_settings(platform.api_services.settings)
    try:
        stored = store.get_inquiry(inquiry_id)
        assert stored.status.value == "succeeded" and stored.session_id == session_id
        in_firestore = all_messages(store, session_id)
    finally:
        store.close()

    messages = api.get(session_path).get_json()["messages"]
    assert [m["seq"] for m in messages] == list(range(1, len(messages) + 1))
    results = [m for m in messages if m["role"] == "system" and m["route"] == "inquiry"]
    assert len(results) == 1 and results[0]["data"]["inquiry_id"] == inquiry_id
    assert [m.id for m in in_firestore] == [m["id"] for m in messages]

    notifying = platform.api_services.store  # wakes live streams, in front of the cache
    assert isinstance(notifying, NotifyingStore)
    cache = notifying.store
    assert isinstance(cache, CachedStore)
    assert cache.redis.exists(cache._keys(session_id)[2]) == 1  # the view was cached
    assert api.get(session_path).get_json()["messages"] == messages

    events = pull(platform.topology.events_subscription, 1, "the inquiry event")
    event = json.loads(events[0].data)
    assert event["inquiry_id"] == inquiry_id and event["status"] == "succeeded"
    assert events[0].attributes["event_id"] == f"{inquiry_id}:succeeded"


def test_an_inquiry_published_while_pubsub_was_down_is_published_by_housekeeping(platform):
    publisher = platform.api_services.queue.publisher
    real_topic = platform.api_services.queue.topic
    platform.api_services.queue.topic = real_topic + "-missing"  # NOT_FOUND, as when down
    accepted = platform.api.post(
        "/v1/inquiries", json={"kind": "refund_review", "details": {"order_id": "A1008"}}
    )
    assert accepted.status_code == 202  # accepted and stored, though not published
    inquiry_id = accepted.get_json()["id"]
    assert publisher.last_publish_ok is False
    assert platform.api.get("/readyz").status_code == 503

    platform.api_services.queue.topic = real_topic
    # One round of the worker's housekeeping (its background thread runs one every 30 s),
    # with the inquiry service's clock past the requeue delay.
    platform.worker_services.inquiries.clock = OneMinuteLater()
    platform.worker_services.housekeeping()

    def finished():
        body = platform.api.get(f"/v1/inquiries/{inquiry_id}").get_json()
        return body["status"] == "succeeded"

    wait_for(finished, "the requeued inquiry to be pushed and finished")


def test_erasure_deletes_sessions_inquiries_and_cached_copies_and_posts_nothing(platform):
    # C006: a customer no other test here uses, since the emulator's project is shared
    api = platform.api
    api.environ_base["HTTP_AUTHORIZATION"] = bearer_header(
        platform.api_services.settings.data_dir, "C006"
    )["Authorization"]
    session_path = api.post("/v1/sessions", json={}).headers["Location"]
    session_id = session_path.rsplit("/", 1)[1]
    turn = api.post(f"{session_path}/messages", json={"text": "Where is my order A1011?"})
    assert turn.status_code == 200
    assert api.get(session_path).status_code == 200  # now cached in Redis too
    cache = platform.api_services.store
    assert cache.redis.exists(cache._keys(session_id)[2]) == 1
    other = bearer_header(platform.api_services.settings.data_dir, "C002")
    kept = api.post("/v1/sessions", json={}, headers=other).headers["Location"]

    erasure = api.delete("/v1/customers/me/data")
    assert erasure.status_code == 202

    def finished():
        body = api.get(erasure.headers["Location"]).get_json()
        return body if body["status"] in ("succeeded", "failed") else None

    done = wait_for(finished, "the erasure to finish")
    assert done["status"] == "succeeded", done
    assert done["result"]["deleted"]["sessions"] == 1
    assert done["result"]["deleted"]["messages"] == 2
    assert api.get(session_path).status_code == 404
    assert cache.redis.exists(*cache._keys(session_id)[1:]) == 0  # no cached view left
    assert api.get(kept, headers=other).status_code == 200
    # posted nothing anywhere: no event on the events topic
    assert pull(platform.topology.events_subscription, 0, "no event", linger=3) == []


class OneMinuteLater:
    def now(self):
        return utcnow() + timedelta(minutes=1)
