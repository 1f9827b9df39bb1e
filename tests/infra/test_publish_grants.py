"""Who may publish to each topic, derived from the app rather than written down by hand.

A hand-written rule ("only the api publishes inquiries") went stale when housekeeping, which
runs on the worker, started republishing inquiries whose first publish failed: on Google Cloud
that republish is denied, and an accepted inquiry never reaches the worker. So the rule is
learnt from the app itself. Each role's app is built from its synthesized service's own env
(the same topic paths), with local state and a publisher client that records which role's
process publishes to which topic. The same requests are sent to both roles: the code paths
that publish (a turn that opens an inquiry, a turn that asks for a person, POST /v1/inquiries,
an erasure, a push delivery, a housekeeping pass with an unpublished inquiry); a role that does
not serve a route answers 404 and publishes nothing. Then every topic of the stack must grant
roles/pubsub.publisher to exactly the service accounts of the roles that published to it: none
missing (a denied publish), none extra (least privilege).
"""

from __future__ import annotations

import base64
import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from flask import current_app
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from app.adapters import pubsub_publisher
from app.adapters.rules_model import RulesModel
from app.config.settings import Settings
from app.domain.records import Inquiry
from app.http import create_app
from app.http.push_auth import allow_unauthenticated
from app.wiring import AppServices, build_services
from tests.app.core_support import FakeClock, RecordingCallbacks
from tests.app.pubsub_fakes import FakePublisherClient
from tests.infra.conftest import ENV_NAMES, ref, resources
from tests.infra.test_app_env import service_environ, services

PUBLISHER = "roles/pubsub.publisher"


@dataclass
class Published:
    """What each role's process tried to publish, topic paths by role."""

    topics: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    attempts: int = 0
    outside_a_request: int = 0

    def client(self) -> FakePublisherClient:
        """Stands in for `pubsub_publisher.new_publisher_client`: the client belongs to the
        role whose request made the first publish of that process."""
        recorder = self
        try:
            role = current_app.extensions["settings"].agent_role
        except RuntimeError:  # no request: a background thread, which these requests never use
            recorder.outside_a_request += 1
            raise

        class RoleClient(FakePublisherClient):
            def publish(self, topic: str, data: bytes, **attrs: Any) -> Any:
                recorder.topics[role].add(topic)
                recorder.attempts += 1
                return super().publish(topic, data, **attrs)

        return RoleClient()


@dataclass
class Platform:
    """Both roles' services and apps on one SQLite file and one clock, as on Cloud Run they
    share one store; `customer(id)` signs a demo customer in."""

    clock: FakeClock
    services: dict[str, AppServices]
    clients: dict[str, FlaskClient]

    def customer(self, customer_id: str) -> dict[str, str]:
        minted = self.clients["api"].post("/dev/token", json={"customer_id": customer_id})
        return {"Authorization": f"Bearer {minted.get_json()['token']}"}

    def stored_inquiry(self, customer_id: str) -> Inquiry:
        """An accepted inquiry stored without a publish: as if its publish had failed."""
        inquiries = self.services["api"].inquiries
        inquiry = inquiries.prepare("account_export", {}, customer_id=customer_id)
        self.services["api"].store.create_inquiry(inquiry, None)
        return inquiry


Scenario = Callable[[Platform, FlaskClient], list[TestResponse]]


def a_turn_that_opens_an_inquiry(platform: Platform, client: FlaskClient) -> list[TestResponse]:
    headers = platform.customer("C001")
    created = client.post("/v1/sessions", json={}, headers=headers)
    if created.status_code != 201:
        return [created]
    path = created.headers["Location"]
    client.post(f"{path}/messages", json={"text": "I want to return A1001"}, headers=headers)
    refund = {"text": "actually I just want a refund"}
    turn = client.post(f"{path}/messages", json=refund, headers=headers)
    assert turn.get_json()["route"] == "inquiry", "the scenario must open an inquiry"
    return [created, turn]


def a_turn_that_asks_for_a_person(platform: Platform, client: FlaskClient) -> list[TestResponse]:
    headers = platform.customer("C006")
    created = client.post("/v1/sessions", json={}, headers=headers)
    if created.status_code != 201:
        return [created]
    path = created.headers["Location"]
    turn = client.post(f"{path}/messages", json={"text": "talk to a human"}, headers=headers)
    assert turn.get_json()["route"] == "handoff", "the scenario must ask for a person"
    return [created, turn]


def an_inquiry_opened_directly(platform: Platform, client: FlaskClient) -> list[TestResponse]:
    body = {"kind": "account_export", "details": {}}
    return [client.post("/v1/inquiries", json=body, headers=platform.customer("C002"))]


def an_erasure(platform: Platform, client: FlaskClient) -> list[TestResponse]:
    return [client.delete("/v1/customers/me/data", headers=platform.customer("C003"))]


def a_push_delivery(platform: Platform, client: FlaskClient) -> list[TestResponse]:
    inquiry = platform.stored_inquiry("C004")
    data = base64.b64encode(json.dumps({"inquiry_id": inquiry.id}).encode()).decode()
    envelope = {"message": {"data": data, "messageId": f"m-{inquiry.id}"}, "deliveryAttempt": 1}
    return [client.post("/pubsub/inquiries", json=envelope)]


def a_housekeeping_pass_with_an_unpublished_inquiry(
    platform: Platform, client: FlaskClient
) -> list[TestResponse]:
    platform.stored_inquiry("C005")
    platform.clock.advance(60)  # past the wait that leaves a first publish in flight alone
    return [client.post("/tasks/housekeeping")]


SCENARIOS: tuple[Scenario, ...] = (
    a_turn_that_opens_an_inquiry,
    a_turn_that_asks_for_a_person,
    an_inquiry_opened_directly,
    an_erasure,
    a_push_delivery,
    a_housekeeping_pass_with_an_unpublished_inquiry,
)


def role_settings(service: dict[str, Any], data_dir: Path) -> Settings:
    """The service's own settings, with local state instead of Firestore and Redis, and the
    local issuer instead of Identity Platform; its topics are the stack's."""
    settings = Settings.from_env(service_environ(service))
    return replace(
        settings,
        state_backend="local",
        data_dir=str(data_dir),
        redis_host=None,
        redis_auth=None,
        redis_ca_cert=None,
        auth_mode="local",
    )


def publishers_by_the_app(
    tf: dict[str, Any], data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, set[str]]:
    """Topic paths by role: where each role's process publishes when the scenarios run."""
    monkeypatch.delenv("K_SERVICE", raising=False)
    published = Published()
    monkeypatch.setattr(pubsub_publisher, "new_publisher_client", published.client)
    clock = FakeClock()
    built: dict[str, AppServices] = {}
    clients: dict[str, FlaskClient] = {}
    try:
        for role, service in services(tf).items():
            settings = role_settings(service, data_dir)
            assert settings.agent_role == role and settings.queue_backend == "pubsub"
            built[role] = build_services(
                settings, clock=clock, model=RulesModel(), callbacks=RecordingCallbacks()
            )
            app = create_app(settings, built[role], push_verifier=allow_unauthenticated)
            clients[role] = app.test_client()
        platform = Platform(clock, built, clients)
        for scenario in SCENARIOS:
            attempts = published.attempts
            answered = {role: scenario(platform, clients[role]) for role in clients}
            statuses = {role: [r.status_code for r in rs] for role, rs in answered.items()}
            # A scenario that stopped reaching its publish would let the app look silent.
            assert published.attempts > attempts, f"{scenario.__name__} published nothing"
            assert any(s < 300 for ss in statuses.values() for s in ss), statuses
    finally:
        for services_of_role in built.values():
            services_of_role.close()
    assert published.outside_a_request == 0
    return dict(published.topics)


def topic_paths(tf: dict[str, Any]) -> dict[str, str]:
    """`projects/P/topics/NAME` -> the topic's `${...name}` reference, for every topic."""
    return {
        f"projects/{topic['project']}/topics/{topic['name']}": (
            f"${{{ref(tf, 'google_pubsub_topic', topic)}.name}}"
        )
        for topic in resources(tf, "google_pubsub_topic").values()
    }


def workload_members(tf: dict[str, Any]) -> dict[str, str]:
    """Each role's service account as an IAM member reference, by role."""
    members = {}
    for role, service in services(tf).items():
        email = service["template"]["service_account"]
        assert email.startswith("${google_service_account.") and email.endswith(".email}")
        members[role] = email.removesuffix(".email}") + ".member}"
    return members


def granted_publishers(tf: dict[str, Any], topic_ref: str) -> set[str]:
    """Members holding roles/pubsub.publisher on one topic, from members and bindings alike."""
    granted: set[str] = set()
    for rtype in ("google_pubsub_topic_iam_member", "google_pubsub_topic_iam_binding"):
        for grant in resources(tf, rtype).values():
            if grant["topic"] == topic_ref and grant["role"] == PUBLISHER:
                granted.update(grant.get("members", [grant.get("member")]))
    return granted


def service_accounts(tf: dict[str, Any]) -> dict[str, str]:
    """Every service account of the stack: its IAM member reference -> its account id."""
    return {
        f"${{{ref(tf, 'google_service_account', account)}.member}}": account["account_id"]
        for account in resources(tf, "google_service_account").values()
    }


@pytest.mark.parametrize("env_name", ENV_NAMES)
def test_each_topic_grants_publish_to_exactly_the_roles_whose_code_publishes_there(
    env_name: str, synthesized: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tf = synthesized.stacks[env_name]
    by_role = publishers_by_the_app(tf, tmp_path / "data", monkeypatch)
    topics = topic_paths(tf)
    accounts = service_accounts(tf)  # Google's service agents are left out: not the app's
    members = workload_members(tf)
    assert set(members.values()) <= set(accounts)
    for role, paths in by_role.items():
        assert paths <= set(topics), f"{env_name}: {role} publishes to topics the stack lacks"
    for path, topic_ref in topics.items():
        expected = {accounts[members[role]] for role, paths in by_role.items() if path in paths}
        granted = {accounts[m] for m in granted_publishers(tf, topic_ref) if m in accounts}
        assert granted == expected, f"{env_name}: service accounts that may publish to {path}"
