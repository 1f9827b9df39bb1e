"""The infra/app contract: the env block of each service loads into the app's settings."""

from __future__ import annotations

import re
from typing import Any

import pytest

from app.settings import Settings, SettingsError
from infra.app_env import PlatformRefs, check_names, service_env, service_secret_env
from tests.infra.conftest import ENV_NAMES, resources

# Values Terraform only knows after apply, as they would look on the running service.
AFTER_APPLY = {
    "REDIS_HOST": "10.20.0.3",
    "REDIS_PORT": "6378",
    "REDIS_AUTH": "secret-from-secret-manager",
    "PUSH_SERVICE_ACCOUNT": "agents-push@acme.iam.gserviceaccount.com",
    "CALLBACK_SIGNING_KEY": "key-from-secret-manager",
}
EXPRESSION = re.compile(r"^\$\{[^}]+\}$")


def deployed_env(service: dict[str, Any]) -> dict[str, str]:
    """The service's variables, with apply-time expressions replaced by realistic values."""
    environ: dict[str, str] = {}
    for item in service["template"]["containers"][0]["env"]:
        name = item["name"]
        value = item.get("value")
        if value is None:
            assert "secret_key_ref" in item["value_source"], name
            value = AFTER_APPLY[name]
        elif EXPRESSION.match(value):
            value = AFTER_APPLY[name]
        environ[name] = value
    return environ


@pytest.mark.parametrize("env_name", ENV_NAMES)
def test_each_service_env_loads_into_the_app_settings_for_its_role(
    env_name: str, synthesized: Any
) -> None:
    tf = synthesized.stacks[env_name]
    config = synthesized.envs[env_name].config
    services = resources(tf, "google_cloud_run_v2_service").values()
    roles = set()
    for service in services:
        environ = deployed_env(service)
        assert set(environ) <= set(Settings.variable_names())
        settings = Settings.from_env(environ)
        role = service["name"].rsplit("-", 1)[-1]
        roles.add(role)
        assert settings.agent_role == role
        assert (settings.state_backend, settings.queue_backend) == ("firestore", "pubsub")
        assert settings.google_cloud_project == config.project_id
        assert settings.firestore_database == config.firestore.database
        assert settings.inquiries_topic.endswith(f"/topics/{config.name_prefix}-inquiries")
        assert settings.inquiry_events_topic.endswith(
            f"/topics/{config.name_prefix}-inquiry-events"
        )
        assert settings.push_audience and settings.push_service_account
        assert settings.max_delivery_attempts == config.messaging.max_delivery_attempts
        if config.redis.tier != "off":
            assert settings.redis_host and settings.redis_auth
    assert roles == {"api", "worker"}


def test_the_push_audience_the_worker_checks_is_the_one_pubsub_sends(synthesized: Any) -> None:
    for tf in synthesized.stacks.values():
        worker = next(
            s
            for s in resources(tf, "google_cloud_run_v2_service").values()
            if s["name"].endswith("-worker")
        )
        push = next(
            s for s in resources(tf, "google_pubsub_subscription").values() if "push_config" in s
        )
        environ = {e["name"]: e.get("value") for e in worker["template"]["containers"][0]["env"]}
        oidc = push["push_config"]["oidc_token"]
        assert environ["PUSH_AUDIENCE"] == oidc["audience"]
        assert environ["PUSH_SERVICE_ACCOUNT"] == oidc["service_account_email"]


def test_an_unknown_variable_name_is_refused() -> None:
    with pytest.raises(ValueError, match=r"REDIS_HOSTNAME not read by app\.settings\.Settings"):
        check_names({"REDIS_HOST": "x", "REDIS_HOSTNAME": "x"})


def test_a_wrong_role_is_refused(synthesized: Any) -> None:
    config = synthesized.envs["dev"].config
    refs = PlatformRefs(
        database_name="db",
        inquiries_topic_path="projects/p/topics/a",
        events_topic_path="projects/p/topics/b",
        push_audience="https://w",
        push_service_account="push@p.iam.gserviceaccount.com",
    )
    with pytest.raises(ValueError, match="role: must be one of api, worker"):
        service_env("scheduler", config, refs)
    # Without Redis no cache variable is set, so the app runs without a cache.
    environ = service_env("api", config, refs)
    assert "REDIS_HOST" not in environ and service_secret_env(config, refs) == {}
    assert Settings.from_env(environ).redis_host is None


def test_settings_refuse_a_value_the_infra_could_set_wrongly() -> None:
    # The contract test above is only meaningful if Settings validates what it reads.
    with pytest.raises(SettingsError, match="QUEUE_BACKEND"):
        Settings.from_env({"QUEUE_BACKEND": "kafka"})
