"""What the reference app's logs tell the observability module to watch.

Why here: `modules/observability.py` serves any app, so it knows no log line of this one. The
app writes structured lines (`jsonPayload.event` and its fields, the app's log contract); this
file turns them into the module's log-based metrics, alerts, dashboard panels and charts, and
into the runbooks of the module's built-in alerts, in words about this app. The stack passes
`app_log_signals(...)` and `app_runbooks(...)` to `ObservabilityProps`.
"""

from __future__ import annotations

import re
from typing import Any

from modules.observability import (
    HEALTH_PATH,
    PASS_COUNT_THRESHOLD,
    LogAlert,
    LogMetric,
    LogSignals,
    MetricLabel,
    user_metric_type,
)

# The event of the app's per-call model token lines (app.adapters.gemini_model.USAGE_EVENT;
# tests/infra hold the two equal): charted as the cost per conversation.
MODEL_USAGE_EVENT = "model.usage"
_EVENT = re.compile(r"[A-Za-z0-9._-]{1,100}")


def _refuse(name: str, allowed: str, got: object) -> None:
    raise ValueError(f"app_log_signals.{name}: {allowed}, got {got!r}")


def on(service: str) -> str:
    """The Logging query of one Cloud Run service's lines."""
    return f'resource.type="cloud_run_revision" AND resource.labels.service_name="{service}"'


def log_filters(
    api: str, worker: str, stale_queued_threshold: int = 1, handoff_wait_threshold: int = 1
) -> dict[str, str]:
    """Logging queries over the app's structured lines (see the app's log contract)."""
    return {
        "inquiry_failures": f"{on(worker)} AND "
        'jsonPayload.event="inquiry.state" AND jsonPayload.status="failed"',
        "api_server_errors": f"{on(api)} AND "
        'jsonPayload.event="http.request" AND jsonPayload.status>=500',
        "worker_server_errors": f"{on(worker)} AND "
        'jsonPayload.event="http.request" AND jsonPayload.status>=500',
        "unprocessable_pushes": f'{on(worker)} AND jsonPayload.event="pubsub.unprocessable"',
        "stale_queued": f"{on(worker)} AND "
        'jsonPayload.event="housekeeping" AND '
        f"jsonPayload.stale_queued>={stale_queued_threshold}",
        "handoff_wait": f"{on(worker)} AND "
        'jsonPayload.event="housekeeping" AND '
        f"jsonPayload.handoffs_waiting_too_long>={handoff_wait_threshold}",
    }


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


def _token_metric(api: str, worker: str, event: str, direction: str) -> LogMetric:
    """The tokens each model call used, as a distribution by model (sums chart cost)."""
    # Both roles call the model: the api for a turn, the worker for an inquiry's wording.
    services = " OR ".join(f'resource.labels.service_name="{name}"' for name in (api, worker))
    return LogMetric(
        name=f"model-{direction}-tokens",
        description=f"{direction.capitalize()} tokens of each model call (app structured logs)",
        filter=(
            f'resource.type="cloud_run_revision" AND ({services}) AND jsonPayload.event="{event}"'
        ),
        labels={
            "model": MetricLabel(
                extractor="EXTRACT(jsonPayload.model)", description="The model called"
            )
        },
        value_extractor=f"EXTRACT(jsonPayload.{direction}_tokens)",
    )


def app_log_signals(
    name_prefix: str,
    api: str,
    worker: str,
    *,
    inquiry_failures_per_5min: int = 0,
    stale_queued_threshold: int = 1,
    handoff_wait_threshold: int = 1,
    model_usage_event: str | None = None,
) -> LogSignals:
    """The app's log-based metrics and alerts, its log panels and its token chart.

    `stale_queued_threshold`: an alert when one housekeeping pass of the worker counts at
    least this many inquiries still `queued` longer than the app's threshold (the app counts
    at most 1000). `handoff_wait_threshold`: likewise for conversations waiting for a person
    longer than the app's HANDOFF_WAIT_ALERT_SECONDS. `model_usage_event`: the event of the
    app's lines that report a model call's `input_tokens` and `output_tokens` (with `model`);
    None: no token metrics or chart.
    """
    low, high = PASS_COUNT_THRESHOLD
    for name, value in (
        ("stale_queued_threshold", stale_queued_threshold),
        ("handoff_wait_threshold", handoff_wait_threshold),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            _refuse(name, f"must be an integer between {low} and {high}", value)
    failures = inquiry_failures_per_5min
    if isinstance(failures, bool) or not isinstance(failures, int) or not 0 <= failures <= 10**6:
        _refuse("inquiry_failures_per_5min", "must be an integer between 0 and 1000000", failures)
    if model_usage_event is not None and (
        not isinstance(model_usage_event, str) or not _EVENT.fullmatch(model_usage_event)
    ):
        allowed = "must be an event name like 'model.usage' (letters, digits, . _ -)"
        _refuse("model_usage_event", allowed, model_usage_event)
    filters = log_filters(api, worker, stale_queued_threshold, handoff_wait_threshold)
    metrics = [
        LogMetric(
            name="inquiry-failures",
            description="Inquiries that ended in status failed (app structured logs)",
            filter=filters["inquiry_failures"],
            labels={
                "kind": MetricLabel(
                    extractor="EXTRACT(jsonPayload.kind)", description="Inquiry kind"
                )
            },
        ),
        LogMetric(
            name="unprocessable-pushes",
            description="Pushes the worker acknowledged but can never process"
            " (app structured logs)",
            filter=filters["unprocessable_pushes"],
        ),
        LogMetric(
            name="stale-queued-passes",
            description=f"Housekeeping passes that counted at least {stale_queued_threshold}"
            " inquiries queued too long (app structured logs)",
            filter=filters["stale_queued"],
        ),
        LogMetric(
            name="handoff-wait-passes",
            description=f"Housekeeping passes that counted at least {handoff_wait_threshold}"
            " conversations waiting for a person too long (app structured logs)",
            filter=filters["handoff_wait"],
        ),
    ]
    charts: list[dict[str, Any]] = []
    if model_usage_event is not None:
        metrics += [
            _token_metric(api, worker, model_usage_event, direction)
            for direction in ("input", "output")
        ]
        charts.append(
            token_chart(
                user_metric_type(f"{name_prefix}-model-input-tokens"),
                user_metric_type(f"{name_prefix}-model-output-tokens"),
            )
        )
    alerts = [
        LogAlert(
            key="inquiry_failures",
            title="Failed inquiries",
            metric="inquiry-failures",
            severity="WARNING",
            threshold=inquiry_failures_per_5min,
            runbook="Inquiries ended `failed`. Find them in Logs Explorer with "
            f"`{filters['inquiry_failures']}`.",
        ),
        LogAlert(
            key="unprocessable_pushes",
            title="Unprocessable pushes",
            metric="unprocessable-pushes",
            severity="ERROR",
            threshold=0,
            runbook="The worker acknowledged pushes it can never process (not retried, so "
            "not dead-lettered). Find them, with their data, in Logs Explorer with "
            f"`{filters['unprocessable_pushes']}`.",
        ),
        LogAlert(
            key="stale_queued",
            title="Inquiries queued too long",
            metric="stale-queued-passes",
            severity="ERROR",
            threshold=0,
            runbook=f"A housekeeping pass of `{worker}` counted at least "
            f"{stale_queued_threshold} accepted inquiries still `queued` after the "
            "app's threshold (`stale_after_seconds` of its line): no worker has them. Their "
            "publish keeps failing (the worker's 5xx alert fires too: check Pub/Sub and the "
            "worker's publisher grant on the inquiries topic), or their pushes never reach "
            "the worker (check the push subscription, the dead-letter backlog and 401s). "
            f"Find the passes in Logs Explorer with `{filters['stale_queued']}`.",
        ),
        LogAlert(
            key="handoff_wait",
            title="Customers waiting for a person too long",
            metric="handoff-wait-passes",
            severity="WARNING",
            threshold=0,
            runbook=f"A housekeeping pass of `{worker}` counted at least "
            f"{handoff_wait_threshold} conversations whose customer asked for a person "
            "and has waited longer than the app's threshold (`handoff_wait_alert_seconds` "
            "of its line, HANDOFF_WAIT_ALERT_SECONDS) with no team member joined. Open the "
            "staff console (`/staff`, or `GET /v1/staff/handoffs`) and join the longest "
            "waiting; check that what consumes the `handoff.requested` events of the events "
            "topic still reaches the team. Find the passes in Logs Explorer with "
            f"`{filters['handoff_wait']}`.",
        ),
    ]
    return LogSignals(metrics=metrics, alerts=alerts, panels=filters, charts=charts)


def app_runbooks(
    api: str,
    worker: str,
    dead_letter_subscription: str,
    *,
    error_ratio_threshold: float,
    latency_p95_ms: int,
    dead_letter_backlog_threshold: int = 1,
) -> dict[str, str]:
    """The module's built-in alerts' runbooks, in words about this app's backends and paths."""
    return {
        "api_5xx_ratio": f"More than {error_ratio_threshold:.1%} of `{api}` requests fail "
        "with 5xx. Check the api's error logs and its backends (Firestore, Redis, Pub/Sub).",
        "api_latency_p95": f"`{api}` answers slower than {latency_p95_ms} ms at p95. Check "
        "instances against max instances, cold starts and the model's latency.",
        "worker_errors": f"`{worker}` answered with 5xx. A Pub/Sub push: the message is retried "
        "and may dead-letter. Cloud Scheduler's `POST /tasks/housekeeping`: an inquiry "
        "whose publish had failed could not be published again (the pass's "
        '`event="housekeeping"` line counts it). Check the worker\'s error logs.',
        "dead_letter_backlog": f"At least {dead_letter_backlog_threshold} message(s) used up "
        f"their delivery attempts. Pull them from `{dead_letter_subscription}`, fix the cause, "
        "then republish them to the inquiries topic.",
    }


__all__ = ["HEALTH_PATH", "MODEL_USAGE_EVENT", "app_log_signals", "app_runbooks", "log_filters"]
