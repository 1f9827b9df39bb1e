"""The observability module: channels, uptime check, alerts, log metric, dashboard, retention."""

from __future__ import annotations

import io
import json
import logging
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from infra.app_signals import app_log_signals, app_runbooks
from modules.observability import (
    ApiWatch,
    Notifications,
    Observability,
    ObservabilityProps,
    QueueWatch,
    WorkerWatch,
)
from tests.modules.conftest import LABELS, PROJECT, resources

EMAILS = ["oncall@example.com", "agents-team@example.com"]
EXTRA_CHANNEL = f"projects/{PROJECT}/notificationChannels/1234567890"
PROD = {
    "project_id": PROJECT,
    "name_prefix": "agents-prod",
    "labels": LABELS,
    "api_service_name": "agents-prod-api",
    "worker_service_name": "agents-prod-worker",
    "push_subscription_name": "agents-prod-inquiries-push",
    "dead_letter_subscription_name": "agents-prod-inquiries-dead-letter-pull",
}
DEV = {k: v.replace("-prod", "-dev") if isinstance(v, str) else v for k, v in PROD.items()}
POLICY = "google_monitoring_alert_policy"
SIGNALS = {
    "api_5xx_ratio",
    "api_latency_p95",
    "worker_errors",
    "dead_letter_backlog",
    "oldest_unacked_age",
    "inquiry_failures",
    "unprocessable_pushes",
    "stale_queued",
    "handoff_wait",
}
BUILT: dict[str, Observability] = {}


GROUPS = {
    "api": (ApiWatch, {"api_service_name": "service_name", "api_host": "host",
                       "error_ratio_threshold": "error_ratio_threshold",
                       "latency_p95_ms": "latency_p95_ms"}),
    "worker": (WorkerWatch, {"worker_service_name": "service_name",
                             "worker_errors_per_5min": "errors_per_5min"}),
    "queue": (QueueWatch, {"push_subscription_name": "push_subscription_name",
                           "dead_letter_subscription_name": "dead_letter_subscription_name",
                           "oldest_unacked_seconds": "oldest_unacked_seconds",
                           "dead_letter_backlog_threshold": "dead_letter_backlog_threshold"}),
    "notifications": (Notifications, {"notification_emails": "emails",
                                      "extra_notification_channels": "channels"}),
}  # fmt: skip


def grouped(values: dict[str, Any]) -> dict[str, Any]:
    """ObservabilityProps' arguments from the flat names this file uses: each setting in its
    group (`api_host` is `api=ApiWatch(host=...)`)."""
    flat = dict(values)
    for group, (kind, names) in GROUPS.items():
        found = {inner: flat.pop(outer) for outer, inner in names.items() if outer in flat}
        if group not in flat:  # a group given whole stays as given
            flat[group] = kind(**found)
    return flat


def with_the_app(base: dict[str, Any], **values: Any) -> ObservabilityProps:
    """Props as the stack makes them: `base`, `values`, and what the app's logs tell
    (`infra/app_signals.py`), with the app's thresholds taken from `values`."""
    app = {
        name: values.pop(name)
        for name in ("stale_queued_threshold", "handoff_wait_threshold", "model_usage_event")
        if name in values
    }
    api, worker = base["api_service_name"], base["worker_service_name"]
    logs = app_log_signals(base["name_prefix"], api, worker, **app)
    runbooks = app_runbooks(
        api,
        worker,
        base["dead_letter_subscription_name"],
        error_ratio_threshold=values.get("error_ratio_threshold", 0.05),
        latency_p95_ms=values.get("latency_p95_ms", 2000),
        dead_letter_backlog_threshold=values.get("dead_letter_backlog_threshold", 1),
    )
    title = f"{base['name_prefix']} agents"
    return ObservabilityProps(
        **grouped({**base, **values}), logs=logs, runbooks=runbooks, dashboard_title=title
    )


def build(stack: Any) -> None:
    BUILT["prod"] = Observability(
        stack,
        "prod",
        with_the_app(
            PROD,
            notification_emails=EMAILS,
            extra_notification_channels=[EXTRA_CHANNEL],
            api_host="api.example.com",
            log_retention_days=90,
            error_ratio_threshold=0.02,
            latency_p95_ms=1500,
            oldest_unacked_seconds=300,
            dead_letter_backlog_threshold=3,
            stale_queued_threshold=3,
            handoff_wait_threshold=2,
        ),
    )
    BUILT["dev"] = Observability(stack, "dev", with_the_app(DEV))


@pytest.fixture(scope="module")
def tf(synth) -> dict[str, Any]:
    return synth(build)


def policies(tf: dict[str, Any], prefix: str) -> dict[str, dict[str, Any]]:
    """The synthesized alert policies of one Observability, by display name minus prefix."""
    return {
        p["display_name"].removeprefix(f"{prefix} "): p
        for p in resources(tf, POLICY).values()
        if p["display_name"].startswith(f"{prefix} ")
    }


def condition(tf: dict[str, Any], title: str) -> dict[str, Any]:
    (only_condition,) = policies(tf, "agents-prod")[title]["conditions"]
    return only_condition["condition_threshold"]


def test_one_email_channel_per_address(tf) -> None:
    channels = resources(tf, "google_monitoring_notification_channel").values()
    assert sorted(c["labels"]["email_address"] for c in channels) == sorted(EMAILS)
    assert {c["type"] for c in channels} == {"email"}
    assert len(BUILT["prod"].channels) == 2 and BUILT["dev"].channels == []


def test_uptime_check_only_where_the_api_host_is_given(tf) -> None:
    (check,) = resources(tf, "google_monitoring_uptime_check_config").values()
    assert check["monitored_resource"] == {
        "type": "uptime_url",
        "labels": {"project_id": PROJECT, "host": "api.example.com"},
    }
    http = check["http_check"]
    assert (http["path"], http["port"], http["use_ssl"], http["validate_ssl"]) == (
        "/healthz",
        443,
        True,
        True,
    )
    assert BUILT["dev"].uptime_check is None
    assert set(BUILT["prod"].alert_policies) == SIGNALS | {"api_uptime"}
    assert set(BUILT["dev"].alert_policies) == SIGNALS


def test_every_policy_is_documented_and_routed_to_the_channels(tf) -> None:
    channel_refs = {
        f"${{google_monitoring_notification_channel.{k}.name}}"
        for k in resources(tf, "google_monitoring_notification_channel")
    }
    prod = policies(tf, "agents-prod")
    assert len(prod) == len(SIGNALS) + 1  # + the uptime alert
    for title, policy in prod.items():
        assert set(policy["notification_channels"]) == channel_refs | {EXTRA_CHANNEL}, title
        assert policy["documentation"]["mime_type"] == "text/markdown"
        assert len(policy["documentation"]["content"]) > 40, title
        assert policy["user_labels"] == LABELS
    dev = policies(tf, "agents-dev")
    assert len(dev) == len(SIGNALS)
    assert all("notification_channels" not in p for p in dev.values())


def test_api_5xx_ratio_divides_5xx_by_all_requests_of_the_api(tf) -> None:
    ratio = condition(tf, "API 5xx ratio")
    assert 'response_code_class = "5xx"' in ratio["filter"]
    assert 'service_name = "agents-prod-api"' in ratio["filter"]
    assert 'service_name = "agents-prod-api"' in ratio["denominator_filter"]
    assert "5xx" not in ratio["denominator_filter"]
    assert ratio["aggregations"] == ratio["denominator_aggregations"]
    assert (ratio["comparison"], ratio["threshold_value"]) == ("COMPARISON_GT", 0.02)


def test_latency_uses_the_95th_percentile_against_the_threshold(tf) -> None:
    latency = condition(tf, "API p95 latency (ms)")
    assert "run.googleapis.com/request_latencies" in latency["filter"]
    assert latency["aggregations"][0]["per_series_aligner"] == "ALIGN_PERCENTILE_95"
    assert latency["threshold_value"] == 1500


def test_worker_errors_count_the_workers_5xx(tf) -> None:
    errors = condition(tf, "Worker 5xx responses")
    assert 'service_name = "agents-prod-worker"' in errors["filter"]
    assert 'response_code_class = "5xx"' in errors["filter"]
    assert errors["threshold_value"] == 0


def test_pubsub_alerts_watch_the_right_subscriptions(tf) -> None:
    backlog = condition(tf, "Dead-letter backlog")
    assert "subscription/num_undelivered_messages" in backlog["filter"]
    assert 'subscription_id = "agents-prod-inquiries-dead-letter-pull"' in backlog["filter"]
    # "at least 3 messages" with the API's strict comparison
    assert (backlog["comparison"], backlog["threshold_value"]) == ("COMPARISON_GT", 2)
    age = condition(tf, "Oldest unacked message age (s)")
    assert "subscription/oldest_unacked_message_age" in age["filter"]
    assert 'subscription_id = "agents-prod-inquiries-push"' in age["filter"]
    assert age["threshold_value"] == 300


def test_inquiry_failures_alert_watches_the_log_metric_after_it_exists(tf) -> None:
    metrics = resources(tf, "google_logging_metric")
    (logical,) = [k for k, m in metrics.items() if m["name"] == "agents-prod-inquiry-failures"]
    failures = policies(tf, "agents-prod")["Failed inquiries"]
    assert f"google_logging_metric.{logical}" in failures["depends_on"]
    (cond,) = failures["conditions"]
    filter_ = cond["condition_threshold"]["filter"]
    assert 'metric.type = "logging.googleapis.com/user/agents-prod-inquiry-failures"' in filter_
    assert metrics[logical]["metric_descriptor"]["metric_kind"] == "DELTA"


def test_uptime_alert_watches_this_check(tf) -> None:
    (logical,) = resources(tf, "google_monitoring_uptime_check_config")
    uptime = condition(tf, "API uptime check failures")
    ref = f"${{google_monitoring_uptime_check_config.{logical}.uptime_check_id}}"
    assert f'metric.labels.check_id = "{ref}"' in uptime["filter"]


def test_dashboard_parses_and_charts_every_signal(tf) -> None:
    dashboards = resources(tf, "google_monitoring_dashboard").values()
    parsed = [json.loads(d["dashboard_json"]) for d in dashboards]
    (prod,) = [d for d in parsed if d["displayName"] == "agents-prod agents"]
    widgets = [tile["widget"] for tile in prod["mosaicLayout"]["tiles"]]
    charted = json.dumps([w for w in widgets if "xyChart" in w])
    for title, policy in policies(tf, "agents-prod").items():
        (cond,) = policy["conditions"]
        assert json.dumps(cond["condition_threshold"]["filter"]) in charted, title
    assert len([w for w in widgets if "xyChart" in w]) == len(SIGNALS) + 1  # + the uptime check
    panels = {w["logsPanel"]["filter"] for w in widgets if "logsPanel" in w}
    assert panels == set(BUILT["prod"].log_filters.values())


def test_default_log_bucket_keeps_logs_for_the_retention(tf) -> None:
    buckets = resources(tf, "google_logging_project_bucket_config").values()
    assert sorted(b["retention_days"] for b in buckets) == [30, 90]
    assert {(b["bucket_id"], b["location"]) for b in buckets} == {("_Default", "global")}


# --- The log filters against the app's own structured log lines --------------------------

CLAUSE = re.compile(r'([\w.]+)(>=|=)("[^"]*"|\d+)')


def matches(query: str, entry: dict[str, Any]) -> bool:
    """Evaluate the subset of the Logging query language the module uses (AND, =, >=)."""
    for clause in query.split(" AND "):
        parsed = CLAUSE.fullmatch(clause.strip())
        assert parsed, f"filter clause outside the tested subset: {clause!r}"
        path, op, raw = parsed.groups()
        value: Any = entry
        for part in path.split("."):
            if not isinstance(value, dict) or part not in value:
                return False
            value = value[part]
        if op == "=" and raw.startswith('"'):
            if str(value) != raw[1:-1]:
                return False
        elif not (isinstance(value, int | float) and value >= int(raw)):
            return False
    return True


def as_log_entry(line: str, service: str) -> dict[str, Any]:
    """What Cloud Run makes of one JSON stdout line: special fields out of jsonPayload."""
    fields = json.loads(line)
    special = {"severity", "httpRequest", "time", "timestamp"}
    payload = {
        k: v
        for k, v in fields.items()
        if k not in special and not k.startswith("logging.googleapis.com/")
    }
    return {
        "resource": {"type": "cloud_run_revision", "labels": {"service_name": service}},
        "severity": fields.get("severity"),
        "jsonPayload": payload,
    }


@pytest.fixture
def app_lines():
    """Log through the app's real logging setup, then restore the root logger."""
    from app.domain.records import Inquiry, InquiryStatus
    from app.logs.setup import REQUEST_LOGGER, configure_logging, log_event, log_inquiry_state

    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    configure_logging("worker", project=PROJECT, stream=stream)
    now = datetime.now(UTC)

    def inquiry(status: InquiryStatus) -> None:
        item = Inquiry(id="inq-1", kind="refund_review", details={}, status=status, attempts=1,
                       created_at=now, updated_at=now, expires_at=now + timedelta(days=1),
                       error="boom" if status is InquiryStatus.FAILED else None)  # fmt: skip
        log_inquiry_state(item, attempt=1)

    def request(status: int) -> None:
        fields = {"event": "http.request", "method": "POST", "path": "/pubsub/inquiries",
                  "status": status, "latency_ms": 12, "role": "worker"}  # fmt: skip
        log_event(logging.getLogger(REQUEST_LOGGER), logging.INFO, "request", fields)

    def lines() -> list[str]:
        return [ln for ln in stream.getvalue().splitlines() if '"event"' in ln]

    yield inquiry, request, lines, InquiryStatus
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved[0]:
        root.addHandler(handler)
    root.setLevel(saved[1])


def test_inquiry_failure_filter_matches_only_failed_inquiries_on_the_worker(app_lines) -> None:
    inquiry, _, lines, status = app_lines
    inquiry(status.FAILED)
    inquiry(status.SUCCEEDED)
    inquiry(status.RUNNING)
    failed, succeeded, running = lines()
    query = BUILT["prod"].log_filters["inquiry_failures"]
    assert BUILT["prod"].log_metrics["inquiry-failures"].filter_input == query
    assert matches(query, as_log_entry(failed, "agents-prod-worker"))
    assert not matches(query, as_log_entry(succeeded, "agents-prod-worker"))
    assert not matches(query, as_log_entry(running, "agents-prod-worker"))
    assert not matches(query, as_log_entry(failed, "agents-prod-api"))


def test_unprocessable_push_alert_watches_the_log_metric_after_it_exists(tf) -> None:
    metrics = resources(tf, "google_logging_metric")
    (logical,) = [k for k, m in metrics.items() if m["name"] == "agents-prod-unprocessable-pushes"]
    alert = policies(tf, "agents-prod")["Unprocessable pushes"]
    assert f"google_logging_metric.{logical}" in alert["depends_on"]
    (cond,) = alert["conditions"]
    filter_ = cond["condition_threshold"]["filter"]
    assert 'metric.type = "logging.googleapis.com/user/agents-prod-unprocessable-pushes"' in filter_
    assert metrics[logical]["filter"] == BUILT["prod"].log_filters["unprocessable_pushes"]


def test_unprocessable_push_filter_matches_the_worker_endpoints_real_line() -> None:
    """The line the push endpoint writes for a poison message, through the app's logging."""
    from app.config.settings import Settings
    from app.http import create_app
    from app.http.push_auth import allow_unauthenticated
    from app.logs.setup import configure_logging

    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    try:
        configure_logging("worker", project=PROJECT, stream=stream)
        settings = Settings.from_env({}, agent_role="worker")
        worker = create_app(settings, services=object(), push_verifier=allow_unauthenticated)
        poison = {"message": {"data": "bm90IGpzb24=", "messageId": "m-1"}}
        assert worker.test_client().post("/pubsub/inquiries", json=poison).status_code == 204
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
    lines = [ln for ln in stream.getvalue().splitlines() if "pubsub.unprocessable" in ln]
    assert len(lines) == 1
    query = BUILT["prod"].log_filters["unprocessable_pushes"]
    assert matches(query, as_log_entry(lines[0], "agents-prod-worker"))
    assert not matches(query, as_log_entry(lines[0], "agents-prod-api"))


def test_server_error_filters_match_5xx_request_lines_of_their_service(app_lines) -> None:
    _, request, lines, _ = app_lines
    request(503)
    request(200)
    error, ok = lines()
    filters = BUILT["prod"].log_filters
    assert matches(filters["worker_server_errors"], as_log_entry(error, "agents-prod-worker"))
    assert not matches(filters["worker_server_errors"], as_log_entry(ok, "agents-prod-worker"))
    assert matches(filters["api_server_errors"], as_log_entry(error, "agents-prod-api"))
    assert not matches(filters["api_server_errors"], as_log_entry(error, "agents-prod-worker"))


# --- Validation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "owner", "field"),
    [
        ({"notification_emails": ["not-an-email"]}, "Notifications", "emails"),
        ({"notification_emails": "oncall@example.com"}, "Notifications", "emails"),
        ({"api_host": "https://api.example.com/healthz"}, "ApiWatch", "host"),
        ({"error_ratio_threshold": 5}, "ApiWatch", "error_ratio_threshold"),
        ({"latency_p95_ms": 0}, "ApiWatch", "latency_p95_ms"),
        ({"log_retention_days": 0}, "ObservabilityProps", "log_retention_days"),
        ({"log_retention_days": 3651}, "ObservabilityProps", "log_retention_days"),
        ({"dead_letter_backlog_threshold": 0}, "QueueWatch", "dead_letter_backlog_threshold"),
        ({"oldest_unacked_seconds": 1}, "QueueWatch", "oldest_unacked_seconds"),
        ({"name_prefix": "Agents"}, "ObservabilityProps", "name_prefix"),
        ({"worker_service_name": ""}, "WorkerWatch", "service_name"),
        ({"labels": {"app": "agents"}}, "ObservabilityProps", "labels"),
        ({"project_id": "no"}, "ObservabilityProps", "project_id"),
        ({"api": {"service_name": "a"}}, "ObservabilityProps", "api"),
    ],
)
def test_bad_props_name_the_field(changes: dict[str, Any], owner: str, field: str) -> None:
    with pytest.raises(ValueError, match=rf"^{owner}\.{field}: .+, got "):
        ObservabilityProps(**grouped({**PROD, **changes}))


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"stale_queued_threshold": 0}, "stale_queued_threshold"),
        ({"stale_queued_threshold": 1001}, "stale_queued_threshold"),
        ({"handoff_wait_threshold": 0}, "handoff_wait_threshold"),
        ({"handoff_wait_threshold": 1001}, "handoff_wait_threshold"),
        ({"handoff_wait_threshold": "1"}, "handoff_wait_threshold"),
    ],
)
def test_bad_app_thresholds_name_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=rf"^app_log_signals\.{field}: .+, got "):
        with_the_app(PROD, **changes)


def test_model_token_usage_is_measured_and_charted_when_asked(synth) -> None:
    built: dict[str, Observability] = {}

    def with_usage(stack: Any) -> None:
        built["o"] = Observability(
            stack, "usage", with_the_app(DEV, model_usage_event="model.usage")
        )

    tf = synth(with_usage)
    metrics = {m["name"]: m for m in resources(tf, "google_logging_metric").values()}
    for direction in ("input", "output"):
        metric = metrics[f"agents-dev-model-{direction}-tokens"]
        assert metric["filter"] == (
            'resource.type="cloud_run_revision" AND (resource.labels.service_name="agents-dev-api"'
            ' OR resource.labels.service_name="agents-dev-worker") AND'
            ' jsonPayload.event="model.usage"'
        )
        assert metric["value_extractor"] == f"EXTRACT(jsonPayload.{direction}_tokens)"
        assert metric["label_extractors"] == {"model": "EXTRACT(jsonPayload.model)"}
        assert metric["metric_descriptor"]["value_type"] == "DISTRIBUTION"
    (dashboard,) = resources(tf, "google_monitoring_dashboard").values()
    widgets = [
        t["widget"] for t in json.loads(dashboard["dashboard_json"])["mosaicLayout"]["tiles"]
    ]
    (chart,) = [w for w in widgets if w["title"].startswith("Model tokens")]
    filters = [
        d["timeSeriesQuery"]["timeSeriesFilter"]["filter"] for d in chart["xyChart"]["dataSets"]
    ]
    assert filters == [
        'metric.type = "logging.googleapis.com/user/agents-dev-model-input-tokens"',
        'metric.type = "logging.googleapis.com/user/agents-dev-model-output-tokens"',
    ]
    assert len(dashboard["depends_on"]) == 2  # the metrics exist before the chart uses them


def test_without_a_usage_event_there_are_no_token_metrics(tf) -> None:
    names = {m["name"] for m in resources(tf, "google_logging_metric").values()}
    assert not {n for n in names if "tokens" in n}
    with pytest.raises(ValueError, match="model_usage_event"):
        with_the_app(DEV, model_usage_event="has space")


# --- Inquiries left queued too long ------------------------------------------------------


def test_stale_queued_alert_watches_its_log_metric_after_it_exists(tf: dict[str, Any]) -> None:
    """Passes that counted at least the threshold's inquiries queued too long, on the worker."""
    metrics = resources(tf, "google_logging_metric")
    for prefix, at_least in (("agents-prod", 3), ("agents-dev", 1)):
        (logical,) = [k for k, m in metrics.items() if m["name"] == f"{prefix}-stale-queued-passes"]
        metric = metrics[logical]
        assert metric["filter"] == (
            f'resource.type="cloud_run_revision" AND resource.labels.service_name="{prefix}-'
            f'worker" AND jsonPayload.event="housekeeping" AND jsonPayload.stale_queued>={at_least}'
        )
        assert metric["metric_descriptor"]["metric_kind"] == "DELTA"
        alert = policies(tf, prefix)["Inquiries queued too long"]
        assert f"google_logging_metric.{logical}" in alert["depends_on"]
        (cond,) = alert["conditions"]
        threshold = cond["condition_threshold"]
        assert f'"logging.googleapis.com/user/{prefix}-stale-queued-passes"' in threshold["filter"]
        assert (threshold["comparison"], threshold["threshold_value"]) == ("COMPARISON_GT", 0)
        assert alert["severity"] == "ERROR"
        assert f"at least {at_least} accepted inquiries" in alert["documentation"]["content"]
    assert (
        BUILT["prod"].log_metrics["stale-queued-passes"].filter_input
        == BUILT["prod"].log_filters["stale_queued"]
    )


def test_worker_errors_runbook_covers_a_failed_housekeeping_pass(tf: dict[str, Any]) -> None:
    """Housekeeping answers 503 when a republish fails: that 5xx is what this alert sees."""
    (cond,) = policies(tf, "agents-prod")["Worker 5xx responses"]["conditions"]
    runbook = policies(tf, "agents-prod")["Worker 5xx responses"]["documentation"]["content"]
    assert "/tasks/housekeeping" in runbook
    assert 'response_code_class = "5xx"' in cond["condition_threshold"]["filter"]


def test_stale_queued_filter_matches_the_worker_s_real_housekeeping_lines(tmp_path: Path) -> None:
    """Through the app's logging and its real housekeeping: a pass that counted inquiries
    queued too long matches, a quiet pass and the api do not, and the threshold holds."""
    from app.logs.setup import configure_logging
    from tests.app.core_support import make_services

    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    services = make_services(tmp_path / "data", agent_role="worker")
    try:
        configure_logging("worker", level="debug", project=PROJECT, stream=stream)
        services.housekeeping()  # nothing queued
        for order_id in ("A1007", "A1008"):
            services.inquiries.create("refund_review", {"order_id": order_id}, customer_id="C004")
        services.clock.advance(11 * 60)  # never delivered: the dispatcher is not running
        assert services.housekeeping()["stale_queued"] == 2
    finally:
        services.close()
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
    quiet, stale = [ln for ln in stream.getvalue().splitlines() if '"housekeeping"' in ln]
    assert json.loads(stale)["severity"] == "WARNING"
    assert json.loads(stale)["stale_after_seconds"] == 600
    dev, prod = BUILT["dev"].log_filters["stale_queued"], BUILT["prod"].log_filters["stale_queued"]
    assert matches(dev, as_log_entry(stale, "agents-dev-worker"))
    assert not matches(dev, as_log_entry(quiet, "agents-dev-worker"))
    assert not matches(dev, as_log_entry(stale, "agents-dev-api"))
    assert not matches(prod, as_log_entry(stale, "agents-prod-worker"))  # 2 is under its 3


# --- Customers waiting for a person too long ---------------------------------------------


def test_handoff_wait_alert_watches_its_log_metric_after_it_exists(tf: dict[str, Any]) -> None:
    """Passes that counted at least the threshold's conversations waiting for a person."""
    metrics = resources(tf, "google_logging_metric")
    for prefix, at_least in (("agents-prod", 2), ("agents-dev", 1)):
        (logical,) = [k for k, m in metrics.items() if m["name"] == f"{prefix}-handoff-wait-passes"]
        assert metrics[logical]["filter"] == (
            f'resource.type="cloud_run_revision" AND resource.labels.service_name="{prefix}-'
            'worker" AND jsonPayload.event="housekeeping" AND '
            f"jsonPayload.handoffs_waiting_too_long>={at_least}"
        )
        assert metrics[logical]["metric_descriptor"]["metric_kind"] == "DELTA"
        alert = policies(tf, prefix)["Customers waiting for a person too long"]
        assert f"google_logging_metric.{logical}" in alert["depends_on"]
        (cond,) = alert["conditions"]
        threshold = cond["condition_threshold"]
        assert f'"logging.googleapis.com/user/{prefix}-handoff-wait-passes"' in threshold["filter"]
        assert (threshold["comparison"], threshold["threshold_value"]) == ("COMPARISON_GT", 0)
        assert alert["severity"] == "WARNING"
        runbook = alert["documentation"]["content"]
        assert f"at least {at_least} conversations" in runbook and "/staff" in runbook
    assert (
        BUILT["prod"].log_metrics["handoff-wait-passes"].filter_input
        == BUILT["prod"].log_filters["handoff_wait"]
    )


def test_handoff_wait_filter_matches_the_worker_s_real_housekeeping_lines(tmp_path: Path) -> None:
    """Through the app's logging and its real housekeeping: a pass that counted customers
    waiting for a person too long matches, a quiet pass and the api do not."""
    from app.logs.setup import configure_logging
    from tests.app.core_support import make_services

    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    services = make_services(tmp_path / "data", agent_role="worker")
    try:
        configure_logging("worker", level="debug", project=PROJECT, stream=stream)
        for customer in ("C001", "C002"):
            session = services.sessions.create(customer, {})
            services.conversation.post_message(session.id, "a human please", customer_id=customer)
        services.housekeeping()  # nobody has waited long yet
        services.clock.advance(301)  # past HANDOFF_WAIT_ALERT_SECONDS' default
        assert services.housekeeping()["handoffs_waiting_too_long"] == 2
    finally:
        services.close()
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
    quiet, late = [ln for ln in stream.getvalue().splitlines() if '"housekeeping"' in ln]
    assert json.loads(late)["severity"] == "WARNING"
    assert json.loads(late)["handoff_wait_alert_seconds"] == 300
    dev, prod = BUILT["dev"].log_filters["handoff_wait"], BUILT["prod"].log_filters["handoff_wait"]
    assert matches(dev, as_log_entry(late, "agents-dev-worker"))
    assert matches(prod, as_log_entry(late, "agents-prod-worker"))  # 2 reaches its 2
    assert not matches(dev, as_log_entry(quiet, "agents-dev-worker"))
    assert not matches(dev, as_log_entry(late, "agents-dev-api"))
