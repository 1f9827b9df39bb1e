"""Live notifications across processes over Redis pub/sub, on a real redis-server.

Two service sets on one SQLite file and one Redis stand for the api and the worker (two Cloud
Run services). The api's streams poll only every 60 s here, longer than a stream lives, so a
message that reaches them came by the channel. Without redis-server these tests skip (and fail
under CI=true).
"""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from app.adapters.redis_client import connect_redis
from app.http import create_app
from app.live.redis_channel import CHANNEL
from app.ports.store import NewMessage
from app.wiring import build_services
from tests.support.servers import free_port, redis_server
from tests.support.sse import parse, take_messages

pytestmark = pytest.mark.integration
NO_POLL = {"live_heartbeat_seconds": 1, "live_stream_max_seconds": 20, "live_poll_seconds": 60}


@pytest.fixture(scope="module")
def redis(tmp_path_factory):
    with redis_server(tmp_path_factory.mktemp("live-redis")) as (port, password):
        yield port, password


def with_redis(settings, port: int, password: str | None = None):
    return replace(settings, redis_host="127.0.0.1", redis_port=port, redis_auth=password)


def wait_for_subscribers(port: int, password: str, count: int) -> None:
    """Until `count` api processes listen on the channel (the listener starts with the first
    stream): a message published before would be found by the re-read after subscribing, not
    by the channel this test is about."""
    client = connect_redis("127.0.0.1", port, password, timeout_seconds=1)
    deadline = time.monotonic() + 10
    while dict(client.pubsub_numsub(CHANNEL)).get(CHANNEL.encode(), 0) < count:
        assert time.monotonic() < deadline, "the api never subscribed to the live channel"
        time.sleep(0.02)
    client.close()


def open_api(settings, identity, bearer):
    services = build_services(settings)
    client = create_app(settings, services, identity=identity).test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = bearer(customer_id="C004")["Authorization"]
    return services, client


def test_the_workers_append_wakes_the_api_stream_through_redis(settings, identity, bearer, redis):
    api_settings = with_redis(replace(settings, agent_role="api", **NO_POLL), *redis)
    api_services, client = open_api(api_settings, identity, bearer)
    worker_services = build_services(with_redis(replace(settings, agent_role="worker"), *redis))
    try:
        session_id = client.post("/v1/sessions", json={}).get_json()["id"]
        response = client.get(f"/v1/sessions/{session_id}/events", buffered=False)
        events = parse(response.response)
        assert next(events).retry == 1000
        wait_for_subscribers(*redis, count=1)
        result = NewMessage(role="system", text="Your refund was approved.", route="inquiry")
        worker_services.store.append_once(
            session_id, result, "inquiry:i-1:result", worker_services.clock.now()
        )
        (event,) = take_messages(events, 1)
        assert (event.json["role"], event.json["text"]) == ("system", result.text)
        response.close()
    finally:
        api_services.close()
        worker_services.close()


def test_a_turn_on_another_api_instance_wakes_this_ones_stream(settings, identity, bearer, redis):
    """A staff member's reply may land on another api instance than the customer's stream."""
    api_settings = with_redis(replace(settings, agent_role="api", **NO_POLL), *redis)
    one = open_api(api_settings, identity, bearer)
    two = open_api(api_settings, identity, bearer)
    try:
        session_id = one[1].post("/v1/sessions", json={}).get_json()["id"]
        response = one[1].get(f"/v1/sessions/{session_id}/events", buffered=False)
        events = parse(response.response)
        next(events)
        wait_for_subscribers(*redis, count=1)
        two[1].post(f"/v1/sessions/{session_id}/messages", json={"text": "Hello"})
        received = take_messages(events, 2)
        assert [event.json["role"] for event in received] == ["customer", "agent"]
        response.close()
    finally:
        one[0].close()
        two[0].close()


def test_with_redis_unreachable_writes_succeed_and_streams_fall_back_to_the_poll(
    settings, identity, bearer
):
    dead = free_port()  # nothing listens there
    fast = {"live_heartbeat_seconds": 1, "live_stream_max_seconds": 10, "live_poll_seconds": 0.2}
    api_services, client = open_api(
        with_redis(replace(settings, agent_role="api", **fast), dead), identity, bearer
    )
    worker_services = build_services(with_redis(replace(settings, agent_role="worker"), dead))
    try:
        session_id = client.post("/v1/sessions", json={}).get_json()["id"]
        response = client.get(f"/v1/sessions/{session_id}/events", buffered=False)
        events = parse(response.response)
        next(events)
        result = NewMessage(role="system", text="Your export is ready.", route="inquiry")
        stored = worker_services.store.append_once(
            session_id, result, "inquiry:i-2:result", worker_services.clock.now()
        )
        assert stored is not None
        (event,) = take_messages(events, 1)
        assert event.json["id"] == stored.id
        response.close()
    finally:
        api_services.close()
        worker_services.close()
