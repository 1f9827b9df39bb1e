"""`make run`'s logs in a terminal: each structured JSON line as one short readable line.

The app writes JSON lines for Cloud Logging; at a terminal a person wants the time, who wrote
the line, its severity and its message. `RUN_LOGS=json` keeps the lines as the app wrote them,
which is also the default when the output is not a terminal (a file, a pipe, a test).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from typing import IO, Any

FORMATS = ("text", "json")
# What every line carries for Cloud Logging: left out of the terminal view.
_ENVELOPE = {
    "severity",
    "httpRequest",
    "logging.googleapis.com/labels",
    "logging.googleapis.com/trace",
    "logging.googleapis.com/spanId",
    "logging.googleapis.com/trace_sampled",
    "logging.googleapis.com/sourceLocation",
}


def chosen_format(environ: Mapping[str, str], to_terminal: bool) -> str:
    """RUN_LOGS, else text on a terminal and json anywhere else."""
    raw = environ.get("RUN_LOGS", "").strip().lower()
    if not raw:
        return "text" if to_terminal else "json"
    if raw not in FORMATS:
        raise SystemExit(f"RUN_LOGS: must be one of {', '.join(FORMATS)}, got {raw!r}")
    return raw


def readable(line: str, source: str, clock: float | None = None) -> str:
    """`HH:MM:SS source SEVERITY message`, or `line` unchanged when it is not a JSON entry."""
    try:
        entry: Any = json.loads(line)
    except ValueError:
        return line
    if not isinstance(entry, dict) or "severity" not in entry:
        return line
    message = str(entry.get("message", ""))
    if not message:  # a payload without a message: show its fields
        message = json.dumps({k: v for k, v in entry.items() if k not in _ENVELOPE})
    elif entry.get("event") == "http.request" and "latency_ms" in entry:
        message = f"{message} {entry['latency_ms']} ms"
    elif "error" in entry:
        message = f"{message}: {entry['error']}"
    stamp = time.strftime("%H:%M:%S", time.localtime(clock))
    return f"{stamp} {source:<6} {entry['severity']:<7} {message}"


def relay(stream: IO[str], source: str, out: IO[str]) -> threading.Thread:
    """Copy `stream` to `out` line by line, readable, until it ends (a daemon thread)."""

    def run() -> None:
        for line in stream:
            out.write(readable(line.rstrip("\n"), source) + "\n")
            out.flush()

    thread = threading.Thread(target=run, name=f"log-view-{source}", daemon=True)
    thread.start()
    return thread
