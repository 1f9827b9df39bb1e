"""The HTTP layer over the real services (app.wiring) on a temporary SQLite data dir.

The api and the worker app share one data dir, as the two Cloud Run services share one store;
deliveries reach the worker through its push endpoint, as Pub/Sub would send them. The api
client is signed in as customer C004 (the owner of orders A1007, A1008 and A1020).
"""

from __future__ import annotations

import base64
import json
from dataclasses import replace

import pytest

from app.http import create_app
from app.wiring import build_services


@pytest.fixture
def real(settings, monkeypatch, identity, bearer):
    monkeypatch.delenv("K_SERVICE", raising=False)
    api_services = build_services(replace(settings, agent_role="api"))
    worker_settings = replace(settings, agent_role="worker", push_auth_disabled_for_emulator=True)
    worker_services = build_services(worker_settings)
    api_app = create_app(replace(settings, agent_role="api"), api_services, identity=identity)
    api = api_app.test_client()
    api.environ_base["HTTP_AUTHORIZATION"] = bearer(customer_id="C004")["Authorization"]
    worker = create_app(worker_settings, worker_services).test_client()
    yield api, worker
    api_services.close()
    worker_services.close()


def push(worker, inquiry_id: str, message_id: str = "m-1", attempt: int = 1):
    data = base64.b64encode(json.dumps({"inquiry_id": inquiry_id}).encode()).decode()
    envelope = {"message": {"data": data, "messageId": message_id}, "deliveryAttempt": attempt}
    return worker.post("/pubsub/inquiries", json=envelope)


def test_both_roles_are_ready(real):
    api, worker = real
    assert api.get("/readyz").status_code == 200
    assert worker.get("/readyz").status_code == 200


def test_conversation_then_inquiry_delivered_by_push_lands_in_the_session(real):
    api, worker = real
    created = api.post("/v1/sessions", json={})
    assert created.status_code == 201
    assert created.get_json()["customer_id"] == "C004"
    session_path = created.headers["Location"]
    turn = api.post(f"{session_path}/messages", json={"text": "Where is my order A1020?"})
    assert turn.status_code == 200
    assert turn.get_json()["route"] == "session"
    assert "A1020 was delivered" in turn.get_json()["reply"]["text"]

    session_id = created.get_json()["id"]
    accepted = api.post(
        "/v1/inquiries",
        json={"kind": "refund_review", "details": {"order_id": "A1007"}, "session_id": session_id},
        headers={"Idempotency-Key": "refund-A1007"},
    )
    assert accepted.status_code == 202
    inquiry_id = accepted.get_json()["id"]
    assert api.get(accepted.headers["Location"]).get_json()["status"] == "queued"

    assert push(worker, inquiry_id).status_code == 204
    done = api.get(accepted.headers["Location"]).get_json()
    assert done["status"] == "succeeded" and done["result"]

    messages = api.get(session_path).get_json()["messages"]
    assert [m["seq"] for m in messages] == list(range(1, len(messages) + 1))
    results = [m for m in messages if m["route"] == "inquiry" and m["role"] == "system"]
    assert len(results) == 1

    # A redelivery (same or new message id) is acknowledged and repeats nothing.
    assert push(worker, inquiry_id, "m-1", attempt=2).status_code == 204
    assert push(worker, inquiry_id, "m-2").status_code == 204
    assert api.get(session_path).get_json()["messages"] == messages

    # The idempotent retry of the POST points to the same inquiry.
    again = api.post(
        "/v1/inquiries",
        json={"kind": "refund_review", "details": {"order_id": "A1007"}, "session_id": session_id},
        headers={"Idempotency-Key": "refund-A1007"},
    )
    assert again.status_code == 202 and again.get_json()["id"] == inquiry_id
    assert again.headers["Idempotent-Replayed"] == "true"


def test_domain_errors_of_the_real_services_are_problems(real):
    api, _ = real
    unknown_kind = api.post("/v1/inquiries", json={"kind": "launch_rocket"})
    assert unknown_kind.status_code == 422
    assert unknown_kind.mimetype == "application/problem+json"
    assert unknown_kind.get_json()["field"].startswith("kind")
    bad_callback = api.post(
        "/v1/inquiries",
        json={
            "kind": "refund_review",
            "details": {"order_id": "A1007"},
            "callback_url": "http://evil.example/hook",
        },
    )
    assert bad_callback.status_code == 422
    assert bad_callback.get_json()["field"] == "callback_url"
    assert api.get("/v1/sessions/does-not-exist").status_code == 404
    assert api.get("/v1/inquiries/does-not-exist").status_code == 404


def test_a_push_for_an_unknown_inquiry_is_acknowledged(real):
    _, worker = real
    assert push(worker, "no-such-inquiry").status_code == 204


def test_a_turn_says_what_answered_it_and_the_request_log_too(real, restored_root_logging):
    import io

    from app.logs.setup import configure_logging

    stream = io.StringIO()
    configure_logging("api", project="demo-project", stream=stream)
    api, _ = real
    session_path = api.post("/v1/sessions", json={}).headers["Location"]
    turn = api.post(f"{session_path}/messages", json={"text": "Is shipping free?"}).get_json()
    assert (turn["route"], turn["source"], turn["intent"]) == ("faq", "faq-002", "question")
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if '"event"' in line]
    (logged,) = [e for e in lines if e.get("path", "").endswith("/messages")]
    assert (logged["route"], logged["source"], logged["intent"]) == ("faq", "faq-002", "question")
    assert "Is shipping free?" not in stream.getvalue()  # the customer's words are not logged


def test_paging_through_older_links_returns_every_message_once(real):
    api, _ = real
    session_path = api.post("/v1/sessions", json={}).headers["Location"]
    for n in range(30):
        api.post(f"{session_path}/messages", json={"text": f"What payment methods, {n}?"})
    shown = api.get(session_path).get_json()
    assert len(shown["messages"]) == 50
    seen, older = shown["messages"], shown["older"]
    while older is not None:
        api.post(f"{session_path}/messages", json={"text": "And one more?"})  # arrives meanwhile
        page = api.get(older).get_json()
        seen, older = page["messages"] + seen, page["older"]
    assert [m["seq"] for m in seen] == list(range(1, 61))
    assert seen[0]["text"] == "What payment methods, 0?"


def test_bad_page_requests_are_422_naming_the_parameter(real):
    api, _ = real
    session_path = api.post("/v1/sessions", json={}).headers["Location"]
    for query, field in (("before=%21%21", "before"), ("limit=0", "limit"), ("limit=x", "limit")):
        refused = api.get(f"{session_path}/messages?{query}")
        assert refused.status_code == 422, query
        assert refused.content_type == "application/problem+json"
        assert refused.get_json()["field"] == field


def test_a_full_session_answers_409_saying_to_start_a_new_one(settings, identity, bearer):
    full = replace(settings, agent_role="api", session_max_messages=2)
    services = build_services(full)
    api = create_app(full, services, identity=identity).test_client()
    api.environ_base["HTTP_AUTHORIZATION"] = bearer(customer_id="C004")["Authorization"]
    session_path = api.post("/v1/sessions", json={}).headers["Location"]
    assert api.post(f"{session_path}/messages", json={"text": "Hello"}).status_code == 200
    refused = api.post(f"{session_path}/messages", json={"text": "Hello again"})
    assert refused.status_code == 409
    assert refused.content_type == "application/problem+json"
    assert "start a new session" in refused.get_json()["detail"]
    services.close()
