"""The bytes of the `text/event-stream` format (HTML Living Standard, server-sent events).

Data is JSON on one line: `json.dumps` escapes every newline and, with ASCII output, every
character a parser could take for a line end, so one `data:` line always holds one event.
"""

from __future__ import annotations

import json
from typing import Any

MEDIA_TYPE = "text/event-stream"
HEADERS = {
    "Cache-Control": "no-cache, no-store",
    "X-Accel-Buffering": "no",  # proxies that buffer responses (nginx and the like): do not
}
HEARTBEAT = b": keep-alive\n\n"


def retry(milliseconds: int) -> bytes:
    """How long a client waits before it reconnects after the stream ends."""
    return f"retry: {int(milliseconds)}\n\n".encode()


def event(name: str, data: Any, event_id: int | None = None) -> bytes:
    """One event: `id:` (when given), `event:` and the JSON of `data`."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    body = json.dumps(data, separators=(",", ":"))
    return f"{head}event: {name}\ndata: {body}\n\n".encode()
