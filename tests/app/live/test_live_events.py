"""Live updates over the real services (SQLite in a temporary folder), in process.

GET /v1/sessions/{id}/events and its staff twin: each message once and in seq order while
others arrive, resumption after a drop (Last-Event-ID or ?after=) without loss or repeat,
heartbeats and the maximum duration, the cap on open streams, who may open which stream, and a
message appended by the worker (another service set on the same file, as another process would
be) reaching an open stream. The stream timings are shortened here; no assertion reads a clock.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from app.http import create_app
from app.ports.store import NewMessage
from app.wiring import AppServices, build_services
from tests.support.sse import Event, parse
from tests.support.sse import take_messages as messages

CUSTOMER, OTHER = "C001", "C002"
FAST = {"live_heartbeat_seconds": 0.2, "live_stream_max_seconds": 3, "live_poll_seconds": 0.1}


@pytest.fixture
def live(settings, identity, bearer):
    """(the api's services, a client signed in as C001, the headers of other callers)."""
    api_settings = replace(settings, agent_role="api", **FAST)
    services = build_services(api_settings)
    client = create_app(api_settings, services, identity=identity).test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = bearer(customer_id=CUSTOMER)["Authorization"]
    yield services, client
    services.close()


def new_session(client, **headers: str) -> str:
    return client.post("/v1/sessions", json={}, headers=headers).get_json()["id"]


def turn(services: AppServices, session_id: str, text: str = "Hello") -> None:
    services.conversation.post_message(session_id, text, customer_id=CUSTOMER)


def open_stream(client, path: str, **headers: str) -> tuple[Any, Iterator[Event]]:
    response = client.get(path, headers=headers, buffered=False)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/event-stream"
    return response, parse(response.response)


def test_each_message_once_in_seq_order_while_turns_arrive(live):
    services, client = live
    session_id = new_session(client)
    turn(services, session_id)  # seqs 1 and 2 exist before the stream opens
    response, events = open_stream(client, f"/v1/sessions/{session_id}/events?after=0")
    first = next(events)
    assert first.retry == 1000  # the first thing a stream says: reconnect after 1 s

    turns = 15

    def talk() -> None:
        for n in range(turns):
            turn(services, session_id, f"What payment methods do you accept? ({n})")

    writer = threading.Thread(target=talk)
    writer.start()
    received = messages(events, 2 + 2 * turns)
    writer.join()
    response.close()

    seqs = [int(event.id) for event in received]
    assert seqs == list(range(1, 3 + 2 * turns))
    assert [event.json["seq"] for event in received] == seqs
    assert len({event.json["id"] for event in received}) == len(received)
    stored = services.store.latest_messages(session_id, 100)
    assert [event.json for event in received] == [m.as_dict() for m in stored]


def test_without_a_resume_point_only_new_messages_come(live):
    services, client = live
    session_id = new_session(client)
    turn(services, session_id)
    response, events = open_stream(client, f"/v1/sessions/{session_id}/events")
    turn(services, session_id, "Thanks")
    assert [int(event.id) for event in messages(events, 2)] == [3, 4]
    response.close()


def test_resume_after_a_drop_loses_and_repeats_nothing(live):
    services, client = live
    session_id = new_session(client)
    for _ in range(3):
        turn(services, session_id)  # seqs 1-6
    response, events = open_stream(client, f"/v1/sessions/{session_id}/events?after=0")
    seen = messages(events, 4)
    response.close()  # the network drops after seq 4
    for _ in range(2):
        turn(services, session_id)  # seqs 7-10 arrive meanwhile
    last = seen[-1].id
    # The client resumes with the last id it has; the header wins over a stale ?after=.
    response, events = open_stream(
        client, f"/v1/sessions/{session_id}/events?after=1", **{"Last-Event-ID": last}
    )
    seen += messages(events, 6)
    response.close()
    assert [int(event.id) for event in seen] == list(range(1, 11))


def test_heartbeats_keep_a_quiet_stream_open_until_its_maximum_duration(live):
    _, client = live
    session_id = new_session(client)
    response, events = open_stream(client, f"/v1/sessions/{session_id}/events")
    received = list(events)  # ends by itself: the maximum duration (3 s here)
    response.close()
    assert received[0].retry == 1000
    beats = [event for event in received[1:] if event.is_heartbeat]
    assert beats and all(event.comments == ["keep-alive"] for event in beats)
    assert all(event.event != "message" for event in received)


def test_a_stream_ends_when_its_session_is_erased_or_the_server_stops(live):
    services, client = live
    session_id = new_session(client)
    response, events = open_stream(client, f"/v1/sessions/{session_id}/events")
    services.store.erase_customer(CUSTOMER)  # announced: the stream reads, finds it gone, ends
    assert [event for event in events if event.event == "message"] == []
    response.close()

    session_id = new_session(client)
    response, events = open_stream(client, f"/v1/sessions/{session_id}/events")
    next(events)
    services.live.stop()  # what the server's stopping hook calls
    assert [event for event in events if event.event == "message"] == []
    response.close()


def test_who_may_open_which_stream(live, bearer):
    services, client = live
    mine = new_session(client)
    theirs = new_session(client, **bearer(customer_id=OTHER))
    staff = bearer(staff_id="S001")
    anonymous = {"Authorization": ""}
    for path in (f"/v1/sessions/{mine}/events", f"/v1/staff/sessions/{mine}/events"):
        assert client.get(path, headers=anonymous).status_code == 401
    assert client.get(f"/v1/sessions/{mine}/events", headers=staff).status_code == 403
    assert client.get(f"/v1/staff/sessions/{mine}/events").status_code == 403  # a customer
    for path in (
        f"/v1/sessions/{theirs}/events",  # another customer's: exactly like an unknown one
        "/v1/sessions/no-such-session/events",
        "/v1/staff/sessions/no-such-session/events",
    ):
        headers = staff if "/staff/" in path else {}
        answer = client.get(path, headers=headers)
        assert answer.status_code == 404, path
        assert answer.mimetype == "application/problem+json"
    # Staff may follow any customer's session.
    response, events = open_stream(client, f"/v1/staff/sessions/{theirs}/events?after=0", **staff)
    services.conversation.post_message(theirs, "Hello", customer_id=OTHER)
    assert [event.json["role"] for event in messages(events, 2)] == ["customer", "agent"]
    response.close()
    assert services.live.slots.taken == 0  # every refusal gave its slot back


@pytest.mark.parametrize(
    ("headers", "query", "field"),
    [({"Last-Event-ID": "x"}, "", "Last-Event-ID"), ({}, "?after=-1", "after")],
)
def test_a_resume_point_that_is_no_seq_is_422_naming_it(live, headers, query, field):
    _, client = live
    session_id = new_session(client)
    answer = client.get(f"/v1/sessions/{session_id}/events{query}", headers=headers)
    assert answer.status_code == 422
    assert answer.get_json()["field"] == field


def test_past_the_cap_a_stream_gets_503_with_retry_after(settings, identity, bearer):
    api_settings = replace(settings, agent_role="api", live_max_streams=2, **FAST)
    services = build_services(api_settings)
    client = create_app(api_settings, services, identity=identity).test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = bearer(customer_id=CUSTOMER)["Authorization"]
    try:
        session_id = new_session(client)
        path = f"/v1/sessions/{session_id}/events"
        held = [client.get(path, buffered=False) for _ in range(2)]
        assert [r.status_code for r in held] == [200, 200]
        refused = client.get(path)
        assert refused.status_code == 503
        assert int(refused.headers["Retry-After"]) >= 1
        assert "LIVE_MAX_STREAMS" in refused.get_json()["detail"]
        held.pop().close()  # a stream that ends gives its place back, even if never read
        again = client.get(path, buffered=False)
        assert again.status_code == 200
        again.close()
        for response in held:
            response.close()
        assert services.live.slots.taken == 0
    finally:
        services.close()


def test_a_message_the_worker_appends_reaches_an_open_stream(settings, identity, bearer):
    """The worker is another process: its announcement cannot reach this hub, the poll finds
    the message (Redis carries it at once: tests/app/live/test_live_redis.py)."""
    api_settings = replace(settings, agent_role="api", **FAST)
    api_services = build_services(api_settings)
    worker_services = build_services(replace(settings, agent_role="worker"))
    client = create_app(api_settings, api_services, identity=identity).test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = bearer(customer_id=CUSTOMER)["Authorization"]
    try:
        session_id = new_session(client)
        response, events = open_stream(client, f"/v1/sessions/{session_id}/events")
        result = NewMessage(role="system", text="Your refund was approved.", route="inquiry")
        worker_services.store.append_once(
            session_id, result, "inquiry:i-1:result", worker_services.clock.now()
        )
        (event,) = messages(events, 1)
        assert (event.json["role"], event.json["text"]) == ("system", result.text)
        response.close()
    finally:
        api_services.close()
        worker_services.close()


def test_a_staff_reply_reaches_the_customers_stream_and_the_staff_stream(live, bearer):
    _, client = live
    staff = bearer(staff_id="S001")
    session_id = new_session(client)
    asked = client.post(
        f"/v1/sessions/{session_id}/messages", json={"text": "Can I talk to a human?"}
    )
    assert asked.get_json()["route"] == "handoff", asked.get_json()
    mine, my_events = open_stream(client, f"/v1/sessions/{session_id}/events")
    theirs, their_events = open_stream(client, f"/v1/staff/sessions/{session_id}/events", **staff)
    reply = client.post(
        f"/v1/staff/sessions/{session_id}/messages", json={"text": "Hi, I am here."}, headers=staff
    )
    assert reply.status_code == 201, reply.get_json()
    for events in (my_events, their_events):
        (event,) = messages(events, 1)
        assert (event.json["role"], event.json["text"]) == ("staff", "Hi, I am here.")
        assert event.json["data"]["handoff"] == "joined"
    mine.close()
    theirs.close()
