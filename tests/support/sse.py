"""Reading server-sent events in tests: a parser of the byte stream, and a client on a socket.

The parser follows the event-stream format closely enough to catch a server that breaks it:
an event ends at a blank line, `data:` lines are joined, `:` lines are comments (heartbeats),
and `retry:` and `id:` are fields of their own.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Event:
    event: str | None = None
    id: str | None = None
    data: str | None = None
    retry: int | None = None
    comments: list[str] = field(default_factory=list)

    @property
    def json(self) -> Any:
        return None if self.data is None else json.loads(self.data)

    @property
    def is_heartbeat(self) -> bool:
        return self.event is None and self.data is None and bool(self.comments)


def _parse_block(block: str) -> Event:
    event = Event()
    data: list[str] = []
    for line in block.split("\n"):
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "":
            event.comments.append(value)
        elif name == "data":
            data.append(value)
        elif name == "event":
            event.event = value
        elif name == "id":
            event.id = value
        elif name == "retry":
            event.retry = int(value)
        else:
            raise AssertionError(f"unknown field {name!r} in {block!r}")
    if data:
        event.data = "\n".join(data)
    return event


def parse(chunks: Iterable[bytes]) -> Iterator[Event]:
    """Events as the chunks complete them (a chunk may hold several, or part of one)."""
    buffer = ""
    for chunk in chunks:
        buffer += chunk.decode("utf-8")
        assert "\r" not in buffer, "the server writes bare \\n line ends"
        while "\n\n" in buffer:
            block, buffer = buffer.split("\n\n", 1)
            yield _parse_block(block)
    assert buffer == "", f"the stream ended mid-event: {buffer!r}"


def take_messages(events: Iterator[Event], count: int) -> list[Event]:
    """The next `count` message events (heartbeats skipped); fails if the stream ends first."""
    found: list[Event] = []
    for event in events:
        if event.event == "message":
            found.append(event)
            if len(found) == count:
                return found
    raise AssertionError(f"the stream ended after {len(found)} of {count} messages")


class SseClient:
    """One event stream over a real connection (http.client, chunked decoding included)."""

    def __init__(
        self,
        url: str,
        headers: Mapping[str, str] | None = None,
        timeout: float = 30,
        method: str = "GET",
        body: Any = None,
    ) -> None:
        parts = urlsplit(url)
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        payload = None if body is None else json.dumps(body).encode()
        sent = {"Accept": "text/event-stream", **dict(headers or {})}
        if payload is not None:
            sent["Content-Type"] = "application/json"
        self.connection.request(method, path, body=payload, headers=sent)
        self.response = self.connection.getresponse()
        self.status = self.response.status
        self.headers = {k.lower(): v for k, v in self.response.getheaders()}
        self._events = parse(self._chunks()) if self.status == 200 else iter(())

    def _chunks(self) -> Iterator[bytes]:
        while True:
            chunk = self.response.read1(65536)
            if not chunk:
                return
            yield chunk

    def body(self) -> Any:
        """The JSON body of an answer that is not a stream."""
        return json.loads(self.response.read() or b"{}")

    def next(self) -> Event | None:
        """The next event or heartbeat (None once the server ended the stream); a socket
        timeout when none comes in time."""
        return next(self._events, None)

    def messages(self, count: int) -> list[Event]:
        """The next `count` message events, skipping heartbeats."""
        return take_messages(self._events, count)

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> SseClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
