"""`CloudLogHandler` writes what google-cloud-logging's `StructuredLogHandler` writes.

That library (a dev dependency only) is the reference for the line Cloud Logging's agent parses
on Cloud Run. The app's handler must produce the same bytes for every kind of record: text,
%-arguments, dicts, `json_fields`, JSON-looking text, exceptions, labels, an explicit trace,
source location or httpRequest. Records are made outside any Flask request, where the library
infers nothing from request headers (the one thing the app's handler deliberately does not do).
"""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Callable
from typing import Any

import google.cloud.logging_v2 as logging_library
import pytest
from google.cloud.logging_v2.handlers import StructuredLogHandler
from google.cloud.logging_v2.handlers.structured_log import GCP_STRUCTURED_LOGGING_FIELDS

from app.logs.cloud_handler import RESERVED_FIELDS, CloudLogHandler

LABELS = {"role": "api"}
TRACE = "projects/demo/traces/4bf92f3577b34da6a3ce929d0e0e4736"


def _exc_info() -> Any:
    try:
        raise ValueError('bad "value" \u00e9')
    except ValueError:
        return sys.exc_info()


RECORDS: dict[str, dict[str, Any]] = {
    "text": {"msg": "hello"},
    "arguments": {"msg": "order %s, attempt %d", "args": ("A1017", 3)},
    "unicode": {"msg": 'caf\u00e9 "quoted"\n\u2028 \U0001f600 \\ back'},
    "empty": {"msg": ""},
    "none": {"msg": None},
    "dict": {"msg": {"event": "x", "n": 1, "nested": {"a": [1, 2.5, None, True]}}},
    "dict-reserved": {"msg": {"severity": "DEBUG", "httpRequest": {"status": 1}, "a": 1}},
    "dict-empty": {"msg": {}},
    "json-fields": {"msg": "text", "json_fields": {"event": "e", "count": 2}},
    "json-fields-message": {"msg": "text", "json_fields": {"message": "old", "z": 1}},
    "json-fields-empty": {"msg": "text", "json_fields": {}},
    "json-fields-none-message": {"msg": None, "json_fields": {"event": "e"}},
    "dict-and-json-fields": {"msg": {"a": 1, "b": 2}, "json_fields": {"b": 3, "c": 4}},
    "json-text": {"msg": '{"a": 1, "b": "\u00e9"}'},
    "json-text-list": {"msg": "[1, 2]"},
    "broken-json-text": {"msg": "{not json"},
    "exception": {"msg": "failed", "exc_info": _exc_info()},
    "exception-json-fields": {"msg": "failed", "exc_info": _exc_info(), "json_fields": {"e": 1}},
    "stack": {"msg": "where", "stack_info": "Stack (most recent call last):\n  here"},
    "labels": {"msg": "m", "labels": {"tenant": "t-1", "role": "override"}},
    "http-request": {"msg": "m", "http_request": {"requestMethod": "GET", "status": 200}},
    "source-location": {"msg": "m", "source_location": {"file": "f.py", "line": 3}},
    "source-location-none": {"msg": "m", "source_location": None},
    "trace": {"msg": "m", "trace": TRACE, "span_id": "00f067aa0ba902b7", "trace_sampled": True},
    "trace-unsampled": {"msg": "m", "trace": TRACE, "span_id": None, "trace_sampled": False},
    "warning": {"msg": "w", "levelno": logging.WARNING, "levelname": "WARNING"},
    "custom-level": {"msg": "c", "levelno": 25, "levelname": "Level 25"},
    "unnamed-logger": {"msg": "m", "name": ""},
}


def _record(fields: dict[str, Any]) -> logging.LogRecord:
    base = {
        "name": "app.test",
        "levelno": logging.INFO,
        "levelname": "INFO",
        "pathname": "/srv/app/x.py",
        "lineno": 12,
        "funcName": "handle",
        "args": None,
    }
    return logging.makeLogRecord({**base, **fields})


def _written(handler_factory: Callable[[io.StringIO], logging.Handler], record) -> str:
    stream = io.StringIO()
    handler = handler_factory(stream)
    handler.handle(record)
    return stream.getvalue()


@pytest.fixture
def library(monkeypatch) -> Callable[[io.StringIO], logging.Handler]:
    """The library's handler, its one-off diagnostic line counted as written."""
    monkeypatch.setattr(logging_library, "_instrumentation_emitted", True)
    return lambda stream: StructuredLogHandler(labels=LABELS, stream=stream)


@pytest.mark.parametrize("case", list(RECORDS))
def test_the_line_is_the_librarys_line(library, case):
    ours = _written(lambda s: CloudLogHandler(labels=LABELS, stream=s), _record(RECORDS[case]))
    theirs = _written(library, _record(RECORDS[case]))
    assert ours == theirs
    assert ours.endswith("}\n") and ours.count("\n") == 1  # one line, newlines escaped
    json.loads(ours)


def test_the_bound_trace_is_written_as_the_library_writes_an_explicit_one(library):
    ours = _written(
        lambda s: CloudLogHandler(
            labels=LABELS, stream=s, trace_fields=lambda: (TRACE, "00f067aa0ba902b7", "true")
        ),
        _record({"msg": "m"}),
    )
    theirs = _written(library, _record(RECORDS["trace"]))
    assert ours == theirs
    assert json.loads(theirs)["logging.googleapis.com/trace"] == TRACE


def test_a_trace_on_the_record_wins_over_the_bound_one(library):
    ours = _written(
        lambda s: CloudLogHandler(
            labels=LABELS, stream=s, trace_fields=lambda: ("elsewhere", "1", "true")
        ),
        _record(RECORDS["trace-unsampled"]),
    )
    assert ours == _written(library, _record(RECORDS["trace-unsampled"]))


def test_the_reserved_fields_are_cloud_loggings():
    assert RESERVED_FIELDS == GCP_STRUCTURED_LOGGING_FIELDS


def test_a_payload_that_is_not_json_is_reported_not_raised(capsys):
    stream = io.StringIO()
    CloudLogHandler(stream=stream).handle(_record({"msg": {"x": object()}}))
    assert stream.getvalue() == ""
    assert "--- Logging error ---" in capsys.readouterr().err
