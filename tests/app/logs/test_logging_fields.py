"""`log_payload` writes the request line straight to the handler, byte for byte as logging would.

Each case writes one line through `StructuredLineWriter` and the same record through the
handler (a LogRecord, formatted by `CloudLogHandler.format`), and compares the two. The other
tests hold the cases where the direct write must step aside: another handler or a filter on
the way, a level the handler drops.
"""

from __future__ import annotations

import io
import json
import logging
import threading
import time

import pytest

from app.logs.setup import (
    LogPayload,
    LogSite,
    configure_logging,
    log_payload,
    parse_trace_headers,
    payload_record,
    traced,
)

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SITE = LogSite("/srv/app/http/request_log.py", 67, "RequestLog._log")
PAYLOAD = {
    "event": "http.request",
    "method": "POST",
    "path": "/v1/faq/search",
    "status": 200,
    "latency_ms": 1.234,
    "role": "api",
    "message": "POST /v1/faq/search 200",
}
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
def root_handlers(restored_root_logging):
    """pytest's root handlers come back afterwards."""


def _lines(stream: io.StringIO) -> list[str]:
    """The lines written, split at newlines only: U+2028 in a value is not a line break."""
    return stream.getvalue().split("\n")[:-1]


def _trace_headers(trace_header: str | None) -> dict[str, str]:
    if not trace_header:
        return {}
    if trace_header.startswith("00-"):
        return {"traceparent": trace_header}
    return {"X-Cloud-Trace-Context": trace_header}


@pytest.mark.parametrize("project", [None, "demo-project"])
@pytest.mark.parametrize(
    "trace_header",
    [None, f"{TRACE_ID}/1;o=1", f"{TRACE_ID};o=0", f"00-{TRACE_ID}-00f067aa0ba902b7-01"],
)
@pytest.mark.parametrize(
    "payload",
    [PAYLOAD, {**PAYLOAD, "path": '/v1/\u00e9t\u00e9/"x"\n', "latency_ms": 0.0}, {}],
    ids=["request", "unicode", "empty"],
)
@pytest.mark.parametrize("http_request", [HTTP_REQUEST, {}], ids=["http", "no-http"])
@pytest.mark.parametrize("level", [logging.INFO, logging.ERROR])
def test_the_direct_line_is_the_line_the_handler_writes(
    root_handlers, project, trace_header, payload, http_request, level
):
    stream = io.StringIO()
    configure_logging("api", project=project, stream=stream)
    with traced(parse_trace_headers(_trace_headers(trace_header))):
        for name in ("app.http", "app.inquiry"):
            logger = logging.getLogger(name)
            log_payload(logger, level, payload, site=SITE, http_request=http_request)
            logger.handle(payload_record(logger, level, payload, SITE, http_request, {}))
    direct_http, library_http, direct_inquiry, library_inquiry = _lines(stream)
    assert direct_http == library_http
    assert direct_inquiry == library_inquiry
    entry = json.loads(direct_http)
    assert entry["logging.googleapis.com/labels"] == {"python_logger": "app.http", "role": "api"}
    assert entry["logging.googleapis.com/sourceLocation"] == SITE.location
    assert entry["severity"] == logging.getLevelName(level)
    assert entry["httpRequest"] == http_request
    assert {k: v for k, v in entry.items() if k in payload} == payload
    if trace_header:
        assert entry["logging.googleapis.com/trace"].endswith(TRACE_ID)


def test_the_direct_line_skips_the_record(root_handlers, monkeypatch):
    """The point of the direct write: no LogRecord is made for the request line."""
    stream = io.StringIO()
    configure_logging("api", stream=stream)

    def no_record(*args, **kwargs):
        raise AssertionError("a record was made")

    monkeypatch.setattr(logging.Logger, "makeRecord", no_record)
    log_payload(logging.getLogger("app.http"), logging.INFO, PAYLOAD, site=SITE, http_request={})
    assert json.loads(_lines(stream)[0])["message"] == PAYLOAD["message"]


def test_another_handler_gets_the_line_too(root_handlers):
    stream, other = io.StringIO(), io.StringIO()
    configure_logging("api", stream=stream)
    extra_handler = logging.StreamHandler(other)
    logging.getLogger().addHandler(extra_handler)
    logger = logging.getLogger("app.http")
    log_payload(logger, logging.INFO, PAYLOAD, site=SITE, http_request=HTTP_REQUEST)
    assert other.getvalue() == "POST /v1/faq/search 200\n"
    (line,) = _lines(stream)
    logging.getLogger().removeHandler(extra_handler)
    log_payload(logger, logging.INFO, PAYLOAD, site=SITE, http_request=HTTP_REQUEST)
    assert _lines(stream) == [line, line]


def test_a_filter_on_the_way_still_decides(root_handlers):
    stream = io.StringIO()
    configure_logging("api", stream=stream)
    logger = logging.getLogger("app.http")
    drop_all = logging.Filter("nothing.matches")
    logger.addFilter(drop_all)
    try:
        log_payload(logger, logging.INFO, PAYLOAD, site=SITE, http_request={})
    finally:
        logger.removeFilter(drop_all)
    assert stream.getvalue() == ""


def test_a_logger_that_does_not_propagate_keeps_its_lines(root_handlers):
    stream, own = io.StringIO(), io.StringIO()
    configure_logging("api", stream=stream)
    logger = logging.getLogger("app.private")
    own_handler = logging.StreamHandler(own)
    logger.addHandler(own_handler)
    logger.propagate = False
    try:
        log_payload(logger, logging.INFO, PAYLOAD, site=SITE, http_request={})
    finally:
        logger.removeHandler(own_handler)
        logger.propagate = True
    assert stream.getvalue() == ""
    assert own.getvalue() == "POST /v1/faq/search 200\n"


def test_the_handler_level_still_applies(root_handlers):
    stream = io.StringIO()
    handler = configure_logging("api", stream=stream)
    handler.setLevel(logging.WARNING)
    logger = logging.getLogger("app.http")
    log_payload(logger, logging.INFO, PAYLOAD, site=SITE, http_request={})
    assert stream.getvalue() == ""
    log_payload(logger, logging.ERROR, PAYLOAD, site=SITE, http_request={})
    assert json.loads(stream.getvalue())["severity"] == "ERROR"


def test_the_first_line_is_the_first_record(root_handlers):
    """No line of library versions or anything else comes before the app's own."""
    stream = io.StringIO()
    configure_logging("api", stream=stream)
    logger = logging.getLogger("app.http")
    log_payload(logger, logging.INFO, PAYLOAD, site=SITE, http_request={})
    logger.info("second")
    first, second = (json.loads(line) for line in _lines(stream))
    assert first["message"] == PAYLOAD["message"]
    assert second["message"] == "second"


def test_a_payload_cannot_write_cloud_logging_fields(root_handlers):
    """Reserved keys are dropped from the payload on both paths: a payload forges no
    severity or httpRequest, and no key is written twice."""
    stream = io.StringIO()
    configure_logging("api", stream=stream)
    logger = logging.getLogger("app.http")
    payload = {**PAYLOAD, "severity": "DEBUG", "httpRequest": {"status": 1}}
    log_payload(logger, logging.INFO, payload, site=SITE, http_request={})
    logger.handle(payload_record(logger, logging.INFO, payload, SITE, {}, {}))
    logger.handle(payload_record(logger, logging.INFO, PAYLOAD, SITE, {}, {}))
    direct, through_logging, without_those_keys = _lines(stream)
    assert direct == through_logging == without_those_keys
    assert json.loads(direct)["severity"] == "INFO"


def test_a_payload_that_is_not_json_is_reported_like_any_logging_error(root_handlers, capsys):
    stream = io.StringIO()
    configure_logging("api", stream=stream)
    payload = {**PAYLOAD, "latency_ms": object()}
    log_payload(logging.getLogger("app.http"), logging.INFO, payload, site=SITE, http_request={})
    assert stream.getvalue() == ""
    assert "--- Logging error ---" in capsys.readouterr().err


class _FailingStream(io.StringIO):
    def flush(self):
        raise OSError("the pipe is gone")


def test_a_failing_stream_is_reported_not_raised_and_not_written_twice(root_handlers, capsys):
    stream = _FailingStream()
    configure_logging("api", stream=stream)
    log_payload(logging.getLogger("app.http"), logging.INFO, PAYLOAD, site=SITE, http_request={})
    assert len(_lines(stream)) == 1
    error = capsys.readouterr().err
    assert "the pipe is gone" in error
    assert "Message: {'event': 'http.request'" in error


class _SlowStream(io.StringIO):
    """Writes one character at a time and lets other threads run in between."""

    def write(self, text: str) -> int:
        for char in text:
            super().write(char)
            time.sleep(0)
        return len(text)


def test_lines_from_many_threads_never_interleave(root_handlers):
    stream = _SlowStream()
    configure_logging("api", stream=stream)
    logger = logging.getLogger("app.http")

    def log(n: int) -> None:
        payload = {**PAYLOAD, "message": f"line {n}"}
        log_payload(logger, logging.INFO, payload, site=SITE, http_request={})

    threads = [threading.Thread(target=log, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    messages = sorted(json.loads(line)["message"] for line in _lines(stream))
    assert messages == sorted(f"line {n}" for n in range(8))


def test_lines_with_labels_of_their_own_go_through_logging(root_handlers):
    stream = io.StringIO()
    configure_logging("api", stream=stream)
    logger = logging.getLogger("app.http")
    labels = {"tenant": "t-1"}
    log_payload(logger, logging.INFO, {"message": "m"}, site=SITE, http_request={}, labels=labels)
    (entry,) = [json.loads(line) for line in _lines(stream)]
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
