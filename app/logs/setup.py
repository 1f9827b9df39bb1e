"""Structured JSON logs on stdout, in the shape Cloud Logging parses on Cloud Run.

One `CloudLogHandler` (app.logs.cloud_handler) on the root logger writes every record as one
JSON line with `severity`, `message`, `logging.googleapis.com/labels` and
`logging.googleapis.com/trace`. Fields passed as `extra={"json_fields": {...}}` land in the
entry's `jsonPayload`, which is what the log-based metrics of `modules/observability.py` filter
on (`jsonPayload.event`, `jsonPayload.status`).

The trace of the request being served is kept in a context variable (bound by the HTTP layer
for each request), so every line logged while serving it, from any module, is grouped under the
request's trace in Cloud Logging.

For the agents: call `log_inquiry_state(inquiry, attempt)` on every inquiry state change.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import IO, Any

from app.domain.records import Inquiry, InquiryStatus
from app.logs.cloud_handler import CloudLogHandler, TraceFields
from app.logs.structured_line import LogSite, StructuredLineWriter

INQUIRY_LOGGER = "app.inquiry"
REQUEST_LOGGER = "app.http"

_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_CLOUD_TRACE = re.compile(r"^([0-9a-fA-F]{32})(?:/(\d{1,20}))?(?:;o=([01]))?$")


@dataclass(frozen=True)
class TraceContext:
    """The trace of the request being served, ready for Cloud Logging's special fields."""

    trace_id: str
    span_id: str | None = None
    sampled: bool = False


_current_trace: ContextVar[TraceContext | None] = ContextVar("current_trace", default=None)


@dataclass
class _LoggingState:
    """What `configure_logging` set up for this process."""

    role: str | None = None
    writer: StructuredLineWriter | None = None


_state = _LoggingState()


def parse_trace_headers(headers: Mapping[str, str | None]) -> TraceContext | None:
    """The trace from W3C `traceparent`, else from `X-Cloud-Trace-Context`; None when absent.

    Malformed or all-zero ids are ignored rather than logged: a client controls these headers.
    """
    parent = (headers.get("traceparent") or "").strip().lower()
    match = _TRACEPARENT.fullmatch(parent)
    if match and match.group(1) != "0" * 32 and match.group(2) != "0" * 16 and parent[:2] != "ff":
        return TraceContext(match.group(1), match.group(2), bool(int(match.group(3), 16) & 1))
    cloud = (headers.get("X-Cloud-Trace-Context") or "").strip()
    match = _CLOUD_TRACE.fullmatch(cloud)
    if match and match.group(1) != "0" * 32:
        span = int(match.group(2)) if match.group(2) else 0
        span_id = f"{span:016x}" if 0 < span < 2**64 else None
        return TraceContext(match.group(1).lower(), span_id, match.group(3) == "1")
    return None


def bind_trace(trace: TraceContext | None) -> Token[TraceContext | None]:
    """Make `trace` the trace of every line logged in this context until `unbind_trace`."""
    return _current_trace.set(trace)


def unbind_trace(token: Token[TraceContext | None]) -> None:
    _current_trace.reset(token)


@contextmanager
def traced(trace: TraceContext | None) -> Iterator[None]:
    token = bind_trace(trace)
    try:
        yield
    finally:
        unbind_trace(token)


def trace_resource_name(trace_id: str, project: str | None) -> str:
    """What Cloud Logging expects in `logging.googleapis.com/trace` to link lines to a trace."""
    return f"projects/{project}/traces/{trace_id}" if project else trace_id


class LogPayload(dict[str, Any]):
    """A line's jsonPayload; as text (`record.getMessage()`), just its "message"."""

    __slots__ = ()

    def __str__(self) -> str:
        return str(self.get("message", ""))


def _bound_trace_fields(project: str | None) -> TraceFields:
    """The bound request's trace as the handler writes it: trace, spanId and trace_sampled."""

    def fields() -> tuple[str, str, str]:
        trace = _current_trace.get()
        if trace is None:
            return "", "", "false"
        name = trace_resource_name(trace.trace_id, project)
        return name, trace.span_id or "", "true" if trace.sampled else "false"

    return fields


def configure_logging(
    role: str,
    *,
    level: str = "info",
    project: str | None = None,
    stream: IO[str] | None = None,
) -> logging.Handler:
    """Send every record of the process as one JSON line to `stream` (default stdout).

    Replaces the root logger's handlers, so calling it again (a test, a reload) never doubles
    lines. Returns the installed handler.
    """
    handler = CloudLogHandler(
        labels={"role": role},
        stream=stream or sys.stdout,
        trace_fields=_bound_trace_fields(project),
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # No line shows thread or process names (Cloud Logging labels the instance), so records
    # skip collecting them: the logging HOWTO's "Optimization" advice, worth a getpid() call
    # and two lookups on every line.
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    _state.role = role
    _state.writer = StructuredLineWriter(handler)
    return handler


def current_role() -> str | None:
    """The role given to `configure_logging`, for lines that name the process's role."""
    return _state.role


def log_event(
    logger: logging.Logger,
    level: int,
    message: str,
    fields: Mapping[str, Any],
    *,
    stacklevel: int = 2,
    **extra: Any,
) -> None:
    """Log `message` with `fields` in the entry's jsonPayload (next to `message`).

    The entry's source location is the caller's (`stacklevel` frames up), not this helper's.
    """
    logger.log(level, message, extra={"json_fields": dict(fields), **extra}, stacklevel=stacklevel)


def log_payload(
    logger: logging.Logger,
    level: int,
    payload: Mapping[str, Any],
    *,
    site: LogSite,
    http_request: Mapping[str, Any],
    **extra: Any,
) -> None:
    """Log `payload` (its "message" included) as the entry's jsonPayload, with `http_request`
    as its httpRequest, written from the fixed `site`.

    For the line written on every request: when the structured handler is its only
    destination, the line is written straight to it (see `app.logs.structured_line`); otherwise,
    or with `extra` fields such as labels, it is logged as a record like any other line.
    """
    if not logger.isEnabledFor(level):
        return
    writer = _state.writer
    if (
        writer is not None
        and not extra
        and writer.write(logger, level, payload, site, http_request)
    ):
        return
    logger.handle(payload_record(logger, level, payload, site, http_request, extra))


def payload_record(
    logger: logging.Logger,
    level: int,
    payload: Mapping[str, Any],
    site: LogSite,
    http_request: Mapping[str, Any],
    extra: Mapping[str, Any],
) -> logging.LogRecord:
    """The record `log_payload` logs when it does not write the line directly."""
    location = site.location
    return logger.makeRecord(
        logger.name,
        level,
        location["file"],
        location["line"],
        LogPayload(payload),
        (),
        None,
        location["function"],
        {"source_location": location, "http_request": http_request, **extra},
    )


def log_inquiry_state(inquiry: Inquiry, attempt: int, role: str | None = None) -> None:
    """One line per inquiry state change: the input of the inquiry-failures log-based metric.

    jsonPayload: event="inquiry.state", inquiry_id, kind, status, attempt, role. Failed
    inquiries are logged at WARNING, the others at INFO.
    """
    status = InquiryStatus(inquiry.status)
    fields = {
        "event": "inquiry.state",
        "inquiry_id": inquiry.id,
        "kind": inquiry.kind,
        "status": status.value,
        "attempt": attempt,
        "role": role or current_role(),
    }
    if inquiry.error and status is InquiryStatus.FAILED:
        fields["error"] = inquiry.error
    level = logging.WARNING if status is InquiryStatus.FAILED else logging.INFO
    message = f"inquiry {inquiry.id} ({inquiry.kind}) is {status.value}, attempt {attempt}"
    log_event(logging.getLogger(INQUIRY_LOGGER), level, message, fields, stacklevel=3)
