"""Who may call each api route: every route but the public ones refuses a caller without a token.

The route walk reads `/openapi.json`, so a route added later that forgets authentication
fails here; a second check holds every registered route to an explicit declaration.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import replace

import pytest

from app.http import create_app
from app.http.access import undeclared_routes
from app.logs.setup import configure_logging

PUBLIC_OPERATIONS = {
    ("/healthz", "get"),
    ("/readyz", "get"),
    ("/openapi.json", "get"),
    ("/v1/faq/search", "post"),
    ("/dev/token", "post"),
    ("/", "get"),
    ("/staff", "get"),
    ("/static/{filename}", "get"),
    ("/v1/web-config", "get"),
}


def concrete(path: str) -> str:
    return re.sub(r"{[^}]+}", "some-id", path)


def operations(app) -> list[tuple[str, str, dict]]:
    document = app.test_client().get("/openapi.json").get_json()
    return [
        (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


def test_every_route_declares_who_may_call_it(api_app, worker_app):
    assert undeclared_routes(api_app) == []
    assert undeclared_routes(worker_app) == []


def test_every_non_public_route_is_401_without_a_token(api_app, fake_services):
    client = api_app.test_client()
    walked = 0
    for path, method, _ in operations(api_app):
        if (path, method) in PUBLIC_OPERATIONS:
            continue
        response = client.open(concrete(path), method=method.upper(), json={})
        assert response.status_code == 401, (method, path)
        assert response.mimetype == "application/problem+json"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert response.get_json()["detail"] == (
            "an Authorization: Bearer <ID token> header is required"
        )
        walked += 1
    assert walked >= 6  # sessions (3), inquiries (2), erasure
    assert fake_services.calls == []


def test_the_public_routes_answer_without_a_token(anonymous):
    assert anonymous.get("/healthz").status_code == 200
    assert anonymous.post("/v1/faq/search", json={"query": "shipping"}).status_code == 200
    assert anonymous.post("/dev/token", json={"customer_id": "C001"}).status_code == 200


def test_the_document_declares_the_bearer_scheme_per_operation(api_app):
    document = api_app.test_client().get("/openapi.json").get_json()
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    for path, method, operation in operations(api_app):
        if (path, method) in PUBLIC_OPERATIONS:
            assert operation["security"] == [], path
        else:
            assert operation["security"] == [{"bearerAuth": []}], path
            assert {"401", "403"} <= set(operation["responses"]), path


def test_an_invalid_token_is_401_with_the_failed_check(anonymous):
    response = anonymous.get(
        "/v1/sessions/x", headers={"Authorization": "Bearer not-a-token-at-all"}
    )
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="api", error="invalid_token"'
    assert response.get_json()["detail"] == "the token is malformed"
    assert "not-a-token-at-all" not in response.get_data(as_text=True)


def test_a_staff_token_cannot_act_as_a_customer(anonymous, bearer, fake_services):
    staff = bearer(staff_id="S001")
    for response in (
        anonymous.post("/v1/sessions", json={}, headers=staff),
        anonymous.get("/v1/inquiries/i1", headers=staff),
        anonymous.delete("/v1/customers/me/data", headers=staff),
    ):
        assert response.status_code == 403
        assert "staff account is not a customer account" in response.get_json()["detail"]
    assert fake_services.calls == []


def test_an_account_without_a_customer_is_403(anonymous, local_issuer, fake_services):
    linked = local_issuer.verifier().verify(local_issuer.mint(customer_id="C001"))
    unlinked = local_issuer.sign(
        {name: value for name, value in linked.items() if name != "customer_id"}
    )
    response = anonymous.post(
        "/v1/sessions", json={}, headers={"Authorization": f"Bearer {unlinked}"}
    )
    assert response.status_code == 403
    assert response.get_json()["detail"] == "this account is not linked to a customer"
    assert fake_services.calls == []


def test_erasure_is_202_with_the_inquiry_to_follow(api, fake_services):
    response = api.delete("/v1/customers/me/data")
    assert response.status_code == 202
    inquiry = response.get_json()
    assert inquiry["kind"] == "data_erasure" and inquiry["status"] == "queued"
    assert response.headers["Location"] == f"/v1/inquiries/{inquiry['id']}"
    assert fake_services.calls[0] == ("inquiries.request_erasure", ("C001",))
    assert api.get(response.headers["Location"]).status_code == 200


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"customer_id": "C999"}, 422, "customer_id"),
        ({"staff_id": "S999"}, 422, "staff_id"),
        ({}, 422, "customer_id"),
        ({"customer_id": "C001", "staff_id": "S001"}, 422, "customer_id"),
        ({"customer_id": 7}, 422, "customer_id"),
    ],
)
def test_dev_tokens_only_for_demo_accounts(anonymous, body, status, field):
    response = anonymous.post("/dev/token", json=body)
    assert response.status_code == status
    assert response.get_json()["field"] == field


def test_a_dev_token_signs_in_its_customer(anonymous, fake_services):
    issued = anonymous.post("/dev/token", json={"customer_id": "C003"}).get_json()
    assert issued["expires_in"] == 3600
    headers = {"Authorization": f"Bearer {issued['token']}"}
    assert anonymous.post("/v1/sessions", json={}, headers=headers).status_code == 201
    assert fake_services.calls == [("sessions.create", ("C003", {}))]


def test_the_request_line_names_the_caller_by_pseudonym_only(
    settings, fake_services, identity, bearer, restored_root_logging
):
    stream = io.StringIO()
    configure_logging("api", project="demo-project", stream=stream)
    client = create_app(replace(settings, agent_role="api"), fake_services, identity=identity)
    headers = bearer(customer_id="C001")
    client.test_client().post("/v1/sessions", json={}, headers=headers)
    client.test_client().post("/v1/faq/search", json={"query": "shipping"})
    entries = [json.loads(line) for line in stream.getvalue().splitlines() if '"event"' in line]
    session_line, faq_line = [e for e in entries if e.get("event") == "http.request"]
    assert session_line["caller"].startswith("u-")
    assert "caller" not in faq_line  # public, anonymous
    token = headers["Authorization"].split()[1]
    assert token not in stream.getvalue()
    assert "C001" not in json.dumps(session_line)
