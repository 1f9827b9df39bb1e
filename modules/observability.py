"""Observability layer: alerts, an uptime check, a dashboard and log retention for an app.

Why: an app must tell someone when its api service fails or slows down, when its worker
service errors, when Pub/Sub work piles up or dead-letters, and when what its own logs say
goes wrong; and show all of it on one page. Every alert carries a runbook text and goes to
the configured channels.

Creates: email `google_monitoring_notification_channel`s; a
`google_monitoring_uptime_check_config` on `https://<host>/healthz` when `ApiWatch.host` is
set; one `google_logging_metric` `<prefix>-<name>` per `LogMetric` of `logs` (a counter of the
app's lines a filter matches, or a distribution of a value they carry); one
`google_monitoring_alert_policy` per signal in `signals()`: the built-in ones (api 5xx ratio
and p95 latency, worker 5xx, dead-letter backlog, oldest unacked message, uptime) and one per
`LogAlert`; a `google_monitoring_dashboard` with a chart per signal, the `charts` and the log
panels of `logs`; the `_Default` log bucket's retention. The module knows no app's log lines:
they come in through `logs` (the reference app's are in `infra/app_signals.py`).

Example::

    Observability(stack, "observability", ObservabilityProps(
        project_id="acme-shop-prod", name_prefix="shop-prod",
        labels={"app": "shop", "env": "prod"},
        api=ApiWatch(service_name="shop-web", host="shop.example.com"),
        worker=WorkerWatch(service_name="shop-fulfil"),
        queue=QueueWatch(push_subscription_name="shop-prod-orders-push",
                         dead_letter_subscription_name="shop-prod-orders-dead-letter-pull"),
        notifications=Notifications(emails=["oncall@example.com"]),
        logs=LogSignals(
            metrics=[LogMetric(name="payment-failures", description="Payments refused",
                               filter='jsonPayload.event="payment.failed"')],
            alerts=[LogAlert(key="payment_failures", title="Payments refused",
                             metric="payment-failures", severity="ERROR", threshold=5,
                             runbook="More than 5 payments refused in 5 minutes.")],
            panels={"payment_failures": 'jsonPayload.event="payment.failed"'})))

What `terraform plan` of this example alone must show (tests/modules/test_copy_alone.py):

Inventory::

    counts:
      google_logging_metric: 1
      google_logging_project_bucket_config: 1
      google_monitoring_alert_policy: 7
      google_monitoring_dashboard: 1
      google_monitoring_notification_channel: 1
      google_monitoring_uptime_check_config: 1
      resources: 12
    values:
      google_monitoring_notification_channel.observability_email-oncall-example-com:
        {type: email, labels: {email_address: oncall@example.com}}
      google_monitoring_uptime_check_config.observability_uptime:
        http_check: [{path: /healthz, port: 443, use_ssl: true, validate_ssl: true}]
      google_logging_project_bucket_config.observability_default-log-bucket:
        {bucket_id: _Default, retention_days: 30}
      google_monitoring_alert_policy.observability_alert-dead-letter-backlog: {combiner: OR}
      google_logging_metric.observability_payment-failures:
        {name: shop-prod-payment-failures}
      google_monitoring_alert_policy.observability_alert-payment-failures: {severity: ERROR}
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

from cdktn import Token
from cdktn_provider_google.logging_metric import (
    LoggingMetric,
    LoggingMetricBucketOptions,
    LoggingMetricBucketOptionsExponentialBuckets,
    LoggingMetricMetricDescriptor,
    LoggingMetricMetricDescriptorLabels,
)
from cdktn_provider_google.logging_project_bucket_config import LoggingProjectBucketConfig
from cdktn_provider_google.monitoring_alert_policy import (
    MonitoringAlertPolicy,
    MonitoringAlertPolicyAlertStrategy,
    MonitoringAlertPolicyConditions,
    MonitoringAlertPolicyConditionsConditionThreshold,
    MonitoringAlertPolicyConditionsConditionThresholdAggregations,
    MonitoringAlertPolicyConditionsConditionThresholdDenominatorAggregations,
    MonitoringAlertPolicyDocumentation,
)
from cdktn_provider_google.monitoring_dashboard import MonitoringDashboard
from cdktn_provider_google.monitoring_notification_channel import MonitoringNotificationChannel
from cdktn_provider_google.monitoring_uptime_check_config import (
    MonitoringUptimeCheckConfig,
    MonitoringUptimeCheckConfigHttpCheck,
    MonitoringUptimeCheckConfigHttpCheckAcceptedResponseStatusCodes,
    MonitoringUptimeCheckConfigMonitoredResource,
)
from constructs import Construct

HEALTH_PATH = "/healthz"
# Cloud Logging keeps a bucket's logs 1 day to 10 years.
LOG_RETENTION_DAYS = (1, 3650)
LATENCY_MS = (1, 3_600_000)
# A housekeeping pass counts at most 1000 of anything.
PASS_COUNT_THRESHOLD = (1, 1000)
SEVERITIES = ("CRITICAL", "ERROR", "WARNING")
_METRIC = re.compile(r"[a-z][a-z0-9-]{0,59}")
_METRIC_LABEL = re.compile(r"[a-z][a-z0-9_]{0,99}")
_ALERT_KEY = re.compile(r"[a-z][a-z0-9_]{0,59}")
_PREFIX = re.compile(r"[a-z][-a-z0-9]{1,38}[a-z0-9]")
_RESOURCE_NAME = re.compile(r"[a-zA-Z][-_.~+%a-zA-Z0-9]{0,254}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[a-z]{2,}")
_HOST = re.compile(r"(?=.{4,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")

# --- shared helpers: begin ---
# The same block, byte for byte, in every module (tests/modules/test_shared_helpers.py): each
# module is copied alone into other repos, so it cannot import them from a sibling. Change one
# copy, then paste it over the others.

# Project ids: 6-30 lowercase letters, digits or hyphens, starting with a letter.
_PROJECT_ID = re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]")
_LABEL_KEY = re.compile(r"[a-z][a-z0-9_-]{0,62}")
_LABEL_VALUE = re.compile(r"[a-z0-9_-]{0,63}")
_MEMBER = re.compile(r"(serviceAccount|user|group|domain|principal|principalSet):\S+")
_ROLE = re.compile(r"roles/[A-Za-z0-9_.]+|(projects|organizations)/[^/]+/roles/[A-Za-z0-9_.]+")
# Anyone at all: never granted through a list of members (a module says so by a flag).
_PUBLIC_MEMBERS = ("allUsers", "allAuthenticatedUsers")
# cdktn's string token marker (`Token.is_unresolved` tests this very pattern in Node.js).
_TOKEN = re.compile(r"\$\{TfToken\[[a-zA-Z0-9:._-]+\]\}")


def _unresolved(value: object) -> bool:
    """A reference known only at apply time (a cdktn token)? Decided in Python when the string
    holds no "${" or holds cdktn's token marker; only anything else asks Node.js."""
    if not isinstance(value, str) or "${" not in value:
        return False
    return _TOKEN.search(value) is not None or Token.is_unresolved(value)


def _fail(owner: str, name: str, allowed: str, got: object) -> NoReturn:
    """Refuse a value, naming where it is and what is allowed: `Props.field: ..., got ...`."""
    raise ValueError(f"{owner}.{name}: {allowed}, got {got!r}")


def _check(owner: str, name: str, ok: bool, allowed: str, got: object) -> None:
    if not ok:
        _fail(owner, name, allowed, got)


def _matches(pattern: re.Pattern[str], value: object, tokens: bool = False) -> bool:
    """`value` is a string that `pattern` matches whole: `re.fullmatch`, since `^...$` with
    `match` also takes a trailing newline. With `tokens`, a Terraform reference passes too."""
    if not isinstance(value, str):
        return False
    return (tokens and _unresolved(value)) or pattern.fullmatch(value) is not None


def _check_match(
    owner: str, name: str, pattern: re.Pattern[str], value: object, allowed: str, tokens: bool
) -> None:
    """`tokens`: whether a value known only at apply time (a reference) may stand for one."""
    _check(owner, name, _matches(pattern, value, tokens), allowed, value)


def _check_project_id(owner: str, value: object) -> None:
    allowed = "must be a project id: 6-30 of [a-z0-9-], starting with a letter"
    _check_match(owner, "project_id", _PROJECT_ID, value, allowed, tokens=True)


def _check_int(owner: str, name: str, value: object, bounds: tuple[int, int]) -> None:
    low, high = bounds
    ok = isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
    _check(owner, name, ok, f"must be an integer between {low} and {high}", value)


def _check_bool(owner: str, name: str, value: object) -> None:
    _check(owner, name, isinstance(value, bool), "must be true or false", value)


def _is_list(value: object) -> bool:
    """A list or tuple: a bare string is a mistake, not a list of one-letter items."""
    return isinstance(value, Sequence) and not isinstance(value, str)


def _check_labels(owner: str, labels: object) -> dict[str, str]:
    """Labels every labelled resource carries: `app` and `env` at least, in Google's syntax."""
    ok = isinstance(labels, Mapping) and {"app", "env"} <= set(labels)
    _check(owner, "labels", ok, "must be a mapping that includes 'app' and 'env'", labels)
    assert isinstance(labels, Mapping)
    for key, value in labels.items():
        allowed = "keys must be 1-63 of [a-z0-9_-], starting with a letter"
        _check(owner, "labels", _matches(_LABEL_KEY, key), allowed, f"{key}={value}")
        allowed = "values must be 0-63 of [a-z0-9_-]"
        _check(owner, "labels", _matches(_LABEL_VALUE, value), allowed, f"{key}={value}")
    return dict(labels)


def _check_members(owner: str, name: str, members: object) -> tuple[str, ...]:
    """IAM members such as 'serviceAccount:<email>', or references to them; never everyone."""
    _check(owner, name, _is_list(members), "must be a list of IAM members", members)
    assert isinstance(members, Sequence)
    for member in members:
        allowed = "each entry must be an IAM member like 'serviceAccount:<email>' (never allUsers)"
        ok = member not in _PUBLIC_MEMBERS and _matches(_MEMBER, member, tokens=True)
        _check(owner, name, ok, allowed, member)
    _check(owner, name, len(set(members)) == len(members), "must not repeat a member", members)
    return tuple(members)


def _check_iam(owner: str, iam: object) -> dict[str, tuple[str, ...]]:
    """Grants on a module's resource: role -> members, e.g. {'roles/x.y': ['group:g@e.com']}."""
    _check(owner, "iam", isinstance(iam, Mapping), "must map roles to lists of members", iam)
    assert isinstance(iam, Mapping)
    grants: dict[str, tuple[str, ...]] = {}
    for role, members in iam.items():
        allowed = "roles must look like 'roles/service.role' or a custom role's name"
        _check(owner, "iam", _matches(_ROLE, role), allowed, role)
        grants[role] = _check_members(owner, f"iam[{role}]", members)
    return grants


# --- shared helpers: end ---


@dataclass(frozen=True, kw_only=True)
class MetricLabel:
    """A label of a log-based metric: how it is read from each line, and what it means."""

    extractor: str
    description: str


@dataclass(frozen=True, kw_only=True)
class LogMetric:
    """A log-based metric over the app's own lines: a counter of the lines `filter` matches,
    or with `value_extractor` a distribution of the value it reads from each. Its monitoring
    name is `<name_prefix>-<name>` (`user_metric_type` gives its type)."""

    name: str
    description: str
    filter: str
    labels: Mapping[str, MetricLabel] = field(default_factory=dict)
    value_extractor: str | None = None

    def __post_init__(self) -> None:
        owner = type(self).__name__
        allowed = "must be 1-60 of [a-z0-9-], starting with a letter"
        _check_match(owner, "name", _METRIC, self.name, allowed, tokens=False)
        for name in ("description", "filter"):
            value = getattr(self, name)
            _check(owner, name, isinstance(value, str) and bool(value), "must be text", value)
        for key, label in self.labels.items():
            ok = _matches(_METRIC_LABEL, key) and isinstance(label, MetricLabel)
            _check(owner, "labels", ok, "must map label keys to MetricLabel", key)


@dataclass(frozen=True, kw_only=True)
class LogAlert:
    """An alert when the count of a `LogMetric` (by its `name`) over 5 minutes exceeds
    `threshold`, with its `runbook` (markdown) for whoever it wakes."""

    key: str
    title: str
    metric: str
    severity: str
    threshold: float
    runbook: str
    resource_type: str = "cloud_run_revision"

    def __post_init__(self) -> None:
        owner = type(self).__name__
        allowed = "must be 1-60 of [a-z0-9_], starting with a letter"
        _check_match(owner, "key", _ALERT_KEY, self.key, allowed, tokens=False)
        allowed = f"must be one of {', '.join(SEVERITIES)}"
        _check(owner, "severity", self.severity in SEVERITIES, allowed, self.severity)
        for name in ("title", "runbook"):
            value = getattr(self, name)
            _check(owner, name, isinstance(value, str) and bool(value), "must be text", value)


@dataclass(frozen=True, kw_only=True)
class LogSignals:
    """What an app's own logs tell: its log-based `metrics`, the `alerts` on them, the Logging
    queries shown as dashboard panels (`panels`, by name), and more dashboard widgets
    (`charts`, the Monitoring API's JSON). The module knows no app's log lines: this is
    where they come in."""

    metrics: Sequence[LogMetric] = ()
    alerts: Sequence[LogAlert] = ()
    panels: Mapping[str, str] = field(default_factory=dict)
    charts: Sequence[Mapping[str, Any]] = ()

    def __post_init__(self) -> None:
        owner = type(self).__name__
        names = [metric.name for metric in self.metrics]
        ok = all(isinstance(m, LogMetric) for m in self.metrics) and len(set(names)) == len(names)
        _check(owner, "metrics", ok, "must be LogMetric with distinct names", names)
        keys = [alert.key for alert in self.alerts]
        ok = all(isinstance(a, LogAlert) for a in self.alerts) and len(set(keys)) == len(keys)
        _check(owner, "alerts", ok, "must be LogAlert with distinct keys", keys)
        for alert in self.alerts:
            allowed = f"must watch one of the metrics ({', '.join(names)})"
            _check(owner, "alerts", alert.metric in names, allowed, alert.metric)
        object.__setattr__(self, "metrics", tuple(self.metrics))
        object.__setattr__(self, "alerts", tuple(self.alerts))
        object.__setattr__(self, "panels", dict(self.panels))
        object.__setattr__(self, "charts", tuple(self.charts))


@dataclass(frozen=True, kw_only=True)
class ApiWatch:
    """The service that answers users: alerts when more than `error_ratio_threshold` of its
    requests fail with 5xx or its p95 latency passes `latency_p95_ms`, and, with `host`, an
    uptime check on `https://<host>/healthz`."""

    service_name: str
    host: str | None = None
    error_ratio_threshold: float = 0.05
    latency_p95_ms: int = 2000

    def __post_init__(self) -> None:
        owner = type(self).__name__
        allowed = "must be a resource name"
        _check_match(owner, "service_name", _RESOURCE_NAME, self.service_name, allowed, True)
        if self.host is not None:
            allowed = "must be a host name like 'api.example.com' (no scheme, no path)"
            _check_match(owner, "host", _HOST, self.host, allowed, tokens=True)
        ratio = self.error_ratio_threshold
        ok = isinstance(ratio, int | float) and not isinstance(ratio, bool) and 0 < ratio < 1
        _check(owner, "error_ratio_threshold", ok, "must be a fraction between 0 and 1", ratio)
        _check_int(owner, "latency_p95_ms", self.latency_p95_ms, LATENCY_MS)


@dataclass(frozen=True, kw_only=True)
class WorkerWatch:
    """The service that does the work Pub/Sub pushes: an alert when it answers with 5xx more
    than `errors_per_5min` times in 5 minutes."""

    service_name: str
    errors_per_5min: int = 0

    def __post_init__(self) -> None:
        owner = type(self).__name__
        allowed = "must be a resource name"
        _check_match(owner, "service_name", _RESOURCE_NAME, self.service_name, allowed, True)
        _check_int(owner, "errors_per_5min", self.errors_per_5min, (0, 10**6))


@dataclass(frozen=True, kw_only=True)
class QueueWatch:
    """The push subscription to the worker and its dead-letter pull subscription: alerts when
    the oldest unacked message is older than `oldest_unacked_seconds` and when at least
    `dead_letter_backlog_threshold` messages are dead-lettered."""

    push_subscription_name: str
    dead_letter_subscription_name: str
    oldest_unacked_seconds: int = 600
    dead_letter_backlog_threshold: int = 1

    def __post_init__(self) -> None:
        owner = type(self).__name__
        for name in ("push_subscription_name", "dead_letter_subscription_name"):
            value, allowed = getattr(self, name), "must be a resource name"
            _check_match(owner, name, _RESOURCE_NAME, value, allowed, tokens=True)
        _check_int(owner, "oldest_unacked_seconds", self.oldest_unacked_seconds, (10, 604_800))
        backlog = self.dead_letter_backlog_threshold
        _check_int(owner, "dead_letter_backlog_threshold", backlog, (1, 10**6))


@dataclass(frozen=True, kw_only=True)
class Notifications:
    """Whom every alert goes to: an email channel per address in `emails`, and the existing
    notification `channels` (`projects/P/notificationChannels/ID`)."""

    emails: Sequence[str] = ()
    channels: Sequence[str] = ()

    def __post_init__(self) -> None:
        owner = type(self).__name__
        emails = self.emails
        _check(owner, "emails", _is_list(emails), "must be a list", emails)
        for email in emails:
            allowed = "each must be an email address"
            _check_match(owner, "emails", _EMAIL, email, allowed, tokens=True)
        _check(owner, "emails", len(set(emails)) == len(emails), "must not repeat", list(emails))
        _check(owner, "channels", _is_list(self.channels), "must be a list", self.channels)


@dataclass(frozen=True, kw_only=True)
class ObservabilityProps:
    """What to watch and whom to tell. Thresholds are the alerting points of each signal.

    The built-in signals watch the `api` service (5xx ratio, p95 latency, uptime), the `worker`
    service (5xx responses) and the `queue` of pushes to it (oldest unacked message,
    dead-letter backlog); `runbooks` replaces their generic runbooks by signal key, in words
    about your app. `logs` adds what your app's own log lines tell.
    """

    project_id: str
    name_prefix: str
    labels: Mapping[str, str]
    api: ApiWatch
    worker: WorkerWatch
    queue: QueueWatch
    notifications: Notifications = field(default_factory=Notifications)
    log_retention_days: int = 30
    logs: LogSignals = field(default_factory=LogSignals)
    runbooks: Mapping[str, str] = field(default_factory=dict)
    dashboard_title: str | None = None
    """The dashboard's title; None: the name prefix."""
    depends_on_resources: Sequence[Any] = ()
    """Resources every resource of this module waits for (e.g. `[ProjectServices.ready]`, the
    gate that exists once every API of a fresh project is enabled)."""

    def __post_init__(self) -> None:
        owner = type(self).__name__
        _check_project_id(owner, self.project_id)
        allowed = "must match [a-z][-a-z0-9]{1,38}[a-z0-9]"
        _check_match(owner, "name_prefix", _PREFIX, self.name_prefix, allowed, tokens=True)
        _check_labels(owner, self.labels)
        for name, kind in (
            ("api", ApiWatch),
            ("worker", WorkerWatch),
            ("queue", QueueWatch),
            ("notifications", Notifications),
            ("logs", LogSignals),
        ):
            value = getattr(self, name)
            _check(owner, name, isinstance(value, kind), f"must be a {kind.__name__}", value)
        retention = self.log_retention_days
        _check_int(owner, "log_retention_days", retention, LOG_RETENTION_DAYS)
        unknown = sorted(set(self.runbooks) - set(BUILT_IN_SIGNALS))
        allowed = f"keys must be among {', '.join(BUILT_IN_SIGNALS)}"
        _check(owner, "runbooks", not unknown, allowed, unknown)
        overlap = sorted(set(BUILT_IN_SIGNALS) & {a.key for a in self.logs.alerts})
        _check(owner, "logs", not overlap, "alert keys must differ from the built-in", overlap)


@dataclass(frozen=True)
class Signal:
    """One watched time series: its alert condition and its dashboard chart come from here."""

    key: str
    title: str
    filter: str
    aligner: str
    reducer: str
    threshold: float
    duration: str
    severity: str
    runbook: str
    denominator_filter: str | None = None
    group_by: tuple[str, ...] = ()
    period: str = "300s"


def _run_metric(service: str, metric: str, extra: str = "") -> str:
    return (
        f'metric.type = "run.googleapis.com/{metric}" AND resource.type = "cloud_run_revision"'
        f' AND resource.labels.service_name = "{service}"{extra}'
    )


def _pubsub_metric(subscription: str, metric: str) -> str:
    metric_type = f"pubsub.googleapis.com/subscription/{metric}"
    return (
        f'metric.type = "{metric_type}" AND resource.type = "pubsub_subscription"'
        f' AND resource.labels.subscription_id = "{subscription}"'
    )


def user_metric_type(name: str) -> str:
    """The monitoring type of the log-based metric `name`, for an alert or a chart to watch."""
    return f"logging.googleapis.com/user/{name}"


def signals(props: ObservabilityProps, uptime_check_id: str | None) -> list[Signal]:
    """The alert table: one row per signal watched, the built-in ones, then the app's own."""
    api, worker = props.api.service_name, props.worker.service_name
    queue = props.queue
    dead_letter, push = queue.dead_letter_subscription_name, queue.push_subscription_name
    five_xx = ' AND metric.labels.response_code_class = "5xx"'
    by_service = ("resource.label.service_name",)
    runbooks = {
        "api_5xx_ratio": f"More than {props.api.error_ratio_threshold:.1%} of `{api}` requests "
        "fail with 5xx. Check its error logs and its backends.",
        "api_latency_p95": f"`{api}` answers slower than {props.api.latency_p95_ms} ms at p95. "
        "Check instances against max instances, cold starts and its backends' latency.",
        "worker_errors": f"`{worker}` answered with 5xx. A Pub/Sub push: the message is retried "
        "and may dead-letter. Check the worker's error logs.",
        "dead_letter_backlog": f"At least {queue.dead_letter_backlog_threshold} message(s) used "
        f"up their delivery attempts. Pull them from `{dead_letter}`, fix the cause, then "
        "republish them to their topic.",
        "oldest_unacked_age": f"Messages on `{push}` wait longer than "
        f"{queue.oldest_unacked_seconds} s. Check the worker's health, its max instances and "
        "push errors.",
        "api_uptime": f"`https://{props.api.host}{HEALTH_PATH}` fails from more than one region. "
        "Check the load balancer, its certificate and the api service.",
        **props.runbooks,
    }
    # fmt: off
    rows = [
        Signal(key="api_5xx_ratio", title="API 5xx ratio", severity="ERROR",
               filter=_run_metric(api, "request_count", five_xx),
               denominator_filter=_run_metric(api, "request_count"),
               aligner="ALIGN_RATE", reducer="REDUCE_SUM", group_by=by_service,
               threshold=props.api.error_ratio_threshold, duration="300s",
               runbook=runbooks["api_5xx_ratio"]),
        Signal(key="api_latency_p95", title="API p95 latency (ms)", severity="WARNING",
               filter=_run_metric(api, "request_latencies"),
               aligner="ALIGN_PERCENTILE_95", reducer="REDUCE_MAX", group_by=by_service,
               threshold=props.api.latency_p95_ms, duration="300s",
               runbook=runbooks["api_latency_p95"]),
        Signal(key="worker_errors", title="Worker 5xx responses", severity="ERROR",
               filter=_run_metric(worker, "request_count", five_xx),
               aligner="ALIGN_DELTA", reducer="REDUCE_SUM", group_by=by_service,
               threshold=props.worker.errors_per_5min, duration="0s",
               runbook=runbooks["worker_errors"]),
        # Monitoring compares with > only: "at least N messages" is "> N - 1".
        Signal(key="dead_letter_backlog", title="Dead-letter backlog", severity="ERROR",
               filter=_pubsub_metric(dead_letter, "num_undelivered_messages"),
               aligner="ALIGN_MAX", reducer="REDUCE_SUM", period="60s",
               threshold=queue.dead_letter_backlog_threshold - 1, duration="0s",
               runbook=runbooks["dead_letter_backlog"]),
        Signal(key="oldest_unacked_age", title="Oldest unacked message age (s)",
               filter=_pubsub_metric(push, "oldest_unacked_message_age"), severity="WARNING",
               aligner="ALIGN_MAX", reducer="REDUCE_MAX", period="60s",
               threshold=queue.oldest_unacked_seconds, duration="120s",
               runbook=runbooks["oldest_unacked_age"]),
    ]
    for alert in props.logs.alerts:
        metric = user_metric_type(f"{props.name_prefix}-{alert.metric}")
        rows.append(Signal(key=alert.key, title=alert.title, severity=alert.severity,
               filter=f'metric.type = "{metric}" AND resource.type = "{alert.resource_type}"',
               aligner="ALIGN_DELTA", reducer="REDUCE_SUM", threshold=alert.threshold,
               duration="0s", runbook=alert.runbook))
    if uptime_check_id is not None:
        rows.append(Signal(key="api_uptime", title="API uptime check failures", severity="CRITICAL",
               filter='metric.type = "monitoring.googleapis.com/uptime_check/check_passed" AND '
               f'resource.type = "uptime_url" AND metric.labels.check_id = "{uptime_check_id}"',
               aligner="ALIGN_NEXT_OLDER", reducer="REDUCE_COUNT_FALSE",
               group_by=("resource.label.host",), threshold=1, duration="60s",
               runbook=runbooks["api_uptime"]))
    # fmt: on
    return rows


BUILT_IN_SIGNALS = (
    "api_5xx_ratio",
    "api_latency_p95",
    "worker_errors",
    "dead_letter_backlog",
    "oldest_unacked_age",
    "api_uptime",
)


def _aggregation(signal: Signal) -> dict[str, Any]:
    """The aggregation of a signal, in the Monitoring API's JSON names (for the dashboard)."""
    return {
        "alignmentPeriod": signal.period,
        "perSeriesAligner": signal.aligner,
        "crossSeriesReducer": signal.reducer,
        "groupByFields": list(signal.group_by),
    }


def dashboard_json(
    title: str,
    project_id: str,
    rows: list[Signal],
    logs: Mapping[str, str],
    charts: Sequence[Mapping[str, Any]] = (),
) -> str:
    """A mosaic dashboard: one chart per signal (with its alert threshold), `charts` (widgets
    without an alert), then log panels."""
    widgets: list[Mapping[str, Any]] = []
    for signal in rows:
        query: dict[str, Any] = {"filter": signal.filter, "aggregation": _aggregation(signal)}
        if signal.denominator_filter:
            denominator = {"filter": signal.denominator_filter, "aggregation": _aggregation(signal)}
            query = {"timeSeriesFilterRatio": {"numerator": query, "denominator": denominator}}
        else:
            query = {"timeSeriesFilter": query}
        chart = {
            "dataSets": [{"timeSeriesQuery": query, "plotType": "LINE"}],
            "thresholds": [{"value": signal.threshold}],
        }
        widgets.append({"title": signal.title, "xyChart": chart})
    widgets.extend(charts)
    for name, log_query in logs.items():
        panel = {"filter": log_query, "resourceNames": [f"projects/{project_id}"]}
        widgets.append({"title": f"Logs: {name.replace('_', ' ')}", "logsPanel": panel})
    tiles = [
        {"xPos": 24 * (i % 2), "yPos": 16 * (i // 2), "width": 24, "height": 16, "widget": w}
        for i, w in enumerate(widgets)
    ]
    return json.dumps({"displayName": title, "mosaicLayout": {"columns": 48, "tiles": tiles}})


class Observability(Construct):
    """Channels, uptime check, log-based metrics, alert policies, dashboard, log retention.

    Attributes: `channels` (list of notification channels), `alert_policies` (dict by signal
    key, see `signals()`), `dashboard`, `log_metrics` (by `LogMetric.name`), `uptime_check`
    (or None), `log_bucket`, `log_filters` (the dashboard's Logging queries, by name).
    """

    def __init__(self, scope: Construct, id: str, props: ObservabilityProps) -> None:
        super().__init__(scope, id)
        prefix, project = props.name_prefix, props.project_id
        labels = dict(props.labels)
        after = list(props.depends_on_resources) or None
        self.channels = [
            MonitoringNotificationChannel(
                self,
                f"email-{re.sub(r'[^a-z0-9]+', '-', email.lower())}",
                project=project,
                type="email",
                display_name=f"{prefix} {email}",
                labels={"email_address": email},
                user_labels=labels,
                depends_on=after,
            )
            for email in props.notifications.emails
        ]
        self.uptime_check = None
        if props.api.host is not None:
            self.uptime_check = MonitoringUptimeCheckConfig(
                self,
                "uptime",
                project=project,
                display_name=f"{prefix} api {HEALTH_PATH}",
                period="60s",
                timeout="10s",
                http_check=MonitoringUptimeCheckConfigHttpCheck(
                    path=HEALTH_PATH,
                    port=443,
                    use_ssl=True,
                    validate_ssl=True,
                    request_method="GET",
                    accepted_response_status_codes=[
                        MonitoringUptimeCheckConfigHttpCheckAcceptedResponseStatusCodes(
                            status_class="STATUS_CLASS_2XX"
                        )
                    ],
                ),
                monitored_resource=MonitoringUptimeCheckConfigMonitoredResource(
                    type="uptime_url", labels={"project_id": project, "host": props.api.host}
                ),
                user_labels=labels,
                depends_on=after,
            )
        self.log_filters = dict(props.logs.panels)
        self.log_metrics = {
            metric.name: self._log_metric(props, metric) for metric in props.logs.metrics
        }
        check_id = self.uptime_check.uptime_check_id if self.uptime_check else None
        rows = signals(props, check_id)
        routes = [c.name for c in self.channels] + list(props.notifications.channels)
        # The log-based metric must exist before a policy can watch it.
        needs = {alert.key: [self.log_metrics[alert.metric]] for alert in props.logs.alerts}
        self.alert_policies = {s.key: self._alert(props, s, routes, needs.get(s.key)) for s in rows}
        # A metric charted but watched by no alert: the dashboard waits for it instead.
        watched = {alert.metric for alert in props.logs.alerts}
        charted = [m for name, m in self.log_metrics.items() if name not in watched]
        self.dashboard = MonitoringDashboard(
            self,
            "dashboard",
            project=project,
            dashboard_json=dashboard_json(
                props.dashboard_title or prefix,
                project,
                rows,
                self.log_filters,
                props.logs.charts,
            ),
            depends_on=[*(after or []), *charted] or None,
        )
        self.log_bucket = LoggingProjectBucketConfig(
            self,
            "default-log-bucket",
            project=project,
            location="global",
            bucket_id="_Default",
            retention_days=props.log_retention_days,
            depends_on=after,
        )

    def _log_metric(self, props: ObservabilityProps, metric: LogMetric) -> LoggingMetric:
        """A counter over the app's lines, or a distribution of a value they carry."""
        labels = [
            LoggingMetricMetricDescriptorLabels(
                key=key, value_type="STRING", description=label.description
            )
            for key, label in metric.labels.items()
        ]
        extractors = {key: label.extractor for key, label in metric.labels.items()}
        distribution = metric.value_extractor is not None
        return LoggingMetric(
            self,
            metric.name,
            project=props.project_id,
            name=f"{props.name_prefix}-{metric.name}",
            description=metric.description,
            filter=metric.filter,
            value_extractor=metric.value_extractor,
            label_extractors=extractors or None,
            bucket_options=(
                LoggingMetricBucketOptions(
                    exponential_buckets=LoggingMetricBucketOptionsExponentialBuckets(
                        num_finite_buckets=20, growth_factor=2, scale=1
                    )
                )
                if distribution
                else None
            ),
            metric_descriptor=LoggingMetricMetricDescriptor(
                metric_kind="DELTA",
                value_type="DISTRIBUTION" if distribution else "INT64",
                unit="1",
                labels=labels or None,
            ),
            depends_on=list(props.depends_on_resources) or None,
        )

    def _alert(
        self, props: ObservabilityProps, signal: Signal, routes: list[str], needs: list[Any] | None
    ) -> MonitoringAlertPolicy:
        """An alert on one signal; it waits for `needs` (its log-based metric), then the rest."""

        def aggregation(cls: type) -> Any:
            return cls(
                alignment_period=signal.period,
                per_series_aligner=signal.aligner,
                cross_series_reducer=signal.reducer,
                group_by_fields=list(signal.group_by) or None,
            )

        condition: dict[str, Any] = {
            "filter": signal.filter,
            "comparison": "COMPARISON_GT",
            "threshold_value": signal.threshold,
            "duration": signal.duration,
            "aggregations": [
                aggregation(MonitoringAlertPolicyConditionsConditionThresholdAggregations)
            ],
        }
        if signal.denominator_filter:
            condition["denominator_filter"] = signal.denominator_filter
            condition["denominator_aggregations"] = [
                aggregation(
                    MonitoringAlertPolicyConditionsConditionThresholdDenominatorAggregations
                )
            ]
        threshold = MonitoringAlertPolicyConditionsConditionThreshold(**condition)
        return MonitoringAlertPolicy(
            self,
            f"alert-{signal.key.replace('_', '-')}",
            project=props.project_id,
            display_name=f"{props.name_prefix} {signal.title}",
            combiner="OR",
            severity=signal.severity,
            conditions=[
                MonitoringAlertPolicyConditions(
                    display_name=signal.title, condition_threshold=threshold
                )
            ],
            documentation=MonitoringAlertPolicyDocumentation(
                content=signal.runbook,
                mime_type="text/markdown",
                subject=f"[{props.name_prefix}] {signal.title}",
            ),
            notification_channels=routes or None,
            alert_strategy=MonitoringAlertPolicyAlertStrategy(auto_close="1800s"),
            user_labels=dict(props.labels),
            depends_on=[*(needs or ()), *props.depends_on_resources] or None,
        )
