"""Observability layer: alerts, an uptime check, a dashboard and log retention for the agents.

Why: the platform must tell someone when the api fails or slows down, when the worker errors,
when Pub/Sub work piles up or dead-letters, when inquiries fail, when accepted inquiries
stay `queued` with nobody working on them, and when a customer who asked for a person waits
too long for one; and show all of it on one page. Every alert
carries a runbook text and goes to the configured channels.

Creates: email `google_monitoring_notification_channel`s; a
`google_monitoring_uptime_check_config` on `https://<api_host>/healthz` when `api_host` is
set; log-based metrics over the app's structured logs: `<prefix>-inquiry-failures`
(`jsonPayload.event="inquiry.state"`, `jsonPayload.status="failed"`),
`<prefix>-unprocessable-pushes` (`jsonPayload.event="pubsub.unprocessable"`),
`<prefix>-stale-queued-passes` (the worker's `jsonPayload.event="housekeeping"` passes whose
`jsonPayload.stale_queued`, the inquiries still queued past the app's threshold, is at least
`stale_queued_threshold`), `<prefix>-handoff-wait-passes` (the passes whose
`jsonPayload.handoffs_waiting_too_long`, the conversations waiting for a person past the app's
threshold, is at least `handoff_wait_threshold`) and, when
`model_usage_event` is set, `<prefix>-model-input-tokens` and `<prefix>-model-output-tokens`
(distributions of the tokens each model call used, by `model`, so the cost per conversation can
be charted); one
`google_monitoring_alert_policy` per signal in `signals()`; a `google_monitoring_dashboard`
with a chart per signal, a chart of model tokens per minute when they are measured, and the
matching logs; the `_Default` log bucket's retention.

Example::

    Observability(stack, "observability", ObservabilityProps(
        project_id="acme-agents-dev", name_prefix="agents-dev",
        labels={"app": "agents", "env": "dev"},
        notification_emails=["oncall@example.com"],
        api_service_name="agents-dev-api", worker_service_name="agents-dev-worker",
        api_host="api.example.com",
        push_subscription_name="agents-dev-inquiries-push",
        dead_letter_subscription_name="agents-dev-inquiries-dead-letter-pull"))

What `terraform plan` of this example alone must show (tests/modules/test_copy_alone.py):

Inventory::

    counts:
      google_logging_metric: 4
      google_logging_project_bucket_config: 1
      google_monitoring_alert_policy: 10
      google_monitoring_dashboard: 1
      google_monitoring_notification_channel: 1
      google_monitoring_uptime_check_config: 1
      resources: 18
    values:
      google_monitoring_notification_channel.observability_email-oncall-example-com:
        {type: email, labels: {email_address: oncall@example.com}}
      google_monitoring_uptime_check_config.observability_uptime:
        http_check: [{path: /healthz, port: 443, use_ssl: true, validate_ssl: true}]
      google_logging_project_bucket_config.observability_default-log-bucket:
        {bucket_id: _Default, retention_days: 30}
      google_monitoring_alert_policy.observability_alert-dead-letter-backlog: {combiner: OR}
      google_logging_metric.observability_stale-queued-passes:
        {name: agents-dev-stale-queued-passes}
      google_monitoring_alert_policy.observability_alert-stale-queued: {severity: ERROR}
      google_logging_metric.observability_handoff-wait-passes:
        {name: agents-dev-handoff-wait-passes}
      google_monitoring_alert_policy.observability_alert-handoff-wait: {severity: WARNING}
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
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
_PROJECT = re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]")
_PREFIX = re.compile(r"[a-z][-a-z0-9]{1,38}[a-z0-9]")
_RESOURCE_NAME = re.compile(r"[a-zA-Z][-_.~+%a-zA-Z0-9]{0,254}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[a-z]{2,}")
_HOST = re.compile(r"(?=.{4,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
_EVENT = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
_LABEL_KEY = re.compile(r"[a-z][a-z0-9_-]{0,62}")
_LABEL_VALUE = re.compile(r"[a-z0-9_-]{0,63}")

# cdktn's string token marker (`Token.is_unresolved` tests this very pattern in Node.js).
_TOKEN = re.compile(r"\$\{TfToken\[[a-zA-Z0-9:._-]+\]\}")


def _unresolved(value: str) -> bool:
    """A reference known only at apply time (a cdktn token)? Decided in Python when the string
    holds no "${" or holds cdktn's token marker; only anything else asks Node.js."""
    if "${" not in value:
        return False
    return _TOKEN.search(value) is not None or Token.is_unresolved(value)


def _fail(owner: str, name: str, allowed: str, got: Any) -> NoReturn:
    raise ValueError(f"{owner}.{name}: {allowed}, got {got!r}")


def _match(owner: str, name: str, pattern: re.Pattern[str], value: Any, allowed: str) -> None:
    """Check a plain string against a pattern; tokens from other resources pass unresolved."""
    if isinstance(value, str) and _unresolved(value):
        return
    if not isinstance(value, str) or not pattern.fullmatch(value):
        _fail(owner, name, allowed, value)


def _check_labels(owner: str, labels: Mapping[str, str]) -> None:
    if not {"app", "env"} <= set(labels):
        _fail(owner, "labels", "must include 'app' and 'env'", dict(labels))
    for key, value in labels.items():
        if not _LABEL_KEY.fullmatch(key) or not _LABEL_VALUE.fullmatch(str(value)):
            allowed = "keys [a-z][a-z0-9_-]{0,62}, values [a-z0-9_-]{0,63}"
            _fail(owner, "labels", allowed, f"{key}={value}")


@dataclass(frozen=True, kw_only=True)
class ObservabilityProps:
    """What to watch and whom to tell. Thresholds are the alerting points of each signal."""

    project_id: str
    name_prefix: str
    labels: Mapping[str, str]
    api_service_name: str
    worker_service_name: str
    push_subscription_name: str
    dead_letter_subscription_name: str
    notification_emails: Sequence[str] = ()
    extra_notification_channels: Sequence[str] = ()
    api_host: str | None = None
    log_retention_days: int = 30
    error_ratio_threshold: float = 0.05
    latency_p95_ms: int = 2000
    oldest_unacked_seconds: int = 600
    dead_letter_backlog_threshold: int = 1
    worker_errors_per_5min: int = 0
    inquiry_failures_per_5min: int = 0
    stale_queued_threshold: int = 1
    """An alert when one housekeeping pass of the worker counts at least this many inquiries
    still `queued` longer than the app's threshold (the app counts at most 1000)."""
    handoff_wait_threshold: int = 1
    """An alert when one housekeeping pass counts at least this many conversations waiting for
    a person longer than the app's HANDOFF_WAIT_ALERT_SECONDS (the app counts at most 1000)."""
    model_usage_event: str | None = None
    """`jsonPayload.event` of the app's lines that report a model call's `input_tokens` and
    `output_tokens` (with `model`); None: no token metrics or chart."""
    depends_on_resources: Sequence[Any] = ()
    """Resources every resource of this module waits for (e.g. `[ProjectServices.ready]`, the
    gate that exists once every API of a fresh project is enabled)."""

    def __post_init__(self) -> None:
        owner = type(self).__name__
        _match(owner, "project_id", _PROJECT, self.project_id, "must be a GCP project id")
        allowed = "must match [a-z][-a-z0-9]{1,38}[a-z0-9]"
        _match(owner, "name_prefix", _PREFIX, self.name_prefix, allowed)
        _check_labels(owner, self.labels)
        names = ("api_service_name", "worker_service_name", "push_subscription_name")
        for name in (*names, "dead_letter_subscription_name"):
            _match(owner, name, _RESOURCE_NAME, getattr(self, name), "must be a resource name")
        if isinstance(self.notification_emails, str):
            _fail(owner, "notification_emails", "must be a list", self.notification_emails)
        for email in self.notification_emails:
            _match(owner, "notification_emails", _EMAIL, email, "each must be an email address")
        if len(set(self.notification_emails)) != len(self.notification_emails):
            _fail(owner, "notification_emails", "must not repeat", list(self.notification_emails))
        if self.api_host is not None:
            allowed = "must be a host name like 'api.example.com' (no scheme, no path)"
            _match(owner, "api_host", _HOST, self.api_host, allowed)
        if self.model_usage_event is not None:
            allowed = "must be an event name like 'model.usage' (letters, digits, . _ -)"
            _match(owner, "model_usage_event", _EVENT, self.model_usage_event, allowed)
        ratio = self.error_ratio_threshold
        if not isinstance(ratio, int | float) or not 0 < ratio < 1:
            allowed = "must be a fraction between 0 and 1"
            _fail(owner, "error_ratio_threshold", allowed, self.error_ratio_threshold)
        ranges = {"log_retention_days": (1, 3650), "latency_p95_ms": (1, 3_600_000),
                  "oldest_unacked_seconds": (10, 604_800),
                  "dead_letter_backlog_threshold": (1, 10**6),
                  "worker_errors_per_5min": (0, 10**6),
                  "inquiry_failures_per_5min": (0, 10**6),
                  "stale_queued_threshold": (1, 1000),
                  "handoff_wait_threshold": (1, 1000)}  # fmt: skip
        for name, (low, high) in ranges.items():
            value = getattr(self, name)
            if not isinstance(value, int) or not low <= value <= high:
                _fail(owner, name, f"must be an integer between {low} and {high}", value)


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


def log_filters(props: ObservabilityProps) -> dict[str, str]:
    """Logging queries over the app's structured lines (see the app's log contract)."""

    def on(service: str) -> str:
        return f'resource.type="cloud_run_revision" AND resource.labels.service_name="{service}"'

    return {
        "inquiry_failures": f"{on(props.worker_service_name)} AND "
        'jsonPayload.event="inquiry.state" AND jsonPayload.status="failed"',
        "api_server_errors": f"{on(props.api_service_name)} AND "
        'jsonPayload.event="http.request" AND jsonPayload.status>=500',
        "worker_server_errors": f"{on(props.worker_service_name)} AND "
        'jsonPayload.event="http.request" AND jsonPayload.status>=500',
        "unprocessable_pushes": f"{on(props.worker_service_name)} AND "
        'jsonPayload.event="pubsub.unprocessable"',
        "stale_queued": f"{on(props.worker_service_name)} AND "
        'jsonPayload.event="housekeeping" AND '
        f"jsonPayload.stale_queued>={props.stale_queued_threshold}",
        "handoff_wait": f"{on(props.worker_service_name)} AND "
        'jsonPayload.event="housekeeping" AND '
        f"jsonPayload.handoffs_waiting_too_long>={props.handoff_wait_threshold}",
    }


def signals(
    props: ObservabilityProps,
    failure_metric: str,
    unprocessable_metric: str,
    stale_queued_metric: str,
    uptime_check_id: str | None,
    handoff_wait_metric: str | None = None,
) -> list[Signal]:
    """The alert table: one row per signal the platform watches."""
    api, worker = props.api_service_name, props.worker_service_name
    dead_letter, push = props.dead_letter_subscription_name, props.push_subscription_name
    five_xx = ' AND metric.labels.response_code_class = "5xx"'
    by_service = ("resource.label.service_name",)
    # fmt: off
    rows = [
        Signal(key="api_5xx_ratio", title="API 5xx ratio", severity="ERROR",
               filter=_run_metric(api, "request_count", five_xx),
               denominator_filter=_run_metric(api, "request_count"),
               aligner="ALIGN_RATE", reducer="REDUCE_SUM", group_by=by_service,
               threshold=props.error_ratio_threshold, duration="300s",
               runbook=f"More than {props.error_ratio_threshold:.1%} of `{api}` requests fail "
               "with 5xx. Check the api's error logs and its backends (Firestore, Redis, "
               "Pub/Sub)."),
        Signal(key="api_latency_p95", title="API p95 latency (ms)", severity="WARNING",
               filter=_run_metric(api, "request_latencies"),
               aligner="ALIGN_PERCENTILE_95", reducer="REDUCE_MAX", group_by=by_service,
               threshold=props.latency_p95_ms, duration="300s",
               runbook=f"`{api}` answers slower than {props.latency_p95_ms} ms at p95. Check "
               "instances against max instances, cold starts and the model's latency."),
        Signal(key="worker_errors", title="Worker 5xx responses", severity="ERROR",
               filter=_run_metric(worker, "request_count", five_xx),
               aligner="ALIGN_DELTA", reducer="REDUCE_SUM", group_by=by_service,
               threshold=props.worker_errors_per_5min, duration="0s",
               runbook=f"`{worker}` answered with 5xx. A Pub/Sub push: the message is retried "
               "and may dead-letter. Cloud Scheduler's `POST /tasks/housekeeping`: an inquiry "
               "whose publish had failed could not be published again (the pass's "
               '`event="housekeeping"` line counts it). Check the worker\'s error logs.'),
        # Monitoring compares with > only: "at least N messages" is "> N - 1".
        Signal(key="dead_letter_backlog", title="Dead-letter backlog", severity="ERROR",
               filter=_pubsub_metric(dead_letter, "num_undelivered_messages"),
               aligner="ALIGN_MAX", reducer="REDUCE_SUM", period="60s",
               threshold=props.dead_letter_backlog_threshold - 1, duration="0s",
               runbook=f"At least {props.dead_letter_backlog_threshold} message(s) used up their "
               f"delivery attempts. Pull them from `{dead_letter}`, fix the cause, then "
               "republish them to the inquiries topic."),
        Signal(key="oldest_unacked_age", title="Oldest unacked message age (s)",
               filter=_pubsub_metric(push, "oldest_unacked_message_age"), severity="WARNING",
               aligner="ALIGN_MAX", reducer="REDUCE_MAX", period="60s",
               threshold=props.oldest_unacked_seconds, duration="120s",
               runbook=f"Messages on `{push}` wait longer than {props.oldest_unacked_seconds} s. "
               "Check the worker's health, its max instances and push errors."),
        Signal(key="inquiry_failures", title="Failed inquiries", severity="WARNING",
               filter=f'metric.type = "{failure_metric}" AND resource.type = "cloud_run_revision"',
               aligner="ALIGN_DELTA", reducer="REDUCE_SUM",
               threshold=props.inquiry_failures_per_5min, duration="0s",
               runbook="Inquiries ended `failed`. Find them in Logs Explorer with "
               f"`{log_filters(props)['inquiry_failures']}`."),
        Signal(key="unprocessable_pushes", title="Unprocessable pushes", severity="ERROR",
               filter=f'metric.type = "{unprocessable_metric}" AND '
               'resource.type = "cloud_run_revision"',
               aligner="ALIGN_DELTA", reducer="REDUCE_SUM", threshold=0, duration="0s",
               runbook="The worker acknowledged pushes it can never process (not retried, so "
               "not dead-lettered). Find them, with their data, in Logs Explorer with "
               f"`{log_filters(props)['unprocessable_pushes']}`."),
        Signal(key="stale_queued", title="Inquiries queued too long", severity="ERROR",
               filter=f'metric.type = "{stale_queued_metric}" AND '
               'resource.type = "cloud_run_revision"',
               aligner="ALIGN_DELTA", reducer="REDUCE_SUM", threshold=0, duration="0s",
               runbook=f"A housekeeping pass of `{worker}` counted at least "
               f"{props.stale_queued_threshold} accepted inquiries still `queued` after the "
               "app's threshold (`stale_after_seconds` of its line): no worker has them. Their "
               "publish keeps failing (the worker's 5xx alert fires too: check Pub/Sub and the "
               "worker's publisher grant on the inquiries topic), or their pushes never reach "
               "the worker (check the push subscription, the dead-letter backlog and 401s). "
               f"Find the passes in Logs Explorer with `{log_filters(props)['stale_queued']}`."),
    ]
    if handoff_wait_metric is not None:
        rows.append(Signal(key="handoff_wait", title="Customers waiting for a person too long",
               severity="WARNING",
               filter=f'metric.type = "{handoff_wait_metric}" AND '
               'resource.type = "cloud_run_revision"',
               aligner="ALIGN_DELTA", reducer="REDUCE_SUM", threshold=0, duration="0s",
               runbook=f"A housekeeping pass of `{worker}` counted at least "
               f"{props.handoff_wait_threshold} conversations whose customer asked for a person "
               "and has waited longer than the app's threshold (`handoff_wait_alert_seconds` "
               "of its line, HANDOFF_WAIT_ALERT_SECONDS) with no team member joined. Open the "
               "staff console (`/staff`, or `GET /v1/staff/handoffs`) and join the longest "
               "waiting; check that what consumes the `handoff.requested` events of the events "
               "topic still reaches the team. Find the passes in Logs Explorer with "
               f"`{log_filters(props)['handoff_wait']}`."))
    if uptime_check_id is not None:
        rows.append(Signal(key="api_uptime", title="API uptime check failures", severity="CRITICAL",
               filter='metric.type = "monitoring.googleapis.com/uptime_check/check_passed" AND '
               f'resource.type = "uptime_url" AND metric.labels.check_id = "{uptime_check_id}"',
               aligner="ALIGN_NEXT_OLDER", reducer="REDUCE_COUNT_FALSE",
               group_by=("resource.label.host",), threshold=1, duration="60s",
               runbook=f"`https://{props.api_host}{HEALTH_PATH}` fails from more than one region. "
               "Check the load balancer, its certificate and the api service."))
    # fmt: on
    return rows


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
    logs: dict[str, str],
    charts: Sequence[dict[str, Any]] = (),
) -> str:
    """A mosaic dashboard: one chart per signal (with its alert threshold), `charts` (widgets
    without an alert), then log panels."""
    widgets: list[dict[str, Any]] = []
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


def token_chart(input_metric: str, output_metric: str) -> dict[str, Any]:
    """Tokens per minute by model, input and output: what the model calls cost."""

    def series(metric: str) -> dict[str, Any]:
        aggregation = {
            "alignmentPeriod": "60s",
            "perSeriesAligner": "ALIGN_SUM",
            "crossSeriesReducer": "REDUCE_SUM",
            "groupByFields": ["metric.label.model"],
        }
        query = {
            "timeSeriesFilter": {"filter": f'metric.type = "{metric}"', "aggregation": aggregation}
        }
        return {"timeSeriesQuery": query, "plotType": "STACKED_BAR"}

    chart = {"dataSets": [series(input_metric), series(output_metric)]}
    return {"title": "Model tokens per minute (input, output) by model", "xyChart": chart}


def _user_metric(name: str) -> str:
    """The monitoring type of the log-based metric `name`, for an alert or a chart to watch."""
    return f"logging.googleapis.com/user/{name}"


class Observability(Construct):
    """Channels, uptime check, log-based metrics, alert policies, dashboard, log retention.

    Attributes: `channels` (list of notification channels), `alert_policies` (dict by signal
    key, see `signals()`), `dashboard`, `inquiry_failures_metric`,
    `unprocessable_pushes_metric`, `stale_queued_metric`, `handoff_wait_metric`,
    `uptime_check` (or None),
    `log_bucket`, `log_filters` (dict of the Logging queries used, by name).
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
            for email in props.notification_emails
        ]
        self.uptime_check = None
        if props.api_host is not None:
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
                    type="uptime_url", labels={"project_id": project, "host": props.api_host}
                ),
                user_labels=labels,
                depends_on=after,
            )
        self.log_filters = log_filters(props)
        self.inquiry_failures_metric = self._log_metric(
            props,
            "inquiry-failures",
            "Inquiries that ended in status failed (app structured logs)",
            self.log_filters["inquiry_failures"],
            kind_label=True,
        )
        self.unprocessable_pushes_metric = self._log_metric(
            props,
            "unprocessable-pushes",
            "Pushes the worker acknowledged but can never process (app structured logs)",
            self.log_filters["unprocessable_pushes"],
        )
        self.stale_queued_metric = self._log_metric(
            props,
            "stale-queued-passes",
            f"Housekeeping passes that counted at least {props.stale_queued_threshold} inquiries"
            " queued too long (app structured logs)",
            self.log_filters["stale_queued"],
        )
        self.handoff_wait_metric = self._log_metric(
            props,
            "handoff-wait-passes",
            f"Housekeeping passes that counted at least {props.handoff_wait_threshold}"
            " conversations waiting for a person too long (app structured logs)",
            self.log_filters["handoff_wait"],
        )
        check_id = self.uptime_check.uptime_check_id if self.uptime_check else None
        rows = signals(
            props,
            _user_metric(f"{prefix}-inquiry-failures"),
            _user_metric(f"{prefix}-unprocessable-pushes"),
            _user_metric(f"{prefix}-stale-queued-passes"),
            check_id,
            _user_metric(f"{prefix}-handoff-wait-passes"),
        )
        routes = [c.name for c in self.channels] + list(props.extra_notification_channels)
        # The log-based metric must exist before a policy can watch it.
        needs = {
            "inquiry_failures": [self.inquiry_failures_metric],
            "unprocessable_pushes": [self.unprocessable_pushes_metric],
            "stale_queued": [self.stale_queued_metric],
            "handoff_wait": [self.handoff_wait_metric],
        }
        self.alert_policies = {s.key: self._alert(props, s, routes, needs.get(s.key)) for s in rows}
        charts = []
        self.token_metrics: list[LoggingMetric] = []
        if props.model_usage_event is not None:
            self.token_metrics = [
                self._token_metric(props, direction) for direction in ("input", "output")
            ]
            charts.append(
                token_chart(
                    _user_metric(f"{prefix}-model-input-tokens"),
                    _user_metric(f"{prefix}-model-output-tokens"),
                )
            )
        self.dashboard = MonitoringDashboard(
            self,
            "dashboard",
            project=project,
            dashboard_json=dashboard_json(
                f"{prefix} agents", project, rows, self.log_filters, charts
            ),
            depends_on=[*(after or []), *self.token_metrics] or None,
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

    def _log_metric(
        self,
        props: ObservabilityProps,
        suffix: str,
        description: str,
        query: str,
        kind_label: bool = False,
    ) -> LoggingMetric:
        """A counter over the app's structured log lines, optionally split by inquiry kind."""
        labels = [LoggingMetricMetricDescriptorLabels(key="kind", value_type="STRING",
                                                      description="Inquiry kind")]  # fmt: skip
        return LoggingMetric(
            self,
            suffix,
            project=props.project_id,
            name=f"{props.name_prefix}-{suffix}",
            description=description,
            filter=query,
            label_extractors={"kind": "EXTRACT(jsonPayload.kind)"} if kind_label else None,
            metric_descriptor=LoggingMetricMetricDescriptor(
                metric_kind="DELTA",
                value_type="INT64",
                unit="1",
                labels=labels if kind_label else None,
            ),
            depends_on=list(props.depends_on_resources) or None,
        )

    def _token_metric(self, props: ObservabilityProps, direction: str) -> LoggingMetric:
        """The tokens each model call used, as a distribution by model (sums chart cost)."""
        # Both roles call the model: the api for a turn, the worker for an inquiry's wording.
        services = " OR ".join(
            f'resource.labels.service_name="{name}"'
            for name in (props.api_service_name, props.worker_service_name)
        )
        query = (
            f'resource.type="cloud_run_revision" AND ({services}) AND '
            f'jsonPayload.event="{props.model_usage_event}"'
        )
        model = LoggingMetricMetricDescriptorLabels(
            key="model", value_type="STRING", description="The model called"
        )
        return LoggingMetric(
            self,
            f"model-{direction}-tokens",
            project=props.project_id,
            name=f"{props.name_prefix}-model-{direction}-tokens",
            description=f"{direction.capitalize()} tokens of each model call (app structured logs)",
            filter=query,
            value_extractor=f"EXTRACT(jsonPayload.{direction}_tokens)",
            label_extractors={"model": "EXTRACT(jsonPayload.model)"},
            bucket_options=LoggingMetricBucketOptions(
                exponential_buckets=LoggingMetricBucketOptionsExponentialBuckets(
                    num_finite_buckets=20, growth_factor=2, scale=1
                )
            ),
            metric_descriptor=LoggingMetricMetricDescriptor(
                metric_kind="DELTA", value_type="DISTRIBUTION", unit="1", labels=[model]
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
