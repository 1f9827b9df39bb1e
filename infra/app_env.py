"""The environment variables the infrastructure sets on the api and worker services.

Why here and checked: the app reads its whole configuration from these variables, and
`app.settings.Settings` is the single list of their names. Every name set below must be one the
app reads, or synthesis fails: a typo here would otherwise become a setting the app silently
ignores in production. (Only `app.settings` is imported: it has no heavy dependencies.)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from app.settings import Settings
from infra.config import EnvironmentConfig

ROLES = ("api", "worker")


@dataclass(frozen=True, kw_only=True)
class PlatformRefs:
    """What the app must know about the resources built for it (strings or Terraform tokens)."""

    database_name: str
    inquiries_topic_path: str
    events_topic_path: str
    push_audience: str
    push_service_account: str
    redis_host: str | None = None
    redis_port: str | None = None
    redis_auth_secret_id: str | None = None


def service_env(role: str, config: EnvironmentConfig, refs: PlatformRefs) -> dict[str, str]:
    """Plain env vars for one service (secrets are in `service_secret_env`)."""
    if role not in ROLES:
        raise ValueError(f"role: must be one of {', '.join(ROLES)}, got {role!r}")
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
    if app.callback_allowed_hosts:
        values["CALLBACK_ALLOWED_HOSTS"] = ",".join(app.callback_allowed_hosts)
    if app.model == "gemini":
        values["GEMINI_MODEL"] = app.gemini_model
        values["GEMINI_LOCATION"] = app.gemini_location
    if refs.redis_host is not None:
        values["REDIS_HOST"] = refs.redis_host
        values["REDIS_PORT"] = refs.redis_port or "6379"
    check_names(values)
    return values


def service_secret_env(config: EnvironmentConfig, refs: PlatformRefs) -> dict[str, str]:
    """Env vars read from Secret Manager: variable name -> secret id."""
    secrets: dict[str, str] = {}
    if refs.redis_auth_secret_id is not None:
        secrets["REDIS_AUTH"] = refs.redis_auth_secret_id
    if config.app.callback_signing_secret is not None:
        secrets["CALLBACK_SIGNING_KEY"] = config.app.callback_signing_secret
    check_names(secrets)
    return secrets


def check_names(values: Mapping[str, object]) -> None:
    """Refuse any variable the app does not read."""
    known = set(Settings.variable_names())
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(
            f"env: {', '.join(unknown)} not read by app.settings.Settings"
            f" (known: {', '.join(sorted(known))})"
        )
