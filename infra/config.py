"""The schema of one environment file (`environments/<env>.yaml`).

Why a schema: a typo or an unsafe value in an environment file must fail before anything is
synthesized, naming the field and what is allowed, instead of surfacing as a half-applied plan.
Every model forbids unknown keys, so a misspelled setting is an error and never silently ignored.
Cross-field rules raise `invalid(...)` from a field validator, so the error points at the field
that is wrong (`compute.api.max_instances: must be >= min_instances (2), got 1`).

The limits of what a module accepts are the module's own constants, imported: a value this
schema takes is one the module takes too, and a module that widens or narrows a limit changes
it here. Where the file is stricter than the module, the comment says why. Patterns are
matched whole (`fullmatch`): `^...$` with `match` would take a trailing newline.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import fields
from typing import Annotated, ClassVar, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from app.config.retry_policy import INQUIRY_LEASE_SECONDS, RetryPolicy
from app.config.settings import Settings, SettingsError
from app.domain.callback_url import CallbackUrlError, normalize_allowed_host
from modules.compute import CONCURRENCY, CPU_VALUES, INSTANCES, KEEP_RECENT, TIMEOUT_SECONDS
from modules.customer_identity import MIN_PASSWORD_LENGTH
from modules.edge import RATE_LIMIT_PER_MINUTE
from modules.kms import ROTATION_DAYS
from modules.messaging import ACK_DEADLINE, BACKOFF, DELIVERY_ATTEMPTS, RETENTION
from modules.network import PSA_PREFIX_LENGTH
from modules.observability import LATENCY_MS, LOG_RETENTION_DAYS, PASS_COUNT_THRESHOLD
from modules.storage import FIRESTORE_KMS_LOCATIONS, MAX_BACKUP_RETENTION_DAYS, REDIS_MEMORY_GB

PROJECT_ID = re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]")
REGION = re.compile(r"[a-z]+-[a-z]+[0-9]+")
LABEL_KEY = re.compile(r"[a-z][a-z0-9_-]{0,62}")
LABEL_VALUE = re.compile(r"[a-z0-9_-]{0,63}")
# Cloud Storage bucket names that Terraform's GCS backend accepts (no dots: no domain check).
BUCKET = re.compile(r"[a-z0-9][a-z0-9_-]{1,61}[a-z0-9]")
DOMAIN = re.compile(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[a-z]{2,}")
MEMORY = re.compile(r"[1-9][0-9]*(Mi|Gi)")
SECRET_ID = re.compile(r"[A-Za-z0-9_-]{1,255}")
# Keys rotate at least every 90 days: checkov's CKV_GCP_43 (the module allows up to 3650).
MAX_ROTATION_DAYS = 90


def invalid(message: str) -> PydanticCustomError:
    """An error whose text is shown as is after the field's path."""
    return PydanticCustomError("invalid", message)


def _digits(value: object) -> object:
    # YAML reads an unquoted project number as an int; both spellings mean the same.
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _text(value: object) -> object:
    # `cpu: 1` in YAML is an int; Cloud Run takes the string.
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


class Strict(BaseModel):
    """Base: unknown keys are errors, values are not coerced across types."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, validate_default=True)


class StateBackend(Strict):
    """Where Terraform keeps this environment's state (a GCS bucket `make bootstrap` creates)."""

    bucket: str
    prefix: str = Field(min_length=1, max_length=200, pattern=r"^[a-zA-Z0-9/_.-]+$")
    location: str | None = None  # default: the environment's region

    @field_validator("bucket")
    @classmethod
    def _bucket(cls, value: str) -> str:
        if not BUCKET.fullmatch(value) or value.startswith("goog"):
            raise invalid(
                "must be 3-63 lowercase letters, digits, '-' or '_', starting and ending with a"
                f" letter or digit, got {value!r}"
            )
        return value


class NetworkConfig(Strict):
    subnet_cidr: str = "10.10.0.0/24"
    psa_prefix_length: int = Field(default=20, ge=PSA_PREFIX_LENGTH[0], le=PSA_PREFIX_LENGTH[1])
    flow_log_sampling: float = Field(default=0.5, gt=0.0, le=1.0)

    @field_validator("subnet_cidr")
    @classmethod
    def _cidr(cls, value: str) -> str:
        try:
            net = ipaddress.ip_network(value, strict=True)
        except ValueError:
            raise invalid(f"must be an IPv4 network like 10.10.0.0/24, got {value!r}") from None
        if net.version != 4 or not net.is_private or not 8 <= net.prefixlen <= 29:
            raise invalid(f"must be a private IPv4 range from /8 to /29, got {value!r}")
        return value


class FirestoreConfig(Strict):
    # Where a multi-region database's customer-managed key must be (modules/storage.py's
    # table); a regional database's is in its region.
    KMS_LOCATIONS: ClassVar[dict[str, str]] = FIRESTORE_KMS_LOCATIONS

    database: str = Field(
        default="(default)", pattern=r"^(\(default\)|[a-z][a-z0-9-]{2,61}[a-z0-9])$"
    )
    location: str = Field(min_length=2, pattern=r"^[a-z0-9-]+$")
    point_in_time_recovery: bool
    delete_protection: bool
    backup_retention_days: int | None = Field(default=None, ge=1, le=MAX_BACKUP_RETENTION_DAYS)

    @property
    def kms_location(self) -> str | None:
        """The Cloud KMS location of the database's key, or None where Cloud KMS has none."""
        if REGION.fullmatch(self.location):
            return self.location
        return self.KMS_LOCATIONS.get(self.location)


def _off(value: object) -> object:
    # YAML 1.1 reads a bare `off` as false; `tier: off` means no Redis.
    return "off" if value is False else value


class RedisConfig(Strict):
    tier: Annotated[Literal["off", "basic", "standard_ha"], BeforeValidator(_off)]
    memory_size_gb: int = Field(default=1, ge=REDIS_MEMORY_GB[0], le=REDIS_MEMORY_GB[1])
    deletion_protection: bool = False


class MessagingConfig(Strict):
    ack_deadline_seconds: int = Field(default=60, ge=ACK_DEADLINE[0], le=ACK_DEADLINE[1])
    minimum_backoff_seconds: int = Field(default=10, ge=BACKOFF[0], le=BACKOFF[1])
    maximum_backoff_seconds: int = Field(default=600, ge=BACKOFF[0], le=BACKOFF[1])
    max_delivery_attempts: int = Field(default=5, ge=DELIVERY_ATTEMPTS[0], le=DELIVERY_ATTEMPTS[1])
    message_retention_seconds: int = Field(default=604800, ge=RETENTION[0], le=RETENTION[1])

    @field_validator("maximum_backoff_seconds")
    @classmethod
    def _backoff(cls, value: int, info: ValidationInfo) -> int:
        low = info.data.get("minimum_backoff_seconds")
        if low is not None and value < low:
            raise invalid(f"must be >= minimum_backoff_seconds ({low}), got {value}")
        return value

    @field_validator("max_delivery_attempts")
    @classmethod
    def _retries_outlast_the_lease(cls, value: int, info: ValidationInfo) -> int:
        """A delivery that dies, or cannot give its inquiry lease back, leaves it held; the
        deliveries after it are refused and each uses an attempt. The retry before the last
        one must come a full lease after the one before, or the message is dead-lettered
        while the lease is still held and the inquiry never finishes."""
        low, high = (
            info.data.get("minimum_backoff_seconds"),
            info.data.get("maximum_backoff_seconds"),
        )
        if low is None or high is None:
            return value
        policy = RetryPolicy(value, min_backoff_seconds=low, max_backoff_seconds=high)
        lease = INQUIRY_LEASE_SECONDS
        if policy.waits_out(lease):
            return value
        fewest = policy.fewest_attempts_waiting_out(lease)
        if fewest is None:
            raise invalid(
                f"cannot outlast the worker's {lease:g} s inquiry lease with"
                f" minimum_backoff_seconds {low} and maximum_backoff_seconds {high}: set"
                f" maximum_backoff_seconds to at least {lease:g} and minimum_backoff_seconds"
                " above 0"
            )
        raise invalid(
            f"must be at least {fewest} with minimum_backoff_seconds {low}: the retry before the"
            f" last attempt must come {lease:g} s (the worker's inquiry lease) after the one"
            f" before, got {value}"
        )


class ServiceConfig(Strict):
    """One Cloud Run service's size and scaling."""

    cpu: Annotated[str, BeforeValidator(_text)] = "1"
    memory: str = "512Mi"
    concurrency: int = Field(default=80, ge=CONCURRENCY[0], le=CONCURRENCY[1])
    min_instances: int = Field(default=0, ge=INSTANCES[0], le=INSTANCES[1])
    max_instances: int = Field(default=10, ge=max(1, INSTANCES[0]), le=INSTANCES[1])
    timeout_seconds: int = Field(default=300, ge=TIMEOUT_SECONDS[0], le=TIMEOUT_SECONDS[1])

    @field_validator("cpu")
    @classmethod
    def _cpu(cls, value: str) -> str:
        if value not in CPU_VALUES:
            raise invalid(f"must be one of {', '.join(CPU_VALUES)}, got {value!r}")
        return value

    @field_validator("memory")
    @classmethod
    def _memory(cls, value: str) -> str:
        if not MEMORY.fullmatch(value):
            raise invalid(f"must be a size like 512Mi or 2Gi, got {value!r}")
        return value

    @field_validator("max_instances")
    @classmethod
    def _scaling(cls, value: int, info: ValidationInfo) -> int:
        low = info.data.get("min_instances")
        if low is not None and value < low:
            raise invalid(f"must be >= min_instances ({low}), got {value}")
        return value


# Live updates (server-sent events): each open stream is a request in flight on Cloud Run.
OTHER_REQUESTS = 8  # GUNICORN_THREADS' default: the requests an instance serves beside streams
STREAM_TIMEOUT_MARGIN = 30  # seconds the request timeout must outlast a stream by


class ApiConfig(ServiceConfig):
    # The api holds live streams open: room for them in its concurrency and its timeout.
    concurrency: int = Field(default=280, ge=CONCURRENCY[0], le=CONCURRENCY[1])
    timeout_seconds: int = Field(default=3600, ge=TIMEOUT_SECONDS[0], le=TIMEOUT_SECONDS[1])
    # Public: anyone may invoke the api (through the load balancer when edge is on).
    public: bool = True
    # Public without an `allUsers` grant, for organisations whose domain-restricted sharing
    # forbids one: Cloud Run's invoker check is turned off instead, behind the load balancer.
    invoker_iam_disabled: bool = False
    # Live streams one instance holds open (LIVE_MAX_STREAMS: each holds a thread, past it the
    # app answers 503), and how long the app keeps each open before the client reconnects
    # (LIVE_STREAM_MAX_SECONDS).
    live_max_streams: int = Field(default=200, ge=1, le=1000)
    live_stream_max_seconds: int = Field(default=300, ge=5, le=3600 - STREAM_TIMEOUT_MARGIN)

    @field_validator("live_max_streams")
    @classmethod
    def _room_for_streams(cls, value: int, info: ValidationInfo) -> int:
        """Cloud Run sends an instance at most `concurrency` requests at once, streams
        included: with no room left beside them, a search would wait for another instance."""
        concurrency = info.data.get("concurrency")
        if concurrency is not None and concurrency < value + OTHER_REQUESTS:
            raise invalid(
                f"{value} open streams and at least {OTHER_REQUESTS} other requests need"
                f" concurrency >= {value + OTHER_REQUESTS}, got concurrency {concurrency}"
            )
        return value

    @field_validator("live_stream_max_seconds")
    @classmethod
    def _streams_end_before_the_timeout(cls, value: int, info: ValidationInfo) -> int:
        """The app must end a stream itself (the client resumes cleanly); Cloud Run cutting it
        at the request timeout would log a 504 for every stream."""
        timeout = info.data.get("timeout_seconds")
        if timeout is not None and timeout < value + STREAM_TIMEOUT_MARGIN:
            raise invalid(
                f"streams of {value} s need timeout_seconds >= {value + STREAM_TIMEOUT_MARGIN}"
                f" ({STREAM_TIMEOUT_MARGIN} s to spare), got timeout_seconds {timeout}"
            )
        return value

    @field_validator("invoker_iam_disabled")
    @classmethod
    def _invoker_check(cls, value: bool, info: ValidationInfo) -> bool:
        if value and info.data.get("public") is False:
            raise invalid(
                "needs public: true (with the invoker check off, anyone who reaches the api may"
                " call it)"
            )
        return value


class ComputeConfig(Strict):
    deletion_protection: bool
    artifact_keep_recent: int = Field(default=10, ge=KEEP_RECENT[0], le=KEEP_RECENT[1])
    api: ApiConfig
    worker: ServiceConfig


# The app's own parser of HANDOFF_WAIT_ALERT_SECONDS (its range is the app's).
_WAIT_VARIABLE, _PARSE_WAIT = next(
    (f.metadata["env"], f.metadata["parse"])
    for f in fields(Settings)
    if f.name == "handoff_wait_alert_seconds"
)


class AppConfig(Strict):
    """Behaviour knobs passed to the app as environment variables."""

    model: Literal["rules", "gemini"] = "rules"
    gemini_model: str = Field(default="gemini-2.5-flash", pattern=r"^[a-z0-9.-]+$")
    gemini_location: str = Field(default="europe-west1", pattern=r"^[a-z0-9-]+$")
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    session_ttl_seconds: int = Field(default=86400, ge=60, le=90 * 86400)
    max_body_bytes: int = Field(default=65536, ge=1024, le=10 * 1024 * 1024)
    callback_allowed_hosts: list[str] = []
    # An existing Secret Manager secret (created by you) holding the callback HMAC key.
    callback_signing_secret: str | None = None
    # Seconds a customer may wait for a person before the worker's housekeeping counts the
    # conversation (HANDOFF_WAIT_ALERT_SECONDS, on the worker; unset: the app's default).
    handoff_wait_alert_seconds: int | None = None

    @field_validator("handoff_wait_alert_seconds")
    @classmethod
    def _wait(cls, value: int | None) -> int | None:
        """The app's own parser of the variable: the file and the app accept the same range."""
        if value is None:
            return None
        try:
            seconds: int | None = _PARSE_WAIT(_WAIT_VARIABLE, str(value))
        except SettingsError as exc:
            raise invalid(str(exc).removeprefix(f"{_WAIT_VARIABLE}: ")) from None
        return seconds

    @field_validator("callback_allowed_hosts")
    @classmethod
    def _hosts(cls, value: list[str]) -> list[str]:
        """The app's own rule (app/domain/callback_url.py), so both accept exactly the same entries;
        a comma inside one would split it in CALLBACK_ALLOWED_HOSTS, and is refused by it."""
        try:
            return [normalize_allowed_host(entry) for entry in value]
        except CallbackUrlError as exc:
            raise invalid(f"every entry {exc}") from None

    @field_validator("callback_signing_secret")
    @classmethod
    def _secret(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and not SECRET_ID.fullmatch(value):
            raise invalid(f"must be a Secret Manager secret id, got {value!r}")
        if value is None and info.data.get("callback_allowed_hosts"):
            raise invalid("required when callback_allowed_hosts is set: callbacks are signed")
        return value


class EdgeConfig(Strict):
    enabled: bool = False
    domains: list[str] = []
    rate_limit_requests_per_minute: int = Field(
        default=600, ge=RATE_LIMIT_PER_MINUTE[0], le=RATE_LIMIT_PER_MINUTE[1]
    )

    @field_validator("domains")
    @classmethod
    def _domains(cls, value: list[str], info: ValidationInfo) -> list[str]:
        for domain in value:
            if not DOMAIN.fullmatch(domain):
                raise invalid(f"must be fully qualified domain names, got {domain!r}")
        if info.data.get("enabled") and not value:
            raise invalid("must list at least one domain when edge is enabled")
        return value


class PasswordPolicyConfig(Strict):
    """What a customer's password must hold (Identity Platform's limits: 6 to 30 characters)."""

    min_length: int = Field(default=12, ge=MIN_PASSWORD_LENGTH[0], le=MIN_PASSWORD_LENGTH[1])
    require_uppercase: bool = False
    require_lowercase: bool = False
    require_numeric: bool = False
    require_non_alphanumeric: bool = False
    # false records the policy without applying it; Identity Platform's floor of 6 still holds.
    enforce: bool = True
    # Users whose password does not comply change it before their sign-in completes.
    force_upgrade_on_sign_in: bool = False

    @field_validator("force_upgrade_on_sign_in")
    @classmethod
    def _upgrade(cls, value: bool, info: ValidationInfo) -> bool:
        if value and info.data.get("enforce") is False:
            raise invalid("needs enforce: true (a policy that is not enforced cannot force one)")
        return value


# The app's own parser of AUTH_CUSTOMER_CLAIM: the file and the app accept the same names.
_CLAIM_VARIABLE, _PARSE_CLAIM = next(
    (f.metadata["env"], f.metadata["parse"])
    for f in fields(Settings)
    if f.name == "auth_customer_claim"
)


class AuthConfig(Strict):
    """Customer sign-in with Identity Platform, and what the api reads of its tokens."""

    # The ID token claim that names the customer (set on each account by a trusted backend).
    customer_claim: str = "customer_id"
    # Hosts allowed to run sign-in redirects and email links, besides the api's own public
    # host (the edge domains, or its run.app host without an edge), which is always added.
    authorized_domains: list[str] = []
    password_policy: PasswordPolicyConfig = PasswordPolicyConfig()
    # TOTP second factor: off, or optional (users may enroll one).
    mfa: Annotated[Literal["off", "optional", "mandatory"], BeforeValidator(_off)] = "off"
    # An existing Secret Manager secret (created by you) holding the api's LOG_PSEUDONYM_KEY.
    pseudonym_key_secret: str | None = None
    # The pages' sign-in domain (the Firebase Auth SDK's authDomain, the app's
    # WEB_AUTH_DOMAIN); unset: <project_id>.firebaseapp.com.
    web_auth_domain: str | None = None

    @field_validator("customer_claim")
    @classmethod
    def _claim(cls, value: str) -> str:
        try:
            claim: str = _PARSE_CLAIM(_CLAIM_VARIABLE, value)
        except SettingsError as exc:
            raise invalid(str(exc).removeprefix(f"{_CLAIM_VARIABLE}: ")) from None
        return claim

    @field_validator("authorized_domains")
    @classmethod
    def _domains(cls, value: list[str]) -> list[str]:
        for domain in value:
            if domain != "localhost" and not DOMAIN.fullmatch(domain):
                raise invalid(f"must be host names (or localhost) without scheme, got {domain!r}")
        if len(set(value)) != len(value):
            raise invalid(f"each domain may appear once, got {value}")
        return value

    @field_validator("pseudonym_key_secret")
    @classmethod
    def _secret(cls, value: str | None) -> str | None:
        if value is not None and not SECRET_ID.fullmatch(value):
            raise invalid(f"must be a Secret Manager secret id, got {value!r}")
        return value

    @field_validator("web_auth_domain")
    @classmethod
    def _web_auth_domain(cls, value: str | None) -> str | None:
        if value is not None and not DOMAIN.fullmatch(value):
            raise invalid(f"must be a host name without scheme, port or path, got {value!r}")
        return value


class EncryptionConfig(Strict):
    """Customer-managed encryption keys (Cloud KMS) for what the platform stores."""

    # On: Firestore, the Pub/Sub topics, the image repository, the stack's secrets, Redis and
    # the Cloud Run services are encrypted with keys of the environment's own key rings.
    cmek: bool = False
    # Each key gets a new primary version this often.
    rotation_days: int = 90

    @field_validator("rotation_days")
    @classmethod
    def _rotation(cls, value: int) -> int:
        if not ROTATION_DAYS[0] <= value <= MAX_ROTATION_DAYS:
            raise invalid(
                f"must be {ROTATION_DAYS[0]} to {MAX_ROTATION_DAYS} days (keys rotate at most"
                f" daily, and checkov's CKV_GCP_43 holds them to 90), got {value}"
            )
        return value


class ObservabilityConfig(Strict):
    notification_emails: list[str] = []
    log_retention_days: int = Field(default=30, ge=LOG_RETENTION_DAYS[0], le=LOG_RETENTION_DAYS[1])
    # Uptime checks wake a scale-to-zero service every few minutes: off where cost matters.
    uptime_check: bool = False
    error_ratio_threshold: float = Field(default=0.05, gt=0.0, lt=1.0)
    latency_p95_ms: int = Field(default=2000, ge=LATENCY_MS[0], le=LATENCY_MS[1])
    # Alert when a housekeeping pass counts at least this many customers waiting for a person
    # longer than app.handoff_wait_alert_seconds.
    handoff_wait_threshold: int = Field(
        default=1, ge=PASS_COUNT_THRESHOLD[0], le=PASS_COUNT_THRESHOLD[1]
    )

    @field_validator("notification_emails")
    @classmethod
    def _emails(cls, value: list[str]) -> list[str]:
        for email in value:
            if not EMAIL.fullmatch(email):
                raise invalid(f"must be e-mail addresses, got {email!r}")
        return value


class EnvironmentConfig(Strict):
    """One environment: one Google Cloud project, one Terraform stack."""

    project_id: str
    project_number: Annotated[str, BeforeValidator(_digits)]
    region: str
    name_prefix: str = Field(pattern=r"^[a-z][a-z0-9-]{1,18}[a-z0-9]$")
    labels: dict[str, str] = Field(default_factory=dict)
    state: StateBackend
    network: NetworkConfig = NetworkConfig()
    firestore: FirestoreConfig
    redis: RedisConfig
    messaging: MessagingConfig = MessagingConfig()
    compute: ComputeConfig
    app: AppConfig = AppConfig()
    edge: EdgeConfig = EdgeConfig()
    auth: AuthConfig = AuthConfig()
    observability: ObservabilityConfig = ObservabilityConfig()
    encryption: EncryptionConfig = EncryptionConfig()

    @field_validator("project_id")
    @classmethod
    def _project_id(cls, value: str) -> str:
        if not PROJECT_ID.fullmatch(value):
            raise invalid(
                "must be 6-30 lowercase letters, digits or hyphens, starting with a letter and"
                f" not ending with a hyphen, got {value!r}"
            )
        return value

    @field_validator("project_number")
    @classmethod
    def _project_number(cls, value: str) -> str:
        if not re.fullmatch(r"[1-9][0-9]{5,19}", value):
            raise invalid(f"must be the project's number (digits only), got {value!r}")
        return value

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        if not REGION.fullmatch(value):
            raise invalid(f"must be a Google Cloud region like europe-west1, got {value!r}")
        return value

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        for key, item in value.items():
            if not LABEL_KEY.fullmatch(key) or not LABEL_VALUE.fullmatch(item):
                raise invalid(
                    "keys must start with a lowercase letter; keys and values may hold lowercase"
                    f" letters, digits, '_' and '-' (max 63), got {key!r}: {item!r}"
                )
        if "env" in value:
            raise invalid("must not set 'env': it is the environment file's name")
        return value

    @field_validator("edge")
    @classmethod
    def _edge(cls, value: EdgeConfig, info: ValidationInfo) -> EdgeConfig:
        compute = info.data.get("compute")
        if value.enabled and compute is not None and not compute.api.public:
            raise invalid(
                "enabled needs compute.api.public: true (the load balancer is the public entry)"
            )
        if not value.enabled and compute is not None and compute.api.invoker_iam_disabled:
            raise invalid(
                "enabled: true is needed by compute.api.invoker_iam_disabled: without Cloud Run's"
                " invoker check, only the load balancer's ingress (and Cloud Armor) may stand"
                " before the api"
            )
        return value

    @field_validator("encryption")
    @classmethod
    def _encryption(cls, value: EncryptionConfig, info: ValidationInfo) -> EncryptionConfig:
        firestore = info.data.get("firestore")
        if value.cmek and firestore is not None and firestore.kms_location is None:
            known = ", ".join(f"{k} ({v})" for k, v in FirestoreConfig.KMS_LOCATIONS.items())
            raise invalid(
                f"cmek needs firestore.location to be a region or a multi-region Cloud KMS holds"
                f" keys for: {known}, got {firestore.location!r}"
            )
        return value

    @field_validator("auth")
    @classmethod
    def _auth(cls, value: AuthConfig, info: ValidationInfo) -> AuthConfig:
        compute, edge = info.data.get("compute"), info.data.get("edge")
        if compute is None or edge is None or value.authorized_domains:
            return value
        if not edge.enabled and not compute.api.public:
            raise invalid(
                "must list at least one host in authorized_domains when the api has no public"
                " host (edge off and compute.api.public false)"
            )
        return value


class Environment(BaseModel):
    """A validated environment file and the name it was loaded under."""

    model_config = ConfigDict(frozen=True)

    name: str
    path: str
    config: EnvironmentConfig

    @property
    def labels(self) -> dict[str, str]:
        """Labels for every resource: the file's labels plus `app` and `env`."""
        return {"app": "agents", **self.config.labels, "env": self.name}
