"""The environment variables the infrastructure sets on the api and worker services.

Why here and checked: the app reads its whole configuration from these variables, and
`app.config.settings.Settings` is the single list of their names. Every name set below must be
one the app reads, or synthesis fails: a typo here would otherwise become a setting the app silently
ignores in production. (Only `app.config.settings` is imported: it has no heavy dependencies.)

`required_in_production` is the other half of the contract: what each role cannot run without
on Cloud Run. The stack checks every service's env against it at synthesis, and the contract
test (tests/infra/test_app_env.py) holds every synthesized environment to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

from app.config.settings import Settings, SettingsError
from infra.config import EnvironmentConfig

ROLES = ("api", "worker")
# Memorystore with in-transit encryption (the storage module always turns it on) serves TLS on
# this port only; the plain-text port 6379 is closed.
MEMORYSTORE_TLS_PORT = "6378"

# What every service needs on Cloud Run (the app's Pub/Sub wiring wants both topics in either
# role), then what the worker adds: the Pub/Sub push identity it verifies. GOOGLE_CLOUD_PROJECT
# is also what links log lines to their trace (`projects/P/traces/T`).
_REQUIRED_BY_ALL = (
    "AGENT_ROLE",
    "STATE_BACKEND",
    "QUEUE_BACKEND",
    "GOOGLE_CLOUD_PROJECT",
    "FIRESTORE_DATABASE",
    "INQUIRIES_TOPIC",
    "INQUIRY_EVENTS_TOPIC",
)
_REQUIRED_BY_ROLE = {
    # Whose ID tokens the api accepts: named, not left to the defaults; and how its pages sign
    # people in there (GET /v1/web-config), without which nobody could.
    "api": ("AUTH_MODE", "AUTH_PROJECT_ID", "WEB_API_KEY", "WEB_AUTH_DOMAIN"),
    "worker": ("PUSH_AUDIENCE", "PUSH_SERVICE_ACCOUNT"),
}
# Identity Platform of the environment's own project signs the customers' ID tokens.
AUTH_MODE = "identity_platform"
# Settings whose value must be this one on Cloud Run (the local defaults would lose data there;
# local auth would accept tokens the api mints itself).
PRODUCTION_VALUES = {
    "state_backend": "firestore",
    "queue_backend": "pubsub",
    "push_auth_disabled_for_emulator": False,
    "auth_mode": AUTH_MODE,
    "callback_loopback_allowed_for_tests": False,
}


@dataclass(frozen=True, kw_only=True)
class PlatformRefs:
    """What the app must know about the resources built for it (strings or Terraform tokens)."""

    database_name: str
    inquiries_topic_path: str
    events_topic_path: str
    push_audience: str
    push_service_account: str
    redis_host: str | None = None
    redis_ca_cert: str | None = None
    redis_auth_secret_id: str | None = None
    web_api_key: str | None = None  # the browser API key the pages sign in with (api only)


def service_env(role: str, config: EnvironmentConfig, refs: PlatformRefs) -> dict[str, str]:
    """Plain env vars for one service (secrets are in `service_secret_env`)."""
    _check_role(role)
    app = config.app
    values = {
        "AGENT_ROLE": role,
        "STATE_BACKEND": "firestore",
        "QUEUE_BACKEND": "pubsub",
        "GOOGLE_CLOUD_PROJECT": config.project_id,
        "FIRESTORE_DATABASE": refs.database_name,
        "INQUIRIES_TOPIC": refs.inquiries_topic_path,
        "INQUIRY_EVENTS_TOPIC": refs.events_topic_path,
        "PUSH_AUDIENCE": refs.push_audience,
        "PUSH_SERVICE_ACCOUNT": refs.push_service_account,
        "MODEL": app.model,
        "SESSION_TTL_SECONDS": str(app.session_ttl_seconds),
        "MAX_DELIVERY_ATTEMPTS": str(config.messaging.max_delivery_attempts),
        "MAX_BODY_BYTES": str(app.max_body_bytes),
        "LOG_LEVEL": app.log_level,
    }
    if role == "api":
        values["AUTH_MODE"] = AUTH_MODE
        values["AUTH_PROJECT_ID"] = config.project_id
        values["AUTH_CUSTOMER_CLAIM"] = config.auth.customer_claim
        if refs.web_api_key is not None:
            values["WEB_API_KEY"] = refs.web_api_key
            values["WEB_AUTH_DOMAIN"] = web_auth_domain(config)
        # Live streams: the cap gunicorn sizes its threads by, and when each stream ends.
        values["LIVE_MAX_STREAMS"] = str(config.compute.api.live_max_streams)
        values["LIVE_STREAM_MAX_SECONDS"] = str(config.compute.api.live_stream_max_seconds)
    if role == "worker":
        # Cloud Scheduler drives housekeeping on Cloud Run; no thread (see app/wiring.py).
        values["HOUSEKEEPING_INTERVAL_SECONDS"] = "0"
        if app.handoff_wait_alert_seconds is not None:  # housekeeping counts the long waits
            values["HANDOFF_WAIT_ALERT_SECONDS"] = str(app.handoff_wait_alert_seconds)
    if app.callback_allowed_hosts:
        values["CALLBACK_ALLOWED_HOSTS"] = ",".join(app.callback_allowed_hosts)
    if app.model == "gemini":
        values["GEMINI_MODEL"] = app.gemini_model
        values["GEMINI_LOCATION"] = app.gemini_location
    if refs.redis_host is not None:
        if not refs.redis_ca_cert:
            raise ValueError("redis_ca_cert: required with redis_host (Memorystore serves TLS)")
        values["REDIS_HOST"] = refs.redis_host
        values["REDIS_PORT"] = MEMORYSTORE_TLS_PORT
        values["REDIS_CA_CERT"] = refs.redis_ca_cert
    check_names(values)
    return values


def web_auth_domain(config: EnvironmentConfig) -> str:
    """The Firebase Auth SDK's authDomain: the file's, else the project's firebaseapp.com."""
    return config.auth.web_auth_domain or f"{config.project_id}.firebaseapp.com"


def service_secret_env(role: str, config: EnvironmentConfig, refs: PlatformRefs) -> dict[str, str]:
    """Env vars of one service read from Secret Manager: variable name -> secret id."""
    _check_role(role)
    secrets: dict[str, str] = {}
    if refs.redis_auth_secret_id is not None:
        secrets["REDIS_AUTH"] = refs.redis_auth_secret_id
    if config.app.callback_signing_secret is not None:
        secrets["CALLBACK_SIGNING_KEY"] = config.app.callback_signing_secret
    if role == "api" and config.auth.pseudonym_key_secret is not None:
        # The api alone reads it: it names the callers of its routes in its logs.
        secrets["LOG_PSEUDONYM_KEY"] = config.auth.pseudonym_key_secret
    check_names(secrets)
    return secrets


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise ValueError(f"role: must be one of {', '.join(ROLES)}, got {role!r}")


def check_names(values: Mapping[str, object]) -> None:
    """Refuse any variable the app does not read."""
    known = set(Settings.variable_names())
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(
            f"env: {', '.join(unknown)} not read by app.settings.Settings"
            f" (known: {', '.join(sorted(known))})"
        )


def required_in_production(role: str, settings: Settings) -> tuple[str, ...]:
    """The variables a service of `role` cannot run without on Cloud Run, given its settings.

    Conditional ones follow from the settings: a Redis host needs its TLS port, password and CA
    certificate; allowed callback hosts need the signing key (callbacks are always signed).
    """
    _check_role(role)
    names = [*_REQUIRED_BY_ALL, *_REQUIRED_BY_ROLE[role]]
    if settings.redis_host:
        names += ["REDIS_PORT", "REDIS_AUTH", "REDIS_CA_CERT"]
    if settings.callback_allowed_hosts:
        names.append("CALLBACK_SIGNING_KEY")
    return tuple(names)


def production_problems(role: str, environ: Mapping[str, str]) -> list[str]:
    """Why a service of `role` with this env would not run correctly on Cloud Run (empty: ok).

    `environ` holds every variable the service sets, secrets included (any non-empty stand-in
    for a secret's value will do: only its presence is checked).
    """
    try:
        settings = Settings.from_env(environ)
    except SettingsError as exc:
        return [str(exc)]
    problems = [
        f"{name}: required on Cloud Run for the {role} role, not set"
        for name in required_in_production(role, settings)
        if not str(environ.get(name, "")).strip()
    ]
    if settings.agent_role != role:
        problems.append(f"AGENT_ROLE: must be {role!r} on the {role} service")
    env_name = {f.name: f.metadata["env"] for f in fields(Settings)}
    for attribute, wanted in PRODUCTION_VALUES.items():
        if getattr(settings, attribute) != wanted:
            got = getattr(settings, attribute)
            problems.append(f"{env_name[attribute]}: must be {wanted!r} on Cloud Run, got {got!r}")
    return problems


def check_production_env(role: str, environ: Mapping[str, str]) -> None:
    """Refuse a service env the app cannot run on in production, naming every problem."""
    problems = production_problems(role, environ)
    if problems:
        raise ValueError(f"{role} service env: " + "; ".join(problems))
