"""Settings that select a Google backend without what it needs fail at start-up, by name."""

from __future__ import annotations

import pytest

from app.adapters.pubsub_publisher import PubSubEventPublisher, PubSubInquiryQueue
from app.adapters.redis_cache import CachedStore
from app.adapters.sqlite_store import SqliteStore
from app.config.settings import Settings, SettingsError
from app.live.notifying_store import NotifyingStore
from app.wiring import build_services
from tests.app.core_support import make_settings

TOPICS = {
    "inquiries_topic": "projects/demo-agents/topics/agents-dev-inquiries",
    "inquiry_events_topic": "projects/demo-agents/topics/agents-dev-inquiry-events",
}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"state_backend": "firestore"}, "GOOGLE_CLOUD_PROJECT: required when STATE_BACKEND"),
        ({"queue_backend": "pubsub"}, "INQUIRIES_TOPIC: required when QUEUE_BACKEND=pubsub"),
        (
            {"queue_backend": "pubsub", "inquiries_topic": TOPICS["inquiries_topic"]},
            "INQUIRY_EVENTS_TOPIC: required",
        ),
        (
            {**TOPICS, "queue_backend": "pubsub", "inquiries_topic": "agents-dev-inquiries"},
            "INQUIRIES_TOPIC: must be a full topic path",
        ),
        ({"redis_auth": "secret"}, "REDIS_HOST: required when REDIS_AUTH is set"),
        ({"redis_ca_cert": "-----BEGIN CERTIFICATE-----"}, "REDIS_HOST: required when REDIS_CA"),
        (
            {"redis_host": "10.0.0.3", "redis_ca_cert": "not a certificate"},
            "REDIS_CA_CERT: must be a PEM certificate",
        ),
    ],
    ids=[
        "firestore-no-project",
        "pubsub-no-topic",
        "pubsub-no-events-topic",
        "pubsub-short-topic",
        "auth-without-host",
        "ca-without-host",
        "ca-not-pem",
    ],
)
def test_missing_or_wrong_backend_settings_are_named(tmp_path, overrides, message):
    with pytest.raises(SettingsError, match=message):
        build_services(make_settings(tmp_path / "data", **overrides))
    assert not (tmp_path / "data").exists()  # refused before anything was created


def test_pubsub_is_built_from_the_environment_without_contacting_google(tmp_path):
    environ = {
        "QUEUE_BACKEND": "pubsub",
        "INQUIRIES_TOPIC": TOPICS["inquiries_topic"],
        "INQUIRY_EVENTS_TOPIC": TOPICS["inquiry_events_topic"],
        "DATA_DIR": str(tmp_path),
    }
    services = build_services(Settings.from_env(environ))
    assert isinstance(services.queue, PubSubInquiryQueue)
    assert services.queue.topic == TOPICS["inquiries_topic"]
    assert isinstance(services.events, PubSubEventPublisher)
    assert services.events.topic == TOPICS["inquiry_events_topic"]
    assert services.queue.publisher._client is None  # created on the first publish
    services.close()


def test_redis_host_puts_the_cache_in_front_of_the_store_without_connecting(tmp_path):
    environ = {"REDIS_HOST": "127.0.0.1", "REDIS_PORT": "1", "DATA_DIR": str(tmp_path)}
    services = build_services(Settings.from_env(environ))
    assert isinstance(services.store, NotifyingStore)  # announces new messages (app/live/)
    assert isinstance(services.store.store, CachedStore)
    assert isinstance(services.store.store.store, SqliteStore)
    # Nothing listens on port 1: the app still works, on the store alone.
    session = services.sessions.create("C001", {})
    assert services.sessions.get(session.id, customer_id="C001")[0] == session
    assert services.readiness()["store"] is True
    services.close()
