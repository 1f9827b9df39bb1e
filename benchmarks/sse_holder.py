"""Holds live streams open, as chat pages would: `python -m benchmarks.sse_holder '<json>'`.

Config: `url` (loopback only), `token`, `session_ids` (one stream each). It opens every stream,
waits for each one's first event (`retry:`), prints `ready <n>` on stdout, then reads and
discards what the server sends (heartbeats, messages) until its stdin is closed, and prints one
JSON line: how many streams it opened and how many were still open at the end. One thread, one
selector: holding 200 streams costs the machine almost nothing beside the server under test.
"""

from __future__ import annotations

import json
import selectors
import socket
import sys
import threading
import time
from urllib.parse import urlsplit

OPEN_TIMEOUT_SECONDS = 30


def _open(host: str, port: int, path: str, token: str) -> socket.socket:
    """One stream, as a page opens it; a 503 (streams of the previous round that the server
    has not seen close yet) is retried, as a page honouring Retry-After would."""
    deadline = time.monotonic() + OPEN_TIMEOUT_SECONDS
    while True:
        try:
            return _try_open(host, port, path, token)
        except _Full:
            if time.monotonic() > deadline:
                raise SystemExit("the server stayed at its stream cap") from None
            time.sleep(0.25)


class _Full(Exception):
    pass


def _try_open(host: str, port: int, path: str, token: str) -> socket.socket:
    sock = socket.create_connection((host, port), OPEN_TIMEOUT_SECONDS)
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: text/event-stream\r\n"
        f"Authorization: Bearer {token}\r\n\r\n"
    )
    sock.sendall(request.encode())
    seen = b""
    while b"retry:" not in seen:
        if seen.startswith(b"HTTP/1.1 503 ") and b"\r\n\r\n" in seen:
            sock.close()
            raise _Full
        chunk = sock.recv(4096)
        if not chunk:
            raise SystemExit(f"stream closed before its first event: {seen[:800]!r}")
        seen += chunk
    status = seen.split(b"\r\n", 1)[0]
    if b" 200 " not in status:
        raise SystemExit(f"stream refused: {status!r}")
    sock.setblocking(False)
    return sock


def main(config: dict) -> None:
    parts = urlsplit(config["url"])
    if parts.hostname not in {"127.0.0.1", "localhost"}:
        raise SystemExit(f"loopback only, got {config['url']}")
    host, port = parts.hostname, parts.port or 80
    selector = selectors.DefaultSelector()
    opened = 0
    for session_id in config["session_ids"]:
        sock = _open(host, port, f"/v1/sessions/{session_id}/events", config["token"])
        selector.register(sock, selectors.EVENT_READ)
        opened += 1
    print(f"ready {opened}", flush=True)
    done = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    closed = 0
    while not done.is_set():
        for key, _ in selector.select(timeout=0.2):
            sock = key.fileobj
            try:
                data = sock.recv(65536)  # type: ignore[union-attr]
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                selector.unregister(sock)
                sock.close()  # type: ignore[union-attr]
                closed += 1
    print(json.dumps({"opened": opened, "open_at_end": opened - closed}), flush=True)


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
