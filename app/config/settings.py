"""The app's whole configuration, read from environment variables.

This class is the single source of truth of the infra/app contract: the infrastructure sets
exactly these variables on each Cloud Run service, and a test loads every synthesized
environment's env block through `Settings.from_env`. A wrong value fails at start-up with the
variable's name and what is allowed, never later in a request.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from app.config.retry_policy import INQUIRY_LEASE_SECONDS, RetryPolicy
from app.domain.callback_url import CallbackUrlError, parse_allow_list

# A full Pub/Sub topic path, as INQUIRIES_TOPIC and INQUIRY_EVENTS_TOPIC must be.
TOPIC_PATH = re.compile(r"^projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/topics/[A-Za-z][\w.~+%-]{2,254}$")


class SettingsError(ValueError):
    """A variable holds a value the app cannot use."""


def _choice(*allowed: str) -> Callable[[str, str], str]:
    def parse(name: str, raw: str) -> str:
        value = raw.strip().lower()
        if value not in allowed:
            raise SettingsError(f"{name}: must be one of {', '.join(allowed)}, got {raw!r}")
        return value

    return parse


def int_range(minimum: int, maximum: int) -> Callable[[str, str], int]:
    """A parser for an integer variable within [minimum, maximum] (gunicorn_conf uses it too)."""

    def parse(name: str, raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise SettingsError(f"{name}: must be an integer, got {raw!r}") from None
        if not minimum <= value <= maximum:
            raise SettingsError(f"{name}: must be between {minimum} and {maximum}, got {value}")
        return value

    return parse


def _text(name: str, raw: str) -> str:
    return raw.strip()


_PROJECT_ID = re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]")


def _project_id(name: str, raw: str) -> str:
    """A Google Cloud project id; it also goes unescaped into every log line's trace field."""
    value = raw.strip()
    if not _PROJECT_ID.fullmatch(value):
        raise SettingsError(
            f"{name}: must be a project id: 6-30 lowercase letters, digits or hyphens, starting"
            f" with a letter and not ending with a hyphen, got {raw!r}"
        )
    return value


def _hosts(name: str, raw: str) -> tuple[str, ...]:
    """The callback allow-list, by the rule infra/config.py applies to the same entries."""
    try:
        return parse_allow_list(raw)
    except CallbackUrlError as exc:
        raise SettingsError(f"{name}: every comma-separated entry {exc}") from None


# A browser API key is 39 characters of [A-Za-z0-9_-]; the infra sets it from a Terraform
# reference, which the synthesis checks read before it has a value, so the check is on what
# could never be a key (spaces, quotes, markup) rather than on its exact shape.
_BROWSER_KEY = re.compile(r"[^\s\"'<>\\`]{1,200}")
_HOST_NAME = re.compile(r"(?=.{4,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")


def _browser_key(name: str, raw: str) -> str:
    value = raw.strip()
    if not _BROWSER_KEY.fullmatch(value):
        # The key is public, but a wrong value may be something else pasted by mistake.
        raise SettingsError(
            f"{name}: must be the project's browser API key (at most 200 characters, no spaces,"
            " quotes or angle brackets)"
        )
    return value


def _host_name(name: str, raw: str) -> str:
    value = raw.strip().lower()
    if not _HOST_NAME.fullmatch(value):
        raise SettingsError(
            f"{name}: must be a host name without scheme, port or path"
            f" (e.g. my-project.firebaseapp.com), got {raw!r}"
        )
    return value


_CLAIM_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
# Claims the token format or Identity Platform itself sets: a customer claim of one of these
# names would take its value from something other than the account's link to a customer.
RESERVED_CLAIMS = frozenset(
    {
        "iss",
        "aud",
        "sub",
        "exp",
        "iat",
        "nbf",
        "jti",
        "auth_time",
        "user_id",
        "email",
        "email_verified",
        "firebase",
        "name",
        "picture",
        "phone_number",
        "role",
        "staff_id",
    }
)


def _claim_name(name: str, raw: str) -> str:
    """The name of a custom claim: an identifier that is none of the reserved claims."""
    value = raw.strip()
    if not _CLAIM_NAME.fullmatch(value) or value in RESERVED_CLAIMS:
        raise SettingsError(
            f"{name}: must be a custom claim name (letters, digits and underscores, at most 64,"
            f" not starting with a digit) other than {', '.join(sorted(RESERVED_CLAIMS))},"
            f" got {raw!r}"
        )
    return value


def _bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise SettingsError(f"{name}: must be true or false, got {raw!r}")


def env(name: str, parse: Callable[[str, str], Any] = _text, default: Any = None) -> Any:
    """A settings field bound to one environment variable."""
    return field(default=default, metadata={"env": name, "parse": parse})


@dataclass(frozen=True)
class Settings:
    """Every knob of the app. Defaults run fully offline on embedded backends."""

    agent_role: str = env("AGENT_ROLE", _choice("api", "worker"), "api")
    state_backend: str = env("STATE_BACKEND", _choice("local", "firestore"), "local")
    queue_backend: str = env("QUEUE_BACKEND", _choice("local", "pubsub"), "local")
    data_dir: str = env("DATA_DIR", _text, ".local")

    google_cloud_project: str | None = env("GOOGLE_CLOUD_PROJECT", _project_id)
    firestore_database: str = env("FIRESTORE_DATABASE", _text, "(default)")
    inquiries_topic: str | None = env("INQUIRIES_TOPIC")
    inquiry_events_topic: str | None = env("INQUIRY_EVENTS_TOPIC")
    push_audience: str | None = env("PUSH_AUDIENCE")
    push_service_account: str | None = env("PUSH_SERVICE_ACCOUNT")

    redis_host: str | None = env("REDIS_HOST")
    redis_port: int = env("REDIS_PORT", int_range(1, 65535), 6379)
    redis_auth: str | None = env("REDIS_AUTH")
    # Memorystore with in-transit encryption serves TLS only; its CA certificate (PEM, public).
    redis_ca_cert: str | None = env("REDIS_CA_CERT")
    # How long a cached session view lives; short, since it bounds staleness if Redis was
    # unreachable for a writer while reachable for a reader (see app/adapters/redis_cache.py).
    redis_cache_ttl_seconds: int = env("REDIS_CACHE_TTL_SECONDS", int_range(5, 3600), 120)

    # Who the api's callers are. identity_platform (the default, what Cloud Run runs): Identity
    # Platform ID tokens of the project AUTH_PROJECT_ID (default GOOGLE_CLOUD_PROJECT). local:
    # tokens of a key pair the api keeps in DATA_DIR, minted by POST /dev/token; refused on
    # Cloud Run. The customer is the token's AUTH_CUSTOMER_CLAIM claim (see app/identity/).
    auth_mode: str = env("AUTH_MODE", _choice("identity_platform", "local"), "identity_platform")
    auth_project_id: str | None = env("AUTH_PROJECT_ID", _project_id)
    auth_customer_claim: str = env("AUTH_CUSTOMER_CLAIM", _claim_name, "customer_id")
    # The key of the keyed hash that names callers in logs (a secret); unset, a key derived
    # from the token audience is used, which keeps e-mails and ids out of the logs but lets
    # anyone who knows a user id compute its pseudonym.
    log_pseudonym_key: str | None = env("LOG_PSEUDONYM_KEY")
    # What the pages need to sign people in with Identity Platform (GET /v1/web-config): the
    # project's browser API key (public by design: the infra restricts it to the sign-in APIs
    # and the app's domains) and the auth domain (default <auth project>.firebaseapp.com).
    # Without the key, the pages say that sign-in is not configured. Unused with AUTH_MODE=local.
    web_api_key: str | None = env("WEB_API_KEY", _browser_key)
    web_auth_domain: str | None = env("WEB_AUTH_DOMAIN", _host_name)

    model: str = env("MODEL", _choice("rules", "gemini"), "rules")
    gemini_model: str = env("GEMINI_MODEL", _text, "gemini-2.5-flash")
    gemini_location: str = env("GEMINI_LOCATION", _text, "europe-west1")

    session_ttl_seconds: int = env("SESSION_TTL_SECONDS", int_range(60, 90 * 86400), 86400)
    # Bounds on one session, so that what a session costs to store, read and cache stays
    # bounded: the most messages it holds (a turn past it is 409: start a new session), and
    # how long after it began it ends, however active (seconds; the TTL still slides within).
    session_max_messages: int = env("SESSION_MAX_MESSAGES", int_range(2, 100_000), 1000)
    session_max_age: int = env("SESSION_MAX_AGE", int_range(60, 365 * 86400), 30 * 86400)
    # The store's rules (the FAQ promises 30 days): a return within this many days of
    # delivery; "it never arrived" refundable this many days after the expected delivery.
    return_window_days: int = env("RETURN_WINDOW_DAYS", int_range(1, 365), 30)
    not_delivered_grace_days: int = env("NOT_DELIVERED_GRACE_DAYS", int_range(0, 60), 5)
    callback_allowed_hosts: tuple[str, ...] = env("CALLBACK_ALLOWED_HOSTS", _hosts, ())
    callback_signing_key: str | None = env("CALLBACK_SIGNING_KEY")
    # Only for tests whose callback receiver runs on this machine: lets callbacks reach
    # loopback addresses (never private or metadata ones); refused on Cloud Run.
    callback_loopback_allowed_for_tests: bool = env(
        "CALLBACK_LOOPBACK_ALLOWED_FOR_TESTS", _bool, False
    )
    # The push subscription's dead-letter attempts (the worker gives up on the last one), and
    # the local queue's. 5 to 100 are Pub/Sub's limits; with the subscription's retry policy
    # (10 s doubling), 5 is also the fewest whose last retry comes after a 60 s inquiry lease
    # left behind by an earlier delivery has run out (checked by `Settings.local_retry_policy`).
    max_delivery_attempts: int = env("MAX_DELIVERY_ATTEMPTS", int_range(5, 100), 5)
    max_body_bytes: int = env("MAX_BODY_BYTES", int_range(1024, 10 * 1024 * 1024), 64 * 1024)
    log_level: str = env("LOG_LEVEL", _choice("debug", "info", "warning", "error"), "info")
    # The Pub/Sub worker's background housekeeping thread; 0 turns it off. Cloud Run sets 0:
    # there Cloud Scheduler calls POST /tasks/housekeeping instead (see app/wiring.py).
    # An inquiry still queued this long after it was accepted is counted by each housekeeping
    # pass (jsonPayload stale_queued), which the observability module alerts on.
    stale_queued_after_seconds: int = env("STALE_QUEUED_AFTER_SECONDS", int_range(60, 86_400), 600)
    # A conversation waiting this long for a person (handoff "waiting", no team member yet) is
    # counted by each housekeeping pass (jsonPayload handoffs_waiting_too_long), which the
    # observability module alerts on.
    handoff_wait_alert_seconds: int = env("HANDOFF_WAIT_ALERT_SECONDS", int_range(30, 86_400), 300)
    housekeeping_interval_seconds: int = env(
        "HOUSEKEEPING_INTERVAL_SECONDS", int_range(0, 3600), 30
    )
    # Only for the Pub/Sub emulator, which pushes without a token; refused on Cloud Run.
    push_auth_disabled_for_emulator: bool = env("PUSH_AUTH_DISABLED_FOR_EMULATOR", _bool, False)
    # Live updates (server-sent events, app/live/). Each open stream holds one gunicorn thread:
    # app/gunicorn_conf.py adds LIVE_MAX_STREAMS threads to GUNICORN_THREADS on the api, and a
    # stream past the cap gets 503. A comment line every LIVE_HEARTBEAT_SECONDS keeps proxies
    # from closing a quiet stream; the server ends each stream after LIVE_STREAM_MAX_SECONDS
    # (the client resumes with Last-Event-ID), and re-reads the session's message count every
    # LIVE_POLL_SECONDS in case a notification was missed (another process without Redis).
    live_max_streams: int = env("LIVE_MAX_STREAMS", int_range(1, 1000), 200)
    live_heartbeat_seconds: int = env("LIVE_HEARTBEAT_SECONDS", int_range(1, 120), 15)
    live_stream_max_seconds: int = env("LIVE_STREAM_MAX_SECONDS", int_range(5, 3600), 300)
    live_poll_seconds: int = env("LIVE_POLL_SECONDS", int_range(1, 60), 1)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Parse `environ` (default: os.environ); `overrides` win and are not parsed."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            name = f.metadata["env"]
            raw = environ.get(name)
            if raw is not None and raw.strip() != "":
                values[f.name] = f.metadata["parse"](name, raw)
        values.update(overrides)
        return cls(**values)

    @classmethod
    def variable_names(cls) -> tuple[str, ...]:
        """Every environment variable the app reads: the vocabulary of the infra contract."""
        return tuple(f.metadata["env"] for f in fields(cls))

    def check_backends(self) -> None:
        """Every variable the selected backends need, checked before anything is built."""
        if self.queue_backend == "local":
            self.local_retry_policy()
        if self.state_backend == "firestore":
            _require(self.google_cloud_project, "GOOGLE_CLOUD_PROJECT", "STATE_BACKEND=firestore")
            _require(self.firestore_database, "FIRESTORE_DATABASE", "STATE_BACKEND=firestore")
        if self.queue_backend == "pubsub":
            check_topic_path("INQUIRIES_TOPIC", self.inquiries_topic)
            check_topic_path("INQUIRY_EVENTS_TOPIC", self.inquiry_events_topic)
        if not self.redis_host:
            for variable, value in (
                ("REDIS_AUTH", self.redis_auth),
                ("REDIS_CA_CERT", self.redis_ca_cert),
            ):
                if value:
                    raise SettingsError(f"REDIS_HOST: required when {variable} is set")
        elif self.redis_ca_cert and "-----BEGIN CERTIFICATE-----" not in self.redis_ca_cert:
            raise SettingsError(
                "REDIS_CA_CERT: must be a PEM certificate (-----BEGIN CERTIFICATE-----)"
            )

    def local_retry_policy(self, lease_seconds: float = INQUIRY_LEASE_SECONDS) -> RetryPolicy:
        """The local queue's retry policy: the Terraform subscription's (RetryPolicy's defaults)
        with MAX_DELIVERY_ATTEMPTS.

        A delivery that died or could not give the inquiry's lease back leaves it held for
        `lease_seconds`; the deliveries after it get RETRY, each one an attempt. Attempts too
        few for the retries to outlast that lease would dead-letter the message while the lease
        is still held, leaving the inquiry unfinished, so they are refused here, at start-up.
        """
        policy = RetryPolicy(max_attempts=self.max_delivery_attempts)
        if not policy.waits_out(lease_seconds):
            fewest = policy.fewest_attempts_waiting_out(lease_seconds)
            allowed = f"at least {fewest}" if fewest is not None else "more than this policy allows"
            raise SettingsError(
                f"MAX_DELIVERY_ATTEMPTS: must be {allowed} with QUEUE_BACKEND=local: the local"
                f" queue retries after {policy.min_backoff_seconds:g} s, doubling up to"
                f" {policy.max_backoff_seconds:g} s, and its last attempt must come after the"
                f" worker's {lease_seconds:g} s inquiry lease has run out,"
                f" got {self.max_delivery_attempts}"
            )
        return policy

    def gemini_project(self) -> str:
        """The project Gemini is called in (MODEL=gemini needs one)."""
        if not self.google_cloud_project:
            raise SettingsError("GOOGLE_CLOUD_PROJECT: required when MODEL=gemini")
        return self.google_cloud_project


def _require(settings_value: Any, variable: str, because: str) -> None:
    if settings_value is None or (isinstance(settings_value, str) and not settings_value.strip()):
        raise SettingsError(f"{variable}: required when {because}")


def check_topic_path(variable: str, value: str | None) -> str:
    """A full topic path, or a SettingsError naming the variable."""
    if not value:
        raise SettingsError(f"{variable}: required when QUEUE_BACKEND=pubsub")
    if not TOPIC_PATH.fullmatch(value):
        raise SettingsError(
            f"{variable}: must be a full topic path projects/<project>/topics/<name>, got {value!r}"
        )
    return value
