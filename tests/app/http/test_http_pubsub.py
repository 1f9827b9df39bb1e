"""The worker's push endpoint: envelope parsing, ack/retry mapping and OIDC token checks.

Tokens are minted here with a locally generated RSA key, and the verifier is given that key's
certificate instead of Google's, so every check runs offline against real signatures.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from dataclasses import replace

import pytest

from app.config.settings import SettingsError
from app.domain.records import Delivery, DeliveryResult
from app.http import create_app
from app.http.push_auth import OidcPushVerifier, allow_unauthenticated, choose_push_verifier
from tests.app.oidc_tokens import key_and_cert
from tests.app.oidc_tokens import mint as mint_token

AUDIENCE = "https://worker.example.run.app/pubsub/inquiries"
PUSH_ACCOUNT = "agents-dev-push@project.iam.gserviceaccount.com"


def envelope(inquiry_id="i0001", message_id="m-1", attempt=None, data=None) -> dict:
    if data is None:
        data = base64.b64encode(json.dumps({"inquiry_id": inquiry_id}).encode()).decode()
    body = {
        "message": {"data": data, "messageId": message_id, "attributes": {"kind": "refund"}},
        "subscription": "projects/p/subscriptions/agents-dev-inquiries-push",
    }
    if attempt is not None:
        body["deliveryAttempt"] = attempt
    return body


def test_ack_is_204_and_the_delivery_reaches_the_worker(worker, fake_services):
    response = worker.post("/pubsub/inquiries", json=envelope("i0042", "msg-7", attempt=3))
    assert response.status_code == 204
    assert response.get_data() == b""
    assert fake_services.calls == [("worker.handle", (Delivery("i0042", "msg-7", 3),))]


def test_a_missing_delivery_attempt_counts_as_the_first(worker, fake_services):
    worker.post("/pubsub/inquiries", json=envelope(attempt=None))
    assert fake_services.calls[0][1][0].attempt == 1


def test_snake_case_message_id_is_accepted(worker, fake_services):
    body = envelope()
    body["message"]["message_id"] = body["message"].pop("messageId")
    assert worker.post("/pubsub/inquiries", json=body).status_code == 204


def test_retry_is_503_with_retry_after(worker, fake_services):
    fake_services.delivery_result = DeliveryResult.RETRY
    response = worker.post("/pubsub/inquiries", json=envelope())
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert int(response.headers["Retry-After"]) > 0


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"message": "not an object"},
        {"message": {"messageId": "m"}},
        {"message": {"data": "", "messageId": "m"}},
        envelope(data="%%% not base64 %%%"),
        envelope(data=base64.b64encode(b"not json").decode()),
        envelope(data=base64.b64encode(b'["inquiry_id"]').decode()),
        envelope(data=base64.b64encode(b'{"inquiry_id": 7}').decode()),
        envelope(data=base64.b64encode(b'{"inquiry_id": "   "}').decode()),
        envelope(message_id=""),
        envelope(attempt=0),
        envelope(attempt="2"),
    ],
    ids=[
        "empty",
        "message-not-object",
        "no-data",
        "empty-data",
        "not-base64",
        "not-json",
        "not-object",
        "id-not-string",
        "blank-id",
        "no-message-id",
        "attempt-zero",
        "attempt-string",
    ],
)
def test_a_push_no_retry_can_fix_is_acknowledged_logged_and_never_reaches_the_worker(
    worker, fake_services, body, caplog
):
    with caplog.at_level(logging.ERROR, logger="app.http.pubsub"):
        response = worker.post("/pubsub/inquiries", json=body)
    assert response.status_code == 204  # acknowledged: Pub/Sub retries only what can succeed
    assert fake_services.calls == []
    (record,) = [r for r in caplog.records if r.name == "app.http.pubsub"]
    assert record.levelno == logging.ERROR
    assert record.json_fields["event"] == "pubsub.unprocessable"
    assert record.json_fields["reason"]


def test_an_unprocessable_push_is_logged_with_what_it_takes_to_replay_it(worker, caplog):
    data = base64.b64encode(b"not json").decode()
    body = {"message": {"data": data, "messageId": "m-42"}, "subscription": "projects/p/s"}
    with caplog.at_level(logging.ERROR, logger="app.http.pubsub"):
        assert worker.post("/pubsub/inquiries", json=body).status_code == 204
    (record,) = [r for r in caplog.records if r.name == "app.http.pubsub"]
    assert record.json_fields["message_id"] == "m-42"
    assert record.json_fields["subscription"] == "projects/p/s"
    assert record.json_fields["data"] == data


def test_a_non_json_push_is_acknowledged_too(worker, fake_services):
    response = worker.post("/pubsub/inquiries", data="{", content_type="application/json")
    assert response.status_code == 204
    assert worker.post("/pubsub/inquiries", data="x", content_type="text/plain").status_code == 204
    assert fake_services.calls == []


def test_the_worker_serves_no_public_api(worker):
    assert worker.post("/v1/sessions", json={"customer_id": "c"}).status_code == 404


# --- OIDC verification -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def signing_keys():
    return {"key-1": key_and_cert(), "key-2": key_and_cert()}


def mint(signing_keys, key_id="key-1", **claims) -> str:
    return mint_token(signing_keys[key_id][0], key_id, AUDIENCE, PUSH_ACCOUNT, **claims)


@pytest.fixture
def published(signing_keys):
    """The certificates the verifier sees, as Google's certs endpoint would publish them."""
    return {"key-1": signing_keys["key-1"][1]}


@pytest.fixture
def secured_worker(settings, fake_services, published):
    verifier = OidcPushVerifier(AUDIENCE, PUSH_ACCOUNT, fetch_certs=lambda: dict(published))
    app = create_app(replace(settings, agent_role="worker"), fake_services, push_verifier=verifier)
    return app.test_client()


def push(client, token=None, scheme="Bearer"):
    headers = {"Authorization": f"{scheme} {token}"} if token is not None else {}
    return client.post("/pubsub/inquiries", json=envelope(), headers=headers)


def test_a_valid_token_is_accepted(secured_worker, signing_keys, fake_services):
    assert push(secured_worker, mint(signing_keys)).status_code == 204
    assert len(fake_services.calls) == 1


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": int(time.time()) - 600, "iat": int(time.time()) - 4200},
        {"aud": "https://someone-else.example"},
        {"email": "intruder@project.iam.gserviceaccount.com"},
        {"email_verified": False},
        {"iss": "https://evil.example"},
    ],
    ids=["expired", "wrong-audience", "wrong-email", "email-not-verified", "wrong-issuer"],
)
def test_a_token_with_wrong_claims_is_401(secured_worker, signing_keys, fake_services, claims):
    response = push(secured_worker, mint(signing_keys, **claims))
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert fake_services.calls == []


def test_a_token_signed_by_another_key_is_401(secured_worker, signing_keys, published):
    forged = mint(signing_keys, key_id="key-2")
    header, payload, _ = forged.split(".")
    other = mint(signing_keys, key_id="key-1").split(".")[2]
    assert push(secured_worker, f"{header}.{payload}.{other}").status_code == 401
    published["key-2"] = signing_keys["key-1"][1]  # key id known, but the wrong certificate
    assert push(secured_worker, forged).status_code == 401


@pytest.mark.parametrize(
    ("token", "scheme"), [(None, "Bearer"), ("", "Bearer"), ("abc", "Basic"), ("a.b.c", "Bearer")]
)
def test_a_missing_or_malformed_token_is_401(secured_worker, fake_services, token, scheme):
    assert push(secured_worker, token, scheme).status_code == 401
    assert fake_services.calls == []


def test_a_rotated_key_is_fetched_when_a_token_names_it(secured_worker, signing_keys, published):
    assert push(secured_worker, mint(signing_keys)).status_code == 204
    published["key-2"] = signing_keys["key-2"][1]  # Google publishes a new key
    assert push(secured_worker, mint(signing_keys, key_id="key-2")).status_code == 204


def test_verification_refuses_everything_when_not_configured(signing_keys):
    verifier = OidcPushVerifier(None, None, fetch_certs=lambda: {})
    with pytest.raises(Exception, match="not configured"):
        verifier(f"Bearer {mint(signing_keys)}")


def test_settings_choose_the_verifier(settings, monkeypatch):
    monkeypatch.delenv("K_SERVICE", raising=False)
    emulator = replace(settings, agent_role="worker", push_auth_disabled_for_emulator=True)
    assert choose_push_verifier(emulator) is allow_unauthenticated
    verifier = choose_push_verifier(
        replace(settings, push_audience=AUDIENCE, push_service_account=PUSH_ACCOUNT)
    )
    assert isinstance(verifier, OidcPushVerifier)
    assert (verifier.audience, verifier.service_account) == (AUDIENCE, PUSH_ACCOUNT)


def test_cloud_run_refuses_disabled_verification(settings, fake_services, monkeypatch):
    monkeypatch.setenv("K_SERVICE", "agents-dev-worker")
    emulator = replace(settings, agent_role="worker", push_auth_disabled_for_emulator=True)
    with pytest.raises(SettingsError, match="PUSH_AUTH_DISABLED_FOR_EMULATOR"):
        create_app(emulator, fake_services)


def test_cloud_run_with_pubsub_needs_the_push_identity(settings, monkeypatch):
    monkeypatch.setenv("K_SERVICE", "agents-dev-worker")
    pubsub = replace(settings, agent_role="worker", queue_backend="pubsub")
    with pytest.raises(SettingsError, match="PUSH_AUDIENCE"):
        choose_push_verifier(pubsub)
    with pytest.raises(SettingsError, match="PUSH_SERVICE_ACCOUNT"):
        choose_push_verifier(replace(pubsub, push_audience=AUDIENCE))


def test_verification_is_on_by_default_in_a_worker_app(settings, fake_services, monkeypatch):
    monkeypatch.delenv("K_SERVICE", raising=False)
    client = create_app(replace(settings, agent_role="worker"), fake_services).test_client()
    assert client.post("/pubsub/inquiries", json=envelope()).status_code == 401
    assert fake_services.calls == []
