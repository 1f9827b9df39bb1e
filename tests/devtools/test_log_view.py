"""`make run`'s log view: JSON lines rendered short, anything else passed through unchanged."""

from __future__ import annotations

import io
import json
import time

import pytest

from devtools.log_view import chosen_format, readable, relay

NOON = 1_790_000_000.0  # any fixed instant: the view stamps the time it shows a line


def _entry(**fields) -> str:
    return json.dumps({"severity": "INFO", "logging.googleapis.com/labels": {}, **fields})


def _stamp() -> str:
    return time.strftime("%H:%M:%S", time.localtime(NOON))


def test_a_request_line_shows_its_latency():
    line = _entry(event="http.request", message="POST /v1/faq/search 200", latency_ms=1.25)
    assert (
        readable(line, "api", NOON) == f"{_stamp()} api    INFO    POST /v1/faq/search 200 1.25 ms"
    )


def test_a_failure_shows_its_error():
    line = _entry(severity="WARNING", message="inquiry i-1 is failed", error="order not found")
    assert readable(line, "worker", NOON) == (
        f"{_stamp()} worker WARNING inquiry i-1 is failed: order not found"
    )


def test_a_traceback_keeps_its_lines():
    line = _entry(severity="ERROR", message="boom\nTraceback (most recent call last):\n  x")
    shown = readable(line, "api", NOON)
    assert shown.splitlines()[1:] == ["Traceback (most recent call last):", "  x"]


@pytest.mark.parametrize(
    "line", ["plain text from a library", "[1, 2]", '{"no": "severity"}', "{broken", ""]
)
def test_anything_else_passes_unchanged(line):
    assert readable(line, "api", NOON) == line


def test_relay_copies_every_line_until_the_stream_ends():
    out = io.StringIO()
    source = io.StringIO(_entry(message="one") + "\nnot json\n" + _entry(message="two") + "\n")
    relay(source, "api", out).join(timeout=5)
    shown = out.getvalue().splitlines()
    assert len(shown) == 3
    assert shown[0].endswith(" api    INFO    one")
    assert shown[1] == "not json"
    assert shown[2].endswith(" api    INFO    two")


@pytest.mark.parametrize(
    ("environ", "terminal", "expected"),
    [
        ({}, True, "text"),
        ({}, False, "json"),
        ({"RUN_LOGS": "json"}, True, "json"),
        ({"RUN_LOGS": " Text "}, False, "text"),
    ],
)
def test_the_format_follows_run_logs_else_the_terminal(environ, terminal, expected):
    assert chosen_format(environ, terminal) == expected


def test_an_unknown_format_names_the_variable():
    with pytest.raises(SystemExit, match=r"^RUN_LOGS: must be one of text, json, got 'pretty'$"):
        chosen_format({"RUN_LOGS": "pretty"}, True)


def test_a_line_without_a_message_shows_its_own_fields_not_the_envelope():
    line = _entry(**{"logging.googleapis.com/diagnostic": {"source": "python"}, "httpRequest": {}})
    assert readable(line, "api", NOON) == (
        f'{_stamp()} api    INFO    {{"logging.googleapis.com/diagnostic": {{"source": "python"}}}}'
    )
