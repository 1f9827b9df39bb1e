"""The infra/app contract: each service's env loads into the app's settings for its role, and
holds everything that role needs on Cloud Run."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import infra.stack
from app.config.settings import Settings, SettingsError
from infra.app_env import (
    MEMORYSTORE_TLS_PORT,
    PlatformRefs,
    check_names,
    check_production_env,
    production_problems,
    required_in_production,
    service_env,
    service_secret_env,
)
from tests.infra.conftest import ENV_NAMES, REPO, resources

REFERENCE = re.compile(r"^\$\{([^}]+)\}$")
REFS = PlatformRefs(
    database_name="db",
    inquiries_topic_path="projects/p/topics/a",
    events_topic_path="projects/p/topics/b",
    push_audience="https://w",
    push_service_account="push@p.iam.gserviceaccount.com",
)


def services(tf: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The stack's Cloud Run services by role (the name's last part)."""
    found = resources(tf, "google_cloud_run_v2_service").values()
    return {s["name"].rsplit("-", 1)[-1]: s for s in found}


def service_environ(service: dict[str, Any]) -> dict[str, str]:
    """The variables as the app reads them: a Terraform reference (`${...}`) stays as a
    placeholder string, a Secret Manager variable gets a stand-in naming its secret."""
    environ: dict[str, str] = {}
    for item in service["template"]["containers"][0]["env"]:
        if "value" in item:
            environ[item["name"]] = item["value"]
        else:
            ref = item["value_source"]["secret_key_ref"]
            environ[item["name"]] = f"secret:{ref['secret']}:{ref['version']}"
    return environ


def plain_values(service: dict[str, Any]) -> dict[str, str]:
    return {
        e["name"]: e["value"] for e in service["template"]["containers"][0]["env"] if "value" in e
    }


@pytest.mark.parametrize("env_name", ENV_NAMES)
def test_each_service_env_loads_into_the_app_settings_for_its_role(
    env_name: str, synthesized: Any
) -> None:
    tf = synthesized.stacks[env_name]
    config = synthesized.envs[env_name].config
    by_role = services(tf)
    assert set(by_role) == {"api", "worker"}
    for role, service in by_role.items():
        environ = service_environ(service)
        assert set(environ) <= set(Settings.variable_names())
        settings = Settings.from_env(environ)
        assert settings.agent_role == role
        assert (settings.state_backend, settings.queue_backend) == ("firestore", "pubsub")
        assert settings.google_cloud_project == config.project_id
        assert settings.firestore_database == config.firestore.database
        prefix = f"projects/{config.project_id}/topics/{config.name_prefix}"
        assert settings.inquiries_topic == f"{prefix}-inquiries"
        assert settings.inquiry_events_topic == f"{prefix}-inquiry-events"
        assert settings.max_delivery_attempts == config.messaging.max_delivery_attempts
        assert settings.model == config.app.model
        assert settings.push_auth_disabled_for_emulator is False
        # Customers' ID tokens: the environment's own Identity Platform, read by the api only.
        assert settings.auth_mode == "identity_platform"
        if role == "api":
            assert settings.auth_project_id == config.project_id
            assert settings.auth_customer_claim == config.auth.customer_claim
            assert {"AUTH_MODE", "AUTH_PROJECT_ID", "AUTH_CUSTOMER_CLAIM"} <= set(environ)
        else:
            assert not {n for n in environ if n.startswith("AUTH_")}, role
        key_secret = config.auth.pseudonym_key_secret if role == "api" else None
        expected = None if key_secret is None else f"secret:{key_secret}:latest"
        assert environ.get("LOG_PSEUDONYM_KEY") == expected, role


@pytest.mark.parametrize("env_name", ENV_NAMES)
def test_every_setting_a_role_needs_in_production_is_set(env_name: str, synthesized: Any) -> None:
    for role, service in services(synthesized.stacks[env_name]).items():
        environ = service_environ(service)
        required = required_in_production(role, Settings.from_env(environ))
        assert {"AGENT_ROLE", "GOOGLE_CLOUD_PROJECT", "FIRESTORE_DATABASE"} <= set(required)
        if role == "api":
            assert {"AUTH_MODE", "AUTH_PROJECT_ID"} <= set(required)
        missing = [name for name in required if not environ.get(name)]
        assert missing == [], f"{env_name} {role}"
        assert production_problems(role, environ) == []


# Values Terraform knows only after apply, as the running service would see them.
AFTER_APPLY = {
    "REDIS_HOST": "10.20.0.3",
    "REDIS_CA_CERT": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    "PUSH_SERVICE_ACCOUNT": "agents-push@acme-agents.iam.gserviceaccount.com",
    "WEB_API_KEY": "AIzaSyA0123456789abcdefghijklmnopqrstuv",
}


@pytest.mark.parametrize("env_name", ENV_NAMES)
def test_the_app_start_up_checks_accept_each_service_env(env_name: str, synthesized: Any) -> None:
    """The app's own check of its backends' settings (run before it builds them) passes too,
    once the apply-time references hold values of the shape Terraform will put there."""

    for service in services(synthesized.stacks[env_name]).values():
        environ = service_environ(service)
        for name, value in environ.items():
            if REFERENCE.match(value):
                assert name in AFTER_APPLY, f"{name}: a new apply-time value, add a stand-in"
                environ[name] = AFTER_APPLY[name]
        Settings.from_env(environ).check_backends()


@pytest.mark.parametrize("env_name", ENV_NAMES)
def test_removing_any_required_variable_from_a_service_fails_the_check(
    env_name: str, synthesized: Any
) -> None:
    for role, service in services(synthesized.stacks[env_name]).items():
        environ = service_environ(service)
        required = required_in_production(role, Settings.from_env(environ))
        for name in required:
            broken = {k: v for k, v in environ.items() if k != name}
            with pytest.raises(ValueError, match=rf"{name}: required on Cloud Run for the {role}"):
                check_production_env(role, broken)


@pytest.mark.parametrize("env_name", ENV_NAMES)
def test_redis_is_reached_over_tls_with_the_instance_ca_and_a_secret_password(
    env_name: str, synthesized: Any
) -> None:
    tf = synthesized.stacks[env_name]
    instances = resources(tf, "google_redis_instance")
    for role, service in services(tf).items():
        environ = service_environ(service)
        plain = plain_values(service)
        if synthesized.envs[env_name].config.redis.tier == "off":
            assert not {"REDIS_HOST", "REDIS_PORT", "REDIS_AUTH", "REDIS_CA_CERT"} & set(environ)
            continue
        ((key, redis),) = instances.items()
        assert redis["transit_encryption_mode"] == "SERVER_AUTHENTICATION"
        assert plain["REDIS_PORT"] == MEMORYSTORE_TLS_PORT == "6378"
        assert plain["REDIS_HOST"] == f"${{google_redis_instance.{key}.host}}"
        assert plain["REDIS_CA_CERT"] == f"${{google_redis_instance.{key}.server_ca_certs[0].cert}}"
        assert "REDIS_AUTH" not in plain, f"{role}: the password is never a plain value"
        assert environ["REDIS_AUTH"].startswith("secret:${google_secret_manager_secret.")
        settings = Settings.from_env(environ)
        assert settings.redis_port == 6378 and settings.redis_ca_cert and settings.redis_auth


def test_the_push_audience_the_worker_checks_is_the_one_pubsub_sends(synthesized: Any) -> None:
    for tf in synthesized.stacks.values():
        environ = plain_values(services(tf)["worker"])
        push = next(
            s for s in resources(tf, "google_pubsub_subscription").values() if "push_config" in s
        )
        oidc = push["push_config"]["oidc_token"]
        assert environ["PUSH_AUDIENCE"] == oidc["audience"]
        assert environ["PUSH_SERVICE_ACCOUNT"] == oidc["service_account_email"]


def test_log_metrics_watch_the_service_that_runs_the_role_that_logs(synthesized: Any) -> None:
    # Inquiry state lines come from the worker role: the metric must name that role's service.
    for tf in synthesized.stacks.values():
        worker = services(tf)["worker"]
        assert plain_values(worker)["AGENT_ROLE"] == "worker"
        # Inquiry state lines, unprocessable pushes and housekeeping passes (watched for
        # inquiries queued and customers waiting too long) are all the worker's; model token
        # lines come from both roles.
        metrics = resources(tf, "google_logging_metric").values()
        usage = [m["filter"] for m in metrics if "tokens" in m["name"]]
        filters = sorted(m["filter"] for m in metrics if "tokens" not in m["name"])
        assert len(filters) == 4 and len(usage) == 2
        api = services(tf)["api"]["name"]
        for query in usage:
            assert f'resource.labels.service_name="{api}"' in query
            assert f'resource.labels.service_name="{worker["name"]}"' in query
        for query in filters:
            assert f'resource.labels.service_name="{worker["name"]}"' in query
        assert [q for q in filters if 'jsonPayload.event="inquiry.state"' in q]
        assert [q for q in filters if 'jsonPayload.event="pubsub.unprocessable"' in q]
        assert len([q for q in filters if 'jsonPayload.event="housekeeping"' in q]) == 2


def test_a_stack_whose_service_lacks_a_required_variable_does_not_synthesize(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from infra.loader import load_environment
    from infra.synth import SynthError, synthesize

    real = infra.stack.service_env

    def without_topic(role: str, config: Any, refs: PlatformRefs) -> dict[str, str]:
        values = real(role, config, refs)
        values.pop("INQUIRIES_TOPIC")
        return values

    monkeypatch.setattr(infra.stack, "service_env", without_topic)
    env = load_environment(REPO / "environments" / "dev.yaml")
    with pytest.raises(SynthError, match="INQUIRIES_TOPIC: required on Cloud Run for the api role"):
        synthesize([env], tmp_path / "cdktf.out")
    assert not (tmp_path / "cdktf.out" / "stacks").exists()


@pytest.mark.parametrize(
    ("role", "change", "problem"),
    [
        ("worker", {"STATE_BACKEND": "local"}, "STATE_BACKEND: must be 'firestore' on Cloud Run"),
        ("worker", {"QUEUE_BACKEND": "local"}, "QUEUE_BACKEND: must be 'pubsub' on Cloud Run"),
        (
            "worker",
            {"PUSH_AUTH_DISABLED_FOR_EMULATOR": "true"},
            "PUSH_AUTH_DISABLED_FOR_EMULATOR: must be",
        ),
        ("worker", {"AGENT_ROLE": "api"}, "AGENT_ROLE: must be 'worker' on the worker service"),
        ("worker", {"REDIS_PORT": "tls"}, "REDIS_PORT: must be an integer"),
        ("worker", {"REDIS_CA_CERT": ""}, "REDIS_CA_CERT: required on Cloud Run for the worker"),
        ("worker", {"CALLBACK_ALLOWED_HOSTS": "hooks.example.com"}, "CALLBACK_SIGNING_KEY: req"),
        # An api that would not check its own project's Identity Platform tokens.
        ("api", {"AUTH_MODE": "local"}, "AUTH_MODE: must be 'identity_platform' on Cloud Run"),
        ("api", {"AUTH_MODE": ""}, "AUTH_MODE: required on Cloud Run for the api role"),
        ("api", {"AUTH_PROJECT_ID": ""}, "AUTH_PROJECT_ID: required on Cloud Run for the api"),
        ("api", {"AUTH_PROJECT_ID": "Acme_Prod"}, "AUTH_PROJECT_ID: must be a project id"),
        ("api", {"AUTH_CUSTOMER_CLAIM": "email"}, "AUTH_CUSTOMER_CLAIM: must be a custom claim"),
    ],
)
def test_a_value_the_app_cannot_run_on_in_production_is_named(
    role: str, change: dict[str, str], problem: str, synthesized: Any
) -> None:
    environ = service_environ(services(synthesized.stacks["dev"])[role])
    assert production_problems(role, environ) == []
    problems = production_problems(role, {**environ, **change})
    assert any(p.startswith(problem) for p in problems), problems


def test_the_pseudonym_key_is_the_api_s_alone(synthesized: Any) -> None:
    config = synthesized.envs["prod"].config
    assert config.auth.pseudonym_key_secret
    api, worker = (service_secret_env(role, config, REFS) for role in ("api", "worker"))
    assert api["LOG_PSEUDONYM_KEY"] == config.auth.pseudonym_key_secret
    assert "LOG_PSEUDONYM_KEY" not in worker
    without = config.model_copy(
        update={"auth": config.auth.model_copy(update={"pseudonym_key_secret": None})}
    )
    assert "LOG_PSEUDONYM_KEY" not in service_secret_env("api", without, REFS)


def test_redis_without_its_ca_certificate_is_refused(synthesized: Any) -> None:
    config = synthesized.envs["dev"].config
    refs = replace(REFS, redis_host="10.0.0.3")
    with pytest.raises(ValueError, match="redis_ca_cert: required with redis_host"):
        service_env("api", config, refs)


def test_an_unknown_variable_name_is_refused() -> None:
    with pytest.raises(ValueError, match=r"REDIS_HOSTNAME not read by app\.settings\.Settings"):
        check_names({"REDIS_HOST": "x", "REDIS_HOSTNAME": "x"})


def test_a_wrong_role_is_refused(synthesized: Any) -> None:
    config = synthesized.envs["dev"].config
    with pytest.raises(ValueError, match="role: must be one of api, worker"):
        service_env("scheduler", config, REFS)
    with pytest.raises(ValueError, match="role: must be one of api, worker"):
        required_in_production("scheduler", Settings())
    with pytest.raises(ValueError, match="role: must be one of api, worker"):
        service_secret_env("scheduler", config, REFS)
    # Without Redis no cache variable is set, so the app runs without a cache.
    environ = service_env("api", config, REFS)
    assert "REDIS_HOST" not in environ and service_secret_env("api", config, REFS) == {}
    assert Settings.from_env(environ).redis_host is None


def test_settings_refuse_a_value_the_infra_could_set_wrongly() -> None:
    # The contract test above is only meaningful if Settings validates what it reads.
    with pytest.raises(SettingsError, match="QUEUE_BACKEND"):
        Settings.from_env({"QUEUE_BACKEND": "kafka"})


def test_the_stack_charts_the_event_the_gemini_adapter_logs():
    from app.adapters.gemini_model import USAGE_EVENT
    from infra.stack import MODEL_USAGE_EVENT

    assert MODEL_USAGE_EVENT == USAGE_EVENT
