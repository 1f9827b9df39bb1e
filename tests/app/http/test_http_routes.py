"""The public routes pass validated input to the services and answer the documented shapes."""

from __future__ import annotations

import pytest
from flask import Flask, jsonify

from app.domain.records import FaqHit, InquiryStatus
from app.http.faq import results_json


def test_healthz_touches_no_backend(api, fake_services):
    fake_services.ready = {"store": False}
    response = api.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "role": "api"}
    assert fake_services.calls == []


def test_readyz_is_200_when_every_backend_answers(api):
    response = api.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ready", "checks": {"store": True, "queue": True}}


def test_readyz_is_503_naming_the_backend_that_does_not_answer(worker, fake_services):
    fake_services.ready = {"store": True, "queue": False}
    response = worker.get("/readyz")
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert response.headers["Retry-After"].isdigit()
    body = response.get_json()
    assert "queue" in body["detail"] and "store" not in body["detail"]
    assert body["checks"] == {"store": True, "queue": False}


def test_readyz_is_503_when_the_check_itself_fails(api, fake_services):
    fake_services.fail_with = ConnectionError("socket closed")
    response = api.get("/readyz")
    assert response.status_code == 503
    assert "socket closed" not in response.get_data(as_text=True)


def test_faq_search_passes_query_and_default_top_k(api, fake_services):
    response = api.post("/v1/faq/search", json={"query": "How long does shipping take?"})
    assert response.status_code == 200
    assert len(response.get_json()["results"]) == 5
    assert fake_services.calls == [("faq.search", ("How long does shipping take?", 5))]
    hit = response.get_json()["results"][0]
    assert set(hit) == {"id", "question", "answer", "score"}


@pytest.mark.parametrize(
    "hits",
    [
        [],
        [FaqHit("faq-1", "How long?", "3-5 days.", 5.0676), FaqHit("faq-2", "Q", "A", 0.1)],
        [FaqHit('é"\\', "\u2028 ünïcode \U0001f600", "line\nbreak\t</script>", 1e-05)],
        [FaqHit("big", "", "", 12345678.5)],
    ],
)
def test_faq_results_are_written_exactly_as_jsonify_writes_them(hits):
    app = Flask("jsonify")
    app.json.sort_keys = False
    with app.app_context():
        expected = jsonify(results=[h.as_dict() for h in hits]).get_data(as_text=True)
    assert results_json(hits) == expected
    assert results_json(hits) == expected  # and again, from the encoded entries


def test_faq_search_honours_top_k(api):
    response = api.post("/v1/faq/search", json={"query": "returns", "top_k": 2})
    assert len(response.get_json()["results"]) == 2


def test_create_session_is_201_with_a_location_that_resolves(api):
    response = api.post(
        "/v1/sessions", json={"customer_id": "C001", "preferences": {"language": "en"}}
    )
    assert response.status_code == 201
    session = response.get_json()
    assert response.headers["Location"] == f"/v1/sessions/{session['id']}"
    fetched = api.get(response.headers["Location"])
    assert fetched.status_code == 200
    assert fetched.get_json()["preferences"] == {"language": "en"}
    assert fetched.get_json()["messages"] == []


def test_preferences_default_to_empty(api, fake_services):
    api.post("/v1/sessions", json={})
    assert fake_services.calls == [("sessions.create", ("C001", {}))]


def test_the_session_customer_is_the_token_s_not_the_body_s(api, fake_services):
    refused = api.post("/v1/sessions", json={"customer_id": "C002"})
    assert refused.status_code == 403
    assert refused.get_json()["field"] == "customer_id"
    assert fake_services.calls == []


def test_post_message_passes_the_idempotency_key_and_returns_the_outcome(api, fake_services):
    session_id = api.post("/v1/sessions", json={}).get_json()["id"]
    path = f"/v1/sessions/{session_id}/messages"
    headers = {"Idempotency-Key": '"8e03978e-40d5-43e8-bc93-6894a57f9324"'}
    first = api.post(path, json={"text": "Where is my order A1003?"}, headers=headers)
    again = api.post(path, json={"text": "Where is my order A1003?"}, headers=headers)
    assert first.status_code == again.status_code == 200
    assert first.get_json() == again.get_json()
    assert first.get_json()["route"] == "session"
    assert fake_services.calls[-1] == (
        "conversation.post_message",
        (session_id, "Where is my order A1003?", "8e03978e-40d5-43e8-bc93-6894a57f9324"),
    )
    messages = api.get(f"/v1/sessions/{session_id}").get_json()["messages"]
    assert [m["seq"] for m in messages] == [1, 2]


def test_create_inquiry_is_202_with_location_and_queued_status(api, fake_services):
    response = api.post(
        "/v1/inquiries",
        json={"kind": "refund_review", "details": {"order_id": "A1007"}, "session_id": None},
    )
    assert response.status_code == 202
    inquiry = response.get_json()
    assert inquiry["status"] == InquiryStatus.QUEUED.value
    assert response.headers["Location"] == f"/v1/inquiries/{inquiry['id']}"
    assert "Idempotent-Replayed" not in response.headers
    assert api.get(response.headers["Location"]).get_json()["id"] == inquiry["id"]
    assert fake_services.calls[0] == (
        "inquiries.create",
        ("refund_review", {"order_id": "A1007"}, None, None, None),
    )


def test_a_replayed_inquiry_says_so_and_points_to_the_same_inquiry(api):
    body = {"kind": "account_export", "details": {"customer_id": "C001"}}
    headers = {"Idempotency-Key": "export-c-9"}
    first = api.post("/v1/inquiries", json=body, headers=headers)
    again = api.post("/v1/inquiries", json=body, headers=headers)
    assert again.status_code == 202
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true"


def test_head_and_options_are_answered(api):
    assert api.head("/healthz").status_code == 200
    options = api.open("/v1/sessions", method="OPTIONS")
    assert options.status_code == 200
    assert "POST" in options.headers["Allow"]


def test_a_session_links_to_its_older_messages_page_by_page(api, fake_services):
    session_id = api.post("/v1/sessions", json={}).get_json()["id"]
    for n in range(30):  # 60 messages
        api.post(f"/v1/sessions/{session_id}/messages", json={"text": f"q{n}"})
    shown = api.get(f"/v1/sessions/{session_id}").get_json()
    assert [m["seq"] for m in shown["messages"]] == list(range(11, 61))
    assert shown["older"] == f"/v1/sessions/{session_id}/messages?before=c"  # the fake's cursor
    page = api.get(f"/v1/sessions/{session_id}/messages?before=11&limit=4").get_json()
    assert [m["seq"] for m in page["messages"]] == [7, 8, 9, 10]
    assert page["older"] == f"/v1/sessions/{session_id}/messages?before=7&limit=4"
    assert fake_services.calls[-1] == ("sessions.messages", (session_id, "11", "4"))
    first = api.get(f"/v1/sessions/{session_id}/messages?before=3").get_json()
    assert ([m["seq"] for m in first["messages"]], first["older"]) == ([1, 2], None)


def test_a_new_session_has_no_older_messages(api):
    assert api.post("/v1/sessions", json={}).get_json()["older"] is None
