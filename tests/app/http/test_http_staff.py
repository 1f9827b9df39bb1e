"""The staff API and the customer's side of a handoff, over the real services (app.wiring).

A customer (C001) asks for a person; a staff member (S001) sees the conversation in the queue,
replies, and returns it to the assistant. Every staff route answers staff tokens only, and
every staff action is logged with the caller's pseudonym, never with the text.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest

from app.http import create_app
from app.wiring import build_services

SECRET = "my parcel is at the neighbour's, number 12"


@pytest.fixture
def platform(settings, monkeypatch, identity, bearer):
    """(services, customer client C001, other customer C002, staff client S001)."""
    monkeypatch.delenv("K_SERVICE", raising=False)
    api_settings = replace(settings, agent_role="api")
    services = build_services(api_settings)
    app = create_app(api_settings, services, identity=identity)
    clients = []
    for who in ({"customer_id": "C001"}, {"customer_id": "C002"}, {"staff_id": "S001"}):
        client = app.test_client()
        client.environ_base["HTTP_AUTHORIZATION"] = bearer(**who)["Authorization"]
        clients.append(client)
    yield services, *clients
    services.close()


def staff_routes(client, session_id: str) -> list[tuple[str, str]]:
    """(method, path) of every operation under /v1/staff that /openapi.json documents."""
    paths = client.get("/openapi.json").get_json()["paths"]
    return [
        (method.upper(), path.replace("{session_id}", session_id))
        for path, item in paths.items()
        if path.startswith("/v1/staff/")
        for method in item
    ]


def test_every_staff_route_refuses_a_customer_token_and_no_token(platform, anonymous) -> None:
    _, customer, _, _ = platform
    session_id = customer.post("/v1/sessions", json={}).get_json()["id"]
    routes = staff_routes(customer, session_id)
    mine = {
        ("GET", "/v1/staff/handoffs"),
        ("GET", f"/v1/staff/sessions/{session_id}"),
        ("GET", f"/v1/staff/sessions/{session_id}/messages"),
        ("POST", f"/v1/staff/sessions/{session_id}/messages"),
        ("POST", f"/v1/staff/sessions/{session_id}/release"),
    }
    assert mine <= set(routes)  # and any staff route added later
    for method, path in routes:
        refused = customer.open(path, method=method, json={"text": "hi"})
        assert refused.status_code == 403, (method, path)
        assert refused.mimetype == "application/problem+json"
        assert "staff" in refused.get_json()["detail"]
        missing = anonymous.open(path, method=method, json={"text": "hi"})
        assert missing.status_code == 401, (method, path)
        assert missing.headers["WWW-Authenticate"].startswith("Bearer")


def test_the_handoff_round_trip_between_a_customer_and_the_staff(platform) -> None:
    services, customer, _, staff = platform
    created = customer.post("/v1/sessions", json={})
    assert created.get_json()["handoff"] == {"state": "none", "since": None}
    path = created.headers["Location"]
    session_id = created.get_json()["id"]

    asked = customer.post(f"{path}/messages", json={"text": "Can I speak to a person?"})
    body = asked.get_json()
    assert asked.status_code == 200
    assert (body["route"], body["source"], body["intent"]) == ("handoff", "human", "human")
    assert body["reply"]["data"]["handoff"] == "waiting"
    assert body["message"] == {**body["message"], "seq": 1, "role": "customer"}
    assert customer.get(path).get_json()["handoff"]["state"] == "waiting"
    events = [e for e in services.events.events() if e.get("type") == "handoff.requested"]
    assert [e["session_id"] for e in events] == [session_id]

    queue = staff.get("/v1/staff/handoffs").get_json()["handoffs"]
    assert [(q["session_id"], q["customer_id"], q["state"]) for q in queue] == [
        (session_id, "C001", "waiting")
    ]
    assert set(queue[0]) == {"session_id", "customer_id", "state", "since", "waiting_seconds"}
    seen = staff.get(f"/v1/staff/sessions/{session_id}").get_json()
    assert (seen["customer_id"], len(seen["messages"]), seen["older"]) == ("C001", 2, None)
    page = staff.get(f"/v1/staff/sessions/{session_id}/messages?limit=1").get_json()
    assert [m["seq"] for m in page["messages"]] == [2]
    assert staff.get(page["older"]).get_json()["messages"][0]["seq"] == 1

    replied = staff.post(
        f"/v1/staff/sessions/{session_id}/messages",
        json={"text": "Hello, this is the support team."},
        headers={"Idempotency-Key": "reply-1"},
    )
    assert replied.status_code == 201
    message = replied.get_json()["message"]
    assert (message["role"], message["seq"]) == ("staff", 3)
    assert message["data"] == {"author": "team", "handoff": "joined"}
    replayed = staff.post(
        f"/v1/staff/sessions/{session_id}/messages",
        json={"text": "Hello, this is the support team."},
        headers={"Idempotency-Key": "reply-1"},
    )
    assert replayed.status_code == 201 and replayed.headers["Idempotent-Replayed"] == "true"
    assert replayed.get_json() == replied.get_json()

    held = customer.post(f"{path}/messages", json={"text": "Where is my order A1001?"})
    assert held.get_json()["reply"] is None
    assert held.get_json()["message"]["seq"] == 4
    assert customer.get(path).get_json()["handoff"]["state"] == "joined"

    released = staff.post(f"/v1/staff/sessions/{session_id}/release")
    assert released.status_code == 200
    assert released.get_json()["handoff"] == {"state": "none", "since": None}
    assert released.get_json()["id"] == session_id and "messages" not in released.get_json()
    assert staff.get("/v1/staff/handoffs").get_json() == {"handoffs": []}

    answered = customer.post(f"{path}/messages", json={"text": "Where is my order A1001?"})
    assert answered.get_json()["route"] == "session"
    assert "A1001" in answered.get_json()["reply"]["text"]
    shown = customer.get(path).get_json()["messages"]
    assert [m["role"] for m in shown] == [
        "customer",
        "agent",
        "staff",
        "customer",
        "system",
        "customer",
        "agent",
    ]
    assert shown[4]["data"] == {"handoff": "none"}
    assert "S001" not in str(shown)  # the customer never learns who of the team wrote


def test_a_retried_request_for_a_person_publishes_one_event(platform) -> None:
    services, customer, _, _ = platform
    path = customer.post("/v1/sessions", json={}).headers["Location"]
    for _ in range(3):
        turn = customer.post(
            f"{path}/messages", json={"text": "human please"}, headers={"Idempotency-Key": "h-1"}
        )
        assert turn.get_json()["reply"]["data"]["handoff"] == "waiting"
    events = [e for e in services.events.events() if e.get("type") == "handoff.requested"]
    assert len(events) == 1
    assert len(customer.get(path).get_json()["messages"]) == 2


def test_customers_still_see_only_their_own_sessions(platform) -> None:
    _, customer, other, staff = platform
    path = customer.post("/v1/sessions", json={}).headers["Location"]
    customer.post(f"{path}/messages", json={"text": "Can I speak to a person?"})
    assert other.get(path).status_code == 404
    assert other.get(f"{path}/messages").status_code == 404
    assert other.post(f"{path}/messages", json={"text": "hi"}).status_code == 404
    # A staff token is not a customer token: the customer routes refuse it.
    assert staff.get(path).status_code == 403
    assert staff.post(f"{path}/messages", json={"text": "hi"}).status_code == 403


def test_staff_actions_in_the_wrong_state_are_409_naming_the_handoff(platform) -> None:
    _, customer, _, staff = platform
    session_id = customer.post("/v1/sessions", json={}).get_json()["id"]
    reply = staff.post(f"/v1/staff/sessions/{session_id}/messages", json={"text": "Hello"})
    assert reply.status_code == 409 and reply.get_json()["field"] == "handoff"
    release = staff.post(f"/v1/staff/sessions/{session_id}/release")
    assert release.status_code == 409 and release.get_json()["field"] == "handoff"
    assert len(customer.get(f"/v1/sessions/{session_id}").get_json()["messages"]) == 0


def test_staff_routes_answer_404_for_a_session_that_does_not_exist(platform) -> None:
    _, _, _, staff = platform
    base = "/v1/staff/sessions/no-such-session"
    for method, path in (
        ("GET", base),
        ("GET", f"{base}/messages"),
        ("POST", f"{base}/messages"),
        ("POST", f"{base}/release"),
    ):
        answer = staff.open(path, method=method, json={"text": "hi"})
        assert answer.status_code == 404, (method, path)
        assert answer.mimetype == "application/problem+json"


def test_a_bad_reply_is_refused_naming_the_field(platform) -> None:
    _, customer, _, staff = platform
    session_id = customer.post("/v1/sessions", json={}).get_json()["id"]
    route = f"/v1/staff/sessions/{session_id}/messages"
    for body in ({}, {"text": "  "}, {"text": 5}, {"text": "x" * 2001}, {"text": "a", "b": 1}):
        refused = staff.post(route, json=body)
        assert refused.status_code == 422, body
        assert refused.get_json()["field"] in ("text", "b")
    bad_key = staff.post(route, json={"text": "hi"}, headers={"Idempotency-Key": "a b"})
    assert bad_key.status_code == 422 and bad_key.get_json()["field"] == "Idempotency-Key"
    bad_page = staff.get(f"/v1/staff/sessions/{session_id}/messages?limit=0")
    assert bad_page.status_code == 422 and bad_page.get_json()["field"] == "limit"


def test_every_staff_action_is_logged_with_the_pseudonym_never_the_text(
    platform, caplog, identity, local_issuer
) -> None:
    _, customer, _, staff = platform
    path = customer.post("/v1/sessions", json={}).headers["Location"]
    customer.post(f"{path}/messages", json={"text": "Can I speak to a person?"})
    session_id = path.rsplit("/", 1)[-1]
    with caplog.at_level(logging.INFO):
        staff.get("/v1/staff/handoffs")
        staff.get(f"/v1/staff/sessions/{session_id}")
        staff.get(f"/v1/staff/sessions/{session_id}/messages")
        staff.post(f"/v1/staff/sessions/{session_id}/messages", json={"text": SECRET})
        staff.post(f"/v1/staff/sessions/{session_id}/release")
    token = staff.environ_base["HTTP_AUTHORIZATION"].removeprefix("Bearer ")
    pseudonym = identity.authenticator.caller(f"Bearer {token}").pseudonym
    actions = [
        r.json_fields for r in caplog.records if r.name == "app.http.staff" and r.json_fields
    ]
    assert [a["event"] for a in actions] == [
        "staff.handoffs_listed",
        "staff.session_viewed",
        "staff.messages_viewed",
        "staff.replied",
        "staff.released",
    ]
    assert {a["caller"] for a in actions} == {pseudonym}
    assert all(a["session_id"] == session_id for a in actions[1:])
    assert actions[3]["handoff"] == "joined"
    for record in caplog.records:
        logged = f"{record.getMessage()} {getattr(record, 'json_fields', '')}"
        assert SECRET not in logged and token not in logged and "S001" not in logged
