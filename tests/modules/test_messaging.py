"""The messaging module: topics, the OIDC push subscription and its dead-letter path."""

from __future__ import annotations

from typing import Any

import pytest

from modules.messaging import (
    PUBLISHER,
    SUBSCRIBER,
    Messaging,
    MessagingProps,
    PushSubscription,
    Topic,
)
from tests.modules.conftest import LABELS, PROJECT, PROJECT_NUMBER, resources

PREFIX = "agents-dev"
ENDPOINT = "https://agents-dev-worker-abc-ew.a.run.app/pubsub/inquiries"
AUDIENCE = "https://agents-dev-worker-abc-ew.a.run.app"
PUSH_EMAIL = f"agents-dev-push@{PROJECT}.iam.gserviceaccount.com"
API = f"serviceAccount:agents-dev-api@{PROJECT}.iam.gserviceaccount.com"
WORKER = f"serviceAccount:agents-dev-worker@{PROJECT}.iam.gserviceaccount.com"
ANALYST = "group:analysts@example.com"
SERVICE_AGENT = f"serviceAccount:service-{PROJECT_NUMBER}@gcp-sa-pubsub.iam.gserviceaccount.com"
KEY = f"projects/{PROJECT}/locations/global/keyRings/agents-dev/cryptoKeys/pubsub"
PUSH = {
    "topic": "inquiries",
    "endpoint": ENDPOINT,
    "service_account_email": PUSH_EMAIL,
    "audience": AUDIENCE,
}


def topics(prefix: str = PREFIX, **iam: dict[str, list[str]]) -> dict[str, Topic]:
    """The inquiries and events topics, as the stack names them, with the grants given."""
    return {
        "inquiries": Topic(name=f"{prefix}-inquiries", iam=iam.get("inquiries", {})),
        "events": Topic(name=f"{prefix}-inquiry-events", iam=iam.get("events", {})),
    }


BASE = {
    "project_id": PROJECT,
    "project_number": PROJECT_NUMBER,
    "name_prefix": PREFIX,
    "labels": LABELS,
    "topics": topics(),
    "push": PushSubscription(**PUSH),
}


def build(stack: Any) -> None:
    from cdktn import TerraformOutput
    from cdktn_provider_google.service_account import ServiceAccount

    messaging = Messaging(
        stack,
        "messaging",
        MessagingProps(
            **{
                **BASE,
                "topics": topics(
                    inquiries={PUBLISHER: [API]},
                    events={PUBLISHER: [WORKER], SUBSCRIBER: [ANALYST]},
                ),
                "push": PushSubscription(
                    **PUSH,
                    ack_deadline_seconds=120,
                    minimum_backoff_seconds=15,
                    maximum_backoff_seconds=300,
                    max_delivery_attempts=7,
                ),
            },
            kms_key_name=KEY,
        ),
    )
    # Values known only at apply time (another resource's attributes) pass validation.
    push = ServiceAccount(stack, "push", account_id="agents-stg-push")
    Messaging(
        stack,
        "staging",
        MessagingProps(
            **{
                **BASE,
                "name_prefix": "agents-stg",
                "topics": topics(
                    "agents-stg",
                    inquiries={PUBLISHER: [f"serviceAccount:{push.email}"]},
                    events={PUBLISHER: [push.member]},
                ),
                "push": PushSubscription(
                    topic="inquiries",
                    endpoint=f"https://{push.unique_id}.example.com/pubsub/inquiries",
                    service_account_email=push.email,
                    audience=push.unique_id,
                ),
            }
        ),
    )
    TerraformOutput(stack, "inquiries_topic_path", value=messaging.topic_paths["inquiries"])
    TerraformOutput(stack, "events_topic_path", value=messaging.topic_paths["events"])
    for name in ("push_subscription_name", "dead_letter_subscription_name"):
        TerraformOutput(stack, name, value=getattr(messaging, name))


@pytest.fixture(scope="module")
def tf(synth) -> dict[str, Any]:
    return synth(build)


def named(tf: dict[str, Any], resource_type: str, name: str) -> tuple[str, dict[str, Any]]:
    """(logical id, config) of the one resource of a type with this `name`."""
    found = [(key, cfg) for key, cfg in resources(tf, resource_type).items() if cfg["name"] == name]
    assert len(found) == 1, f"expected one {resource_type} named {name}, found {len(found)}"
    return found[0]


def ref(resource_type: str, key: str, attribute: str) -> str:
    return f"${{{resource_type}.{key}.{attribute}}}"


def grants(tf: dict[str, Any], resource_type: str, target: str) -> set[tuple[str, str, str]]:
    """(resource reference, role, member) of every IAM member of a type."""
    return {(g[target], g["role"], g["member"]) for g in resources(tf, resource_type).values()}


def test_three_topics_with_retention_and_labels(tf) -> None:
    topics = {t["name"]: t for t in resources(tf, "google_pubsub_topic").values()}
    ours = {name: t for name, t in topics.items() if name.startswith(f"{PREFIX}-")}
    assert sorted(ours) == [
        f"{PREFIX}-inquiries",
        f"{PREFIX}-inquiries-dead-letter",
        f"{PREFIX}-inquiry-events",
    ]
    assert ours[f"{PREFIX}-inquiries"]["message_retention_duration"] == "604800s"
    assert ours[f"{PREFIX}-inquiry-events"]["message_retention_duration"] == "604800s"
    assert ours[f"{PREFIX}-inquiries-dead-letter"]["message_retention_duration"] == "1209600s"
    for topic in ours.values():
        assert topic["labels"] == LABELS
        assert topic["project"] == PROJECT


def test_a_customer_managed_key_encrypts_every_topic_where_given(tf) -> None:
    topics = resources(tf, "google_pubsub_topic").values()
    keys = {t["name"]: t.get("kms_key_name") for t in topics}
    assert {name: key for name, key in keys.items() if name.startswith(f"{PREFIX}-")} == {
        f"{PREFIX}-inquiries": KEY,
        f"{PREFIX}-inquiry-events": KEY,
        f"{PREFIX}-inquiries-dead-letter": KEY,
    }
    assert {key for name, key in keys.items() if name.startswith("agents-stg-")} == {None}


def test_push_subscription_sends_an_oidc_token_to_the_https_endpoint(tf) -> None:
    topic_key, _ = named(tf, "google_pubsub_topic", f"{PREFIX}-inquiries")
    _, sub = named(tf, "google_pubsub_subscription", f"{PREFIX}-inquiries-push")
    assert sub["topic"] == ref("google_pubsub_topic", topic_key, "id")
    assert sub["push_config"] == {
        "push_endpoint": ENDPOINT,
        "oidc_token": {"service_account_email": PUSH_EMAIL, "audience": AUDIENCE},
    }
    assert sub["ack_deadline_seconds"] == 120
    assert sub["labels"] == LABELS


def test_push_subscription_retries_with_exponential_backoff(tf) -> None:
    _, sub = named(tf, "google_pubsub_subscription", f"{PREFIX}-inquiries-push")
    assert sub["retry_policy"] == {"minimum_backoff": "15s", "maximum_backoff": "300s"}


def test_push_subscription_dead_letters_after_max_attempts(tf) -> None:
    dlq_key, _ = named(tf, "google_pubsub_topic", f"{PREFIX}-inquiries-dead-letter")
    _, sub = named(tf, "google_pubsub_subscription", f"{PREFIX}-inquiries-push")
    assert sub["dead_letter_policy"] == {
        "dead_letter_topic": ref("google_pubsub_topic", dlq_key, "id"),
        "max_delivery_attempts": 7,
    }


def test_subscriptions_never_expire(tf) -> None:
    subs = resources(tf, "google_pubsub_subscription").values()
    assert len(subs) == 4
    for sub in subs:
        assert sub["expiration_policy"] == {"ttl": ""}


def test_dead_letter_pull_subscription_keeps_failures_for_inspection(tf) -> None:
    dlq_key, _ = named(tf, "google_pubsub_topic", f"{PREFIX}-inquiries-dead-letter")
    _, sub = named(tf, "google_pubsub_subscription", f"{PREFIX}-inquiries-dead-letter-pull")
    assert sub["topic"] == ref("google_pubsub_topic", dlq_key, "id")
    assert sub["message_retention_duration"] == "1209600s"
    assert "push_config" not in sub
    assert "dead_letter_policy" not in sub
    assert sub["labels"] == LABELS


def test_service_agent_may_publish_to_the_dead_letter_topic(tf) -> None:
    dlq_key, _ = named(tf, "google_pubsub_topic", f"{PREFIX}-inquiries-dead-letter")
    dlq = ref("google_pubsub_topic", dlq_key, "name")
    topic_grants = grants(tf, "google_pubsub_topic_iam_member", "topic")
    assert (dlq, "roles/pubsub.publisher", SERVICE_AGENT) in topic_grants
    assert {g for g in topic_grants if g[0] == dlq} == {
        (dlq, "roles/pubsub.publisher", SERVICE_AGENT)
    }
    # The agent publishes to dead-letter topics only (this stack holds two Messaging).
    dead_letter_topics = {
        ref("google_pubsub_topic", key, "name")
        for key, topic in resources(tf, "google_pubsub_topic").items()
        if topic["name"].endswith("-inquiries-dead-letter")
    }
    assert {g[0] for g in topic_grants if g[2] == SERVICE_AGENT} == dead_letter_topics


def test_service_agent_may_acknowledge_on_the_push_subscription(tf) -> None:
    push_key, _ = named(tf, "google_pubsub_subscription", f"{PREFIX}-inquiries-push")
    push = ref("google_pubsub_subscription", push_key, "name")
    sub_grants = grants(tf, "google_pubsub_subscription_iam_member", "subscription")
    ours = {g for g in sub_grants if g[0] == push}
    assert ours == {(push, "roles/pubsub.subscriber", SERVICE_AGENT)}


def test_topic_grants_only_for_the_given_members(tf) -> None:
    inquiries_key, _ = named(tf, "google_pubsub_topic", f"{PREFIX}-inquiries")
    events_key, _ = named(tf, "google_pubsub_topic", f"{PREFIX}-inquiry-events")
    inquiries = ref("google_pubsub_topic", inquiries_key, "name")
    events = ref("google_pubsub_topic", events_key, "name")
    topic_grants = grants(tf, "google_pubsub_topic_iam_member", "topic")
    assert {g for g in topic_grants if g[0] in (inquiries, events)} == {
        (inquiries, "roles/pubsub.publisher", API),
        (events, "roles/pubsub.publisher", WORKER),
        (events, "roles/pubsub.subscriber", ANALYST),
    }


def test_unresolved_values_pass_through_to_the_subscription(tf) -> None:
    sa_key = next(iter(resources(tf, "google_service_account")))
    _, sub = named(tf, "google_pubsub_subscription", "agents-stg-inquiries-push")
    oidc = sub["push_config"]["oidc_token"]
    assert oidc["service_account_email"] == ref("google_service_account", sa_key, "email")
    assert sub["push_config"]["push_endpoint"].startswith("https://${google_service_account.")
    events_key, _ = named(tf, "google_pubsub_topic", "agents-stg-inquiry-events")
    events = ref("google_pubsub_topic", events_key, "name")
    topic_grants = grants(tf, "google_pubsub_topic_iam_member", "topic")
    assert {g[2] for g in topic_grants if g[0] == events} == {
        ref("google_service_account", sa_key, "member")
    }


def test_plain_string_attributes_for_the_app_and_alerts(tf) -> None:
    outputs = {name: out["value"] for name, out in tf["output"].items()}
    assert outputs == {
        "inquiries_topic_path": f"projects/{PROJECT}/topics/{PREFIX}-inquiries",
        "events_topic_path": f"projects/{PROJECT}/topics/{PREFIX}-inquiry-events",
        "push_subscription_name": f"{PREFIX}-inquiries-push",
        "dead_letter_subscription_name": f"{PREFIX}-inquiries-dead-letter-pull",
    }


PUSH_PROPS = (PushSubscription, PUSH)


@pytest.mark.parametrize(
    ("props", "change", "field", "allowed"),
    [
        (PUSH_PROPS, {"endpoint": "http://worker.example.com/push"}, "endpoint", "https://"),
        (PUSH_PROPS, {"endpoint": "http://${TfToken[TOKEN.1]}/push"}, "endpoint", "https://"),
        (
            PUSH_PROPS,
            {"max_delivery_attempts": 4},
            "max_delivery_attempts",
            "between 5 and 100, got 4",
        ),
        (PUSH_PROPS, {"max_delivery_attempts": 101}, "max_delivery_attempts", "between 5 and 100"),
        (
            PUSH_PROPS,
            {"ack_deadline_seconds": 5},
            "ack_deadline_seconds",
            "between 10 and 600, got 5",
        ),
        (
            PUSH_PROPS,
            {"maximum_backoff_seconds": 601},
            "maximum_backoff_seconds",
            "between 0 and 600",
        ),
        (
            PUSH_PROPS,
            {"minimum_backoff_seconds": 60, "maximum_backoff_seconds": 30},
            "minimum_backoff_seconds",
            "must not exceed maximum_backoff_seconds (30), got 60",
        ),
        (PUSH_PROPS, {"service_account_email": "push"}, "service_account_email", "email"),
        (PUSH_PROPS, {"audience": ""}, "audience", "non-empty"),
        (None, {"message_retention_seconds": 300}, "message_retention_seconds", "600 and 2678400"),
        (
            None,
            {"dead_letter_retention_seconds": 10**8},
            "dead_letter_retention_seconds",
            "2678400",
        ),
        (None, {"project_number": "acme"}, "project_number", "digits only"),
        (None, {"name_prefix": "Agents"}, "name_prefix", "starting with a letter"),
        (None, {"labels": {"env": "dev"}}, "labels", "'app' and 'env'"),
        (
            (Topic, {"name": "t-inquiries"}),
            {"iam": {PUBLISHER: ["allUsers"]}},
            f"iam[{PUBLISHER}]",
            "never allUsers",
        ),
        (
            (Topic, {"name": "t-events"}),
            {"iam": {PUBLISHER: API}},
            f"iam[{PUBLISHER}]",
            "a list of IAM members",
        ),
        (
            (Topic, {"name": "t-events"}),
            {"iam": {SUBSCRIBER: [API, API]}},
            f"iam[{SUBSCRIBER}]",
            "must not repeat",
        ),
        (None, {"kms_key_name": "pubsub"}, "kms_key_name", "projects/P/locations/L/keyRings/R/"),
        (None, {"push": PushSubscription(**{**PUSH, "topic": "x"})}, "push", "a key of topics"),
    ],
)
def test_bad_props_name_the_field_and_what_is_allowed(props, change, field, allowed) -> None:
    kind, base = props or (MessagingProps, BASE)
    with pytest.raises(ValueError) as raised:
        kind(**{**base, **change})
    message = str(raised.value)
    assert message.startswith(f"{kind.__name__}.{field}: "), message
    assert allowed in message, message
    assert ", got " in message, message
