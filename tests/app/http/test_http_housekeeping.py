"""POST /tasks/housekeeping: Cloud Scheduler's way to run the worker's upkeep on Cloud Run.

Real services on Pub/Sub settings, with a publisher client that fails when told to, and the
real OIDC verifier fed a locally generated key: an inquiry whose publish failed is published
by one authenticated request, and nothing happens for a caller that is not the push identity.
"""

from __future__ import annotations

import time

import pytest
from flask.testing import FlaskClient

from app.domain.records import InquiryStatus
from app.http import create_app
from app.http.push_auth import OidcPushVerifier
from app.wiring import AppServices
from tests.app.core_support import FakeClock, RecordingCallbacks, make_services
from tests.app.oidc_tokens import key_and_cert, mint
from tests.app.pubsub_fakes import FakePublisherClient

AUDIENCE = "https://agents-dev-worker-123456789012.europe-west1.run.app"
PUSH_ACCOUNT = "agents-dev-push@acme-agents-dev.iam.gserviceaccount.com"
INQUIRIES = "projects/acme-agents-dev/topics/agents-dev-inquiries"
EVENTS = "projects/acme-agents-dev/topics/agents-dev-inquiry-events"
PATH = "/tasks/housekeeping"
Signer = tuple[bytes, str]  # a PEM private key and its certificate


def published_ids(client: FakePublisherClient) -> list[str]:
    return [payload["inquiry_id"] for payload in client.to(INQUIRIES)]


@pytest.fixture(scope="module")
def signer():
    return key_and_cert()


def token(signer, **claims) -> str:
    return mint(
        signer[0], "k1", AUDIENCE, PUSH_ACCOUNT, **{"exp": int(time.time()) + 600, **claims}
    )


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def client():
    return FakePublisherClient()


@pytest.fixture
def services(tmp_path, clock, client):
    built = make_services(
        tmp_path / "data",
        clock,
        RecordingCallbacks(),
        agent_role="worker",
        queue_backend="pubsub",
        inquiries_topic=INQUIRIES,
        inquiry_events_topic=EVENTS,
    )
    built.queue.publisher._client = client
    yield built
    built.close()


@pytest.fixture
def worker(services, signer):
    verifier = OidcPushVerifier(AUDIENCE, PUSH_ACCOUNT, fetch_certs=lambda: {"k1": signer[1]})
    return create_app(services.settings, services, push_verifier=verifier).test_client()


def run_pass(worker, signer, **claims):
    headers = {"Authorization": f"Bearer {token(signer, **claims)}"}
    return worker.post(PATH, headers=headers)


def accepted_while_pubsub_is_down(services, client, count=1) -> list[str]:
    client.failures.extend(RuntimeError("503 unavailable") for _ in range(count))
    return [
        services.inquiries.create("refund_review", {"order_id": "A1007"}, customer_id="C004")[0].id
        for _ in range(count)
    ]


def test_a_pass_publishes_an_inquiry_whose_publish_failed_once(worker, services, client, signer):
    clock = services.clock
    (inquiry_id,) = accepted_while_pubsub_is_down(services, client)
    assert published_ids(client) == []

    clock.advance(60)  # past the delay that leaves an in-flight first publish alone
    response = run_pass(worker, signer)
    assert response.status_code == 200
    assert response.get_json() == {
        "republished": 1,
        "republish_failed": 0,
        "purged": 0,
        "stale_queued": 0,
        "handoffs_waiting_too_long": 0,
    }
    assert published_ids(client) == [inquiry_id]
    assert services.inquiries.get(inquiry_id, customer_id="C004").status is InquiryStatus.QUEUED

    clock.advance(60)
    assert run_pass(worker, signer).get_json()["republished"] == 0
    assert published_ids(client) == [inquiry_id]  # published once, not on every pass


def test_a_pass_stops_at_the_first_failed_publish_and_the_next_one_finishes(
    worker, services, client, signer
):
    first, second = accepted_while_pubsub_is_down(services, client, count=2)
    services.clock.advance(60)
    client.failures.append(RuntimeError("still down"))
    attempts_before = client.attempts

    response = run_pass(worker, signer)
    assert response.status_code == 503  # Cloud Scheduler retries, the worker's 5xx alert sees it
    assert response.get_json()["republished"] == 0
    assert client.attempts == attempts_before + 1  # did not wait out a timeout per inquiry

    assert run_pass(worker, signer).get_json()["republished"] == 2
    assert sorted(published_ids(client)) == sorted([first, second])


def test_a_pass_purges_expired_state(worker, services, signer):
    services.sessions.create("C001", {})
    services.clock.advance(services.settings.session_ttl_seconds + 1)
    assert run_pass(worker, signer).get_json()["purged"] >= 1
    assert run_pass(worker, signer).get_json()["purged"] == 0  # it was deleted


@pytest.mark.parametrize(
    "claims",
    [
        {"email": "intruder@acme-agents-dev.iam.gserviceaccount.com"},
        {"aud": "https://agents-dev-api-123456789012.europe-west1.run.app"},
        {"exp": int(time.time()) - 600, "iat": int(time.time()) - 1200},
    ],
    ids=["other-account", "other-audience", "expired"],
)
def test_a_caller_that_is_not_the_push_identity_runs_nothing(
    worker, services, client, signer, claims
):
    accepted_while_pubsub_is_down(services, client)
    services.clock.advance(60)
    attempts = client.attempts
    for response in (worker.post(PATH), run_pass(worker, signer, **claims)):
        assert response.status_code == 401
        assert response.mimetype == "application/problem+json"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.attempts == attempts and published_ids(client) == []


def test_only_the_worker_serves_it(tmp_path):
    services = make_services(tmp_path / "data", agent_role="api", auth_mode="local")
    try:
        api = create_app(services.settings, services).test_client()
        assert api.post(PATH).status_code == 404
    finally:
        services.close()


def test_a_republish_that_fails_again_is_a_503_that_still_says_what_the_pass_did(
    worker: FlaskClient, services: AppServices, client: FakePublisherClient, signer: Signer
) -> None:
    """A 200 here told Cloud Scheduler the run succeeded: no retry, and no 5xx for an alert,
    while an accepted inquiry stayed unpublished."""
    (inquiry_id,) = accepted_while_pubsub_is_down(services, client)
    services.sessions.create("C001", {})
    services.clock.advance(services.settings.session_ttl_seconds + 1)
    client.failures.append(RuntimeError("still down"))

    response = run_pass(worker, signer)
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert int(response.headers["Retry-After"]) > 0
    body = response.get_json()
    assert (body["status"], body["instance"]) == (503, PATH)
    assert {k: body[k] for k in ("republished", "republish_failed", "stale_queued")} == {
        "republished": 0,
        "republish_failed": 1,
        "stale_queued": 1,  # accepted over an hour ago and still queued
    }
    assert body["purged"] >= 1  # the rest of the pass ran all the same

    retried = run_pass(worker, signer)  # Pub/Sub is back: the scheduler's retry succeeds
    assert retried.status_code == 200
    assert retried.get_json()["republished"] == 1
    assert published_ids(client) == [inquiry_id]


def test_each_pass_counts_inquiries_left_queued_too_long(
    worker: FlaskClient, services: AppServices, client: FakePublisherClient, signer: Signer
) -> None:
    """Published or not: queued ten minutes after it was accepted, nobody is working on it."""
    (unpublished,) = accepted_while_pubsub_is_down(services, client)
    published, _ = services.inquiries.create(
        "refund_review", {"order_id": "A1008"}, customer_id="C004"
    )
    assert published_ids(client) == [published.id]
    services.clock.advance(9 * 60)
    assert run_pass(worker, signer).get_json()["stale_queued"] == 0  # not long enough yet
    services.clock.advance(2 * 60)
    counts = run_pass(worker, signer).get_json()
    assert counts["stale_queued"] == 2  # the republished one too: it is still queued
    assert sorted(published_ids(client)) == sorted([unpublished, published.id])


def test_the_stale_threshold_is_a_setting():
    from app.config.settings import Settings, SettingsError

    assert Settings.from_env({}).stale_queued_after_seconds == 600
    custom = Settings.from_env({"STALE_QUEUED_AFTER_SECONDS": "120"})
    assert custom.stale_queued_after_seconds == 120
    with pytest.raises(SettingsError, match="STALE_QUEUED_AFTER_SECONDS"):
        Settings.from_env({"STALE_QUEUED_AFTER_SECONDS": "5"})
