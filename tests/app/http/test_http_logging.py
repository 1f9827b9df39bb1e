"""Structured logs: one JSON line per request and per inquiry state, under the request's trace."""

from __future__ import annotations

import io
import json
import logging
from dataclasses import replace
from datetime import timedelta

import pytest

from app.domain.records import Inquiry, InquiryStatus, utcnow
from app.http import create_app
from app.logs.setup import (
    configure_logging,
    log_inquiry_state,
    parse_trace_headers,
    traced,
)

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture
def log_stream(restored_root_logging):
    """A buffer to route the root logger to for one test."""
    return io.StringIO()


def lines(stream: io.StringIO) -> list[dict]:
    parsed = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    return [entry for entry in parsed if "logging.googleapis.com/diagnostic" not in entry]


def events(stream: io.StringIO, event: str) -> list[dict]:
    return [entry for entry in lines(stream) if entry.get("event") == event]


def test_one_line_per_request_with_fields_and_cloud_trace(settings, fake_services, log_stream):
    configure_logging("api", project="demo-project", stream=log_stream)
    client = create_app(replace(settings, agent_role="api"), fake_services).test_client()
    client.post(
        "/v1/faq/search",
        json={"query": "shipping"},
        headers={"X-Cloud-Trace-Context": f"{TRACE_ID}/1;o=1"},
    )
    (entry,) = events(log_stream, "http.request")
    assert entry["message"] == "POST /v1/faq/search 200"
    assert entry["method"] == "POST"
    assert entry["path"] == "/v1/faq/search"
    assert entry["status"] == 200
    assert entry["role"] == "api"
    assert isinstance(entry["latency_ms"], float) and entry["latency_ms"] >= 0
    assert entry["severity"] == "INFO"
    assert entry["logging.googleapis.com/trace"] == f"projects/demo-project/traces/{TRACE_ID}"
    assert entry["logging.googleapis.com/spanId"] == "0000000000000001"
    assert entry["logging.googleapis.com/trace_sampled"] is True
    assert entry["logging.googleapis.com/labels"]["role"] == "api"
    assert entry["httpRequest"]["status"] == 200


def test_traceparent_is_read_and_every_line_of_the_request_shares_it(
    settings, fake_services, log_stream
):
    configure_logging("api", project="demo-project", stream=log_stream)
    fake_services.fail_with = RuntimeError("boom")
    client = create_app(replace(settings, agent_role="api"), fake_services).test_client()
    client.get("/readyz", headers={"traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"})
    traced_lines = [e for e in lines(log_stream) if e.get("logging.googleapis.com/trace")]
    assert len(traced_lines) >= 2  # the readiness failure and the request line
    assert {e["logging.googleapis.com/trace"] for e in traced_lines} == {
        f"projects/demo-project/traces/{TRACE_ID}"
    }


def test_without_a_project_the_bare_trace_id_is_kept(settings, fake_services, log_stream):
    configure_logging("worker", stream=log_stream)
    client = create_app(replace(settings, agent_role="api"), fake_services).test_client()
    client.get("/healthz", headers={"X-Cloud-Trace-Context": TRACE_ID})
    (entry,) = events(log_stream, "http.request")
    assert entry["logging.googleapis.com/trace"] == TRACE_ID


def test_a_request_without_trace_headers_has_no_trace(settings, fake_services, log_stream):
    configure_logging("api", project="demo-project", stream=log_stream)
    client = create_app(replace(settings, agent_role="api"), fake_services).test_client()
    client.get("/healthz")
    (entry,) = events(log_stream, "http.request")
    assert entry["logging.googleapis.com/trace"] == ""


def test_errors_are_logged_at_error_with_the_traceback_in_the_log_only(
    settings, fake_services, log_stream
):
    configure_logging("api", stream=log_stream)
    fake_services.fail_with = ZeroDivisionError("hidden detail")
    client = create_app(replace(settings, agent_role="api"), fake_services).test_client()
    response = client.post("/v1/faq/search", json={"query": "q"})
    assert "hidden detail" not in response.get_data(as_text=True)
    errors = [e for e in lines(log_stream) if e["severity"] == "ERROR"]
    assert any("ZeroDivisionError: hidden detail" in e.get("message", "") for e in errors)
    (request_line,) = events(log_stream, "http.request")
    assert request_line["status"] == 500 and request_line["severity"] == "ERROR"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (
            {"traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-00"},
            (TRACE_ID, "00f067aa0ba902b7", False),
        ),
        ({"traceparent": "00-" + "0" * 32 + "-00f067aa0ba902b7-01"}, None),
        ({"traceparent": "garbage", "X-Cloud-Trace-Context": TRACE_ID}, (TRACE_ID, None, False)),
        (
            {"X-Cloud-Trace-Context": f"{TRACE_ID.upper()}/12345;o=0"},
            (TRACE_ID, "0000000000003039", False),
        ),
        ({"X-Cloud-Trace-Context": "not-a-trace"}, None),
        ({}, None),
    ],
)
def test_trace_headers_are_validated(headers, expected):
    trace = parse_trace_headers(headers)
    assert (trace and (trace.trace_id, trace.span_id, trace.sampled)) == expected


def _inquiry(status: InquiryStatus, error: str | None = None) -> Inquiry:
    now = utcnow()
    return Inquiry(
        "inq-1",
        "refund_review",
        {"order_id": "A1007"},
        status,
        2,
        now,
        now,
        now + timedelta(days=1),
        error=error,
    )


def test_inquiry_state_lines_carry_the_fields_the_failure_metric_filters_on(log_stream):
    configure_logging("worker", project="demo-project", stream=log_stream)
    log_inquiry_state(_inquiry(InquiryStatus.RUNNING), attempt=2)
    with traced(parse_trace_headers({"X-Cloud-Trace-Context": TRACE_ID})):
        log_inquiry_state(_inquiry(InquiryStatus.FAILED, error="order not found"), attempt=2)
    running, failed = events(log_stream, "inquiry.state")
    assert running == running | {
        "inquiry_id": "inq-1",
        "kind": "refund_review",
        "status": "running",
        "attempt": 2,
        "role": "worker",
        "severity": "INFO",
    }
    assert failed["status"] == "failed" and failed["severity"] == "WARNING"
    assert failed["error"] == "order not found"
    assert failed["logging.googleapis.com/trace"] == f"projects/demo-project/traces/{TRACE_ID}"
    assert running["logging.googleapis.com/trace"] == ""


def test_configuring_twice_does_not_double_lines(log_stream):
    configure_logging("api", stream=io.StringIO())
    configure_logging("api", stream=log_stream)
    logging.getLogger("app.test").info("once")
    assert [e["message"] for e in lines(log_stream)] == ["once"]
