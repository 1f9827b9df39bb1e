"""`log_payload` lines set Cloud Logging's fields themselves; the library's filter sets the rest.

The shortcut must write exactly what google-cloud-logging's own CloudLoggingFilter would: each
case below formats one record through the shortcut and a copy of it through the library's
filter, and compares the two lines byte for byte.
"""

from __future__ import annotations

import io
import json
import logging

import pytest

from app.logging_setup import (
    LogPayload,
    LogSite,
    configure_logging,
    log_payload,
    parse_trace_headers,
    traced,
)

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SITE = LogSite("/srv/app/http/request_log.py", 67, "RequestLog._log")
HTTP_REQUEST = {
    "requestMethod": "POST",
    "requestUrl": "http://127.0.0.1:8080/v1/faq/search?q=\u00e9t\u00e9",
    "status": 200,
    "latency": "0.001234s",
    "userAgent": 'curl/8 "quoted" \u2028 \U0001f600',
    "remoteIp": "127.0.0.1",
    "protocol": "HTTP/1.1",
}


@pytest.fixture
def root_handlers():
    """Restore pytest's root handlers after a test that configures logging."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved_handlers:
        root.addHandler(handler)
    root.setLevel(saved_level)


def _record(logger_name: str, level: int, extra: dict) -> logging.LogRecord:
    payload = LogPayload(event="http.request", status=500, message="POST /v1/faq/search 500")
    location = SITE.location
    return logging.getLogger(logger_name).makeRecord(
        logger_name,
        level,
        location["file"],
        location["line"],
        payload,
        None,
        None,
        location["function"],
        extra,
    )


def _both_ways(handler: logging.Handler, logger_name: str, level: int, extra: dict):
    """The line written through the shortcut, and through the library's filter."""
    (fields,) = handler.filters
    library_filter, reached_library = fields.library.filter, []

    def spy(record: logging.LogRecord) -> bool:
        reached_library.append(record)
        return library_filter(record)

    fields.library.filter = spy
    shortcut = _record(logger_name, level, {"source_location": SITE.location, **extra})
    shortcut.log_site = SITE
    library = _record(logger_name, level, {"source_location": SITE.location, **extra})
    assert fields.filter(shortcut)
    assert fields.filter(library)  # no log_site: the library's filter sets the fields
    assert reached_library == [library]
    return handler.format(shortcut), handler.format(library)


@pytest.mark.parametrize("project", [None, "demo-project"])
@pytest.mark.parametrize(
    "trace_header",
    [None, f"{TRACE_ID}/1;o=1", f"{TRACE_ID};o=0", f"00-{TRACE_ID}-00f067aa0ba902b7-01"],
)
@pytest.mark.parametrize("http_request", [HTTP_REQUEST, {}])
def test_the_shortcut_writes_what_the_library_would(
    root_handlers, project, trace_header, http_request
):
    handler = configure_logging("api", project=project, stream=io.StringIO())
    headers = {"X-Cloud-Trace-Context": trace_header} if trace_header else {}
    if trace_header and trace_header.startswith("00-"):
        headers = {"traceparent": trace_header}
    with traced(parse_trace_headers(headers)):
        for logger_name in ("app.http", "app.inquiry"):
            extra = {"http_request": http_request}
            fast, slow = _both_ways(handler, logger_name, logging.ERROR, extra)
            assert fast == slow
            entry = json.loads(fast)
            assert entry["logging.googleapis.com/labels"] == {
                "python_logger": logger_name,
                "role": "api",
            }
            assert entry["logging.googleapis.com/sourceLocation"] == SITE.location
            if trace_header:
                assert entry["logging.googleapis.com/trace"].endswith(TRACE_ID)


def test_lines_with_labels_or_a_resource_of_their_own_go_through_the_library(root_handlers):
    stream = io.StringIO()
    configure_logging("api", stream=stream)
    logger = logging.getLogger("app.http")
    labels = {"tenant": "t-1"}
    log_payload(logger, logging.INFO, {"message": "m"}, site=SITE, http_request={}, labels=labels)
    (entry,) = [json.loads(line) for line in stream.getvalue().splitlines() if '"m"' in line]
    assert entry["logging.googleapis.com/labels"] == {
        "python_logger": "app.http",
        "role": "api",
        "tenant": "t-1",
    }


def test_a_payload_reads_as_its_message_to_other_handlers():
    payload = LogPayload({"event": "http.request", "message": "GET /healthz 200"})
    record = logging.makeLogRecord({"msg": payload})
    assert record.getMessage() == "GET /healthz 200"
    assert str(LogPayload({"event": "x"})) == ""
