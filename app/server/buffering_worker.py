"""gunicorn's gthread worker, reading each request whole in its event loop before a thread gets it.

Why: a thread of stock gthread reads the body with blocking calls and no deadline, so each
client that stalls mid-body holds a thread until it goes away; 8 of them stopped an instance
from answering anything, /healthz included. Here a stalled client costs a buffer, not a thread.
Settings: `read_timeout_seconds` (app/gunicorn_conf.py sets it from GUNICORN_READ_TIMEOUT).
"""

from __future__ import annotations

import contextlib
import heapq
import json
import selectors
import socket
import time
from dataclasses import dataclass, field
from functools import partial
from http import HTTPStatus
from typing import Any

from gunicorn import util
from gunicorn.http.parser import Parser
from gunicorn.http.unreader import Unreader
from gunicorn.workers.gthread import TConn, ThreadWorker

from app.server.request_scan import RequestScan, Verdict

STOP_LINGER_SECONDS = 2.0  # a request still arriving at SIGTERM; as gthread's kept-alive ones
CLOSE_LINGER_SECONDS = 2.0  # after a 4xx from the loop: read and discard, so it is not lost to RST
DEFAULT_BODY_LIMIT = 1024 * 1024  # for an app that sets no MAX_CONTENT_LENGTH (the bare app)
HEADER_LIMIT = 64 * 1024  # buffered per connection, so not gunicorn's own ~800 KiB: 431 past it
RECV_BYTES = 65536


@dataclass(eq=False)
class _Reading:
    """A connection the loop is reading: what has arrived and until when it may."""

    scan: RequestScan
    deadline: float
    data: bytearray = field(default_factory=bytearray)
    registered: bool = False
    continued: bool = False
    closing: bool = False


def problem_bytes(status: int, detail: str, path: str | None) -> bytes:
    """A whole `Connection: close` answer in the app's problem+json form, written by the loop."""
    from app.http.problems import PROBLEM_MIMETYPE, problem_type  # the app is loaded by now

    phrase = HTTPStatus(status).phrase
    document: dict[str, Any] = {
        "type": problem_type(status),
        "title": phrase,
        "status": status,
        "detail": detail,
    }
    if path:
        document["instance"] = path
    body = json.dumps(document).encode()
    head = (
        f"HTTP/1.1 {status} {phrase}\r\nContent-Type: {PROBLEM_MIMETYPE}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body


def _receive(sock: socket.socket, into: bytearray, cap: int) -> bool:
    """Append what the socket holds now; False once the peer has closed or the socket failed."""
    while len(into) <= cap:
        try:
            chunk = sock.recv(RECV_BYTES)
        except (BlockingIOError, InterruptedError):
            return True
        except OSError:
            return False
        if not chunk:
            return False
        into += chunk
        if len(chunk) < RECV_BYTES:
            return True
    return True


class RequestBufferingWorker(ThreadWorker):
    """gthread, with the event loop reading each request whole before a thread gets it.

    Why: a thread of stock gthread reads the body with blocking calls and no deadline, so each
    client that stalls mid-body holds a thread until it goes away. Here the loop (one thread,
    non-blocking sockets, already watching every connection) collects the bytes; a stalled
    client costs a buffer, not a thread, and is answered 408 and closed at its deadline. A
    declared body over the app's MAX_CONTENT_LENGTH gets the app's 413 without being read.
    Only plain HTTP/1.x is buffered; with TLS, HTTP/2 or the PROXY protocol configured the
    worker is stock gthread.
    """

    read_timeout_seconds: float = 10.0  # for a request to arrive whole, from accept or readable

    def init_process(self) -> None:
        self._reading: dict[TConn, _Reading] = {}
        self._deadlines: list[tuple[float, int, TConn, _Reading]] = []
        self._sequence = 0
        self._stop_at: float | None = None
        cfg = self.cfg
        self._buffering = (
            not cfg.is_ssl
            and "h2" not in getattr(cfg, "http_protocols", ())
            and getattr(cfg, "protocol", "http") == "http"
            and getattr(cfg, "proxy_protocol", "off") in ("off", False, None)
        )
        line = cfg.limit_request_line or 8190
        fields = (cfg.limit_request_fields or 100) * ((cfg.limit_request_field_size or 8190) + 2)
        self._header_limit = min(HEADER_LIMIT, line + fields + 4)
        super().init_process()  # loads the app, then runs the loop

    def run(self) -> None:
        config = getattr(self.wsgi, "config", None) or {}
        self._body_limit = config.get("MAX_CONTENT_LENGTH") or DEFAULT_BODY_LIMIT
        super().run()

    def enqueue_req(self, conn: TConn) -> None:
        """Every way a request reaches a thread passes here: read it whole first."""
        if not self._buffering:
            super().enqueue_req(conn)
            return
        reading = _Reading(
            RequestScan(self._body_limit, self._header_limit),
            time.monotonic() + self.read_timeout_seconds,
        )
        if conn.parser is not None:  # bytes of this request read ahead with the previous one
            reading.data += _unreader(conn.parser).take_buffered()
        conn.sock.setblocking(False)
        self._advance(conn, reading)  # usually the whole request is there already

    def _wait(self, conn: TConn, reading: _Reading) -> None:
        """Have the loop call back when `conn` is readable, and expire it at its deadline."""
        self._reading[conn] = reading
        self._sequence += 1
        heapq.heappush(self._deadlines, (reading.deadline, self._sequence, conn, reading))
        if not reading.registered:
            reading.registered = True
            self.poller.register(
                conn.sock, selectors.EVENT_READ, partial(self._on_readable, conn, reading)
            )

    def _advance(self, conn: TConn, reading: _Reading) -> None:
        cap = self._body_limit + self._header_limit
        if reading.closing:
            reading.data.clear()
            if not _receive(conn.sock, reading.data, cap):
                self._drop(conn, reading)
            return
        open_ = _receive(conn.sock, reading.data, cap)
        verdict = reading.scan.scan(reading.data)
        if verdict is Verdict.READY:
            self._hand_off(conn, reading)
        elif verdict is Verdict.TOO_LARGE:
            self._refuse(
                conn, reading, 413, f"Request body is over the limit of {self._body_limit} bytes"
            )
        elif verdict is Verdict.HEADERS_TOO_LARGE:
            self._refuse(conn, reading, 431, "Request headers are too large")
        elif verdict is Verdict.MALFORMED:
            self._refuse(conn, reading, 400, "Request body framing is malformed")
        elif not open_:
            self._drop(conn, reading)
        else:
            if reading.scan.expect_continue and not reading.continued:
                # gunicorn sends its own 100 later too; RFC 9110 15.2 lets a client get several
                reading.continued = True
                self._send(conn, b"HTTP/1.1 100 Continue\r\n\r\n")
            if not reading.registered:
                self._wait(conn, reading)

    def _unregister(self, conn: TConn, reading: _Reading) -> None:
        self._reading.pop(conn, None)
        if reading.registered:
            reading.registered = False
            with contextlib.suppress(KeyError, ValueError, OSError):
                self.poller.unregister(conn.sock)

    def _on_readable(self, conn: TConn, reading: _Reading, _sock: object) -> None:
        if self._reading.get(conn) is reading:  # not an event left over from before a close
            self._advance(conn, reading)

    def _hand_off(self, conn: TConn, reading: _Reading) -> None:
        self._unregister(conn, reading)
        if not conn.initialized:
            conn.init()  # plain HTTP/1: makes the parser, no I/O
        conn.data_ready = True
        _unreader(conn.parser).unread(bytes(reading.data))
        super().enqueue_req(conn)

    def _send(self, conn: TConn, payload: bytes) -> None:
        with contextlib.suppress(OSError):  # small, into an empty send buffer: never partial
            conn.sock.send(payload)

    def _refuse(self, conn: TConn, reading: _Reading, status: int, detail: str) -> None:
        """Answer from the loop, then read and discard for a moment before closing."""
        self._send(conn, problem_bytes(status, detail, reading.scan.path))
        with contextlib.suppress(OSError):
            conn.sock.shutdown(socket.SHUT_WR)
        self.log.debug("answered %s to %s and closed: %s", status, conn.client, detail)
        reading.closing = True
        reading.deadline = time.monotonic() + CLOSE_LINGER_SECONDS
        self._wait(conn, reading)

    def _drop(self, conn: TConn, reading: _Reading) -> None:
        self._unregister(conn, reading)
        self.nr_conns -= 1
        util.close(conn.sock)

    def _run_stopping_hooks(self) -> None:
        """Once, when the worker starts to stop: the app's `on_stopping` hooks (its live
        streams end, so that their threads are free and their clients reconnect elsewhere,
        instead of holding the graceful timeout until the process is killed)."""
        extensions = getattr(self.wsgi, "extensions", None) or {}
        for hook in extensions.get("on_stopping", ()):
            try:
                hook()
            except Exception:
                self.log.exception("a stopping hook failed")

    def murder_pending(self) -> None:
        """Once per turn of the loop: 408 to requests past their deadline, then close them."""
        super().murder_pending()
        now = time.monotonic()
        if not self.alive and self._stop_at is None:
            self._stop_at = now + STOP_LINGER_SECONDS
            self._run_stopping_hooks()
        stopping = self._stop_at is not None and self._stop_at <= now
        while self._deadlines:
            deadline, _, conn, reading = self._deadlines[0]
            if self._reading.get(conn) is not reading or reading.deadline != deadline:
                heapq.heappop(self._deadlines)  # handed off, closed, or given a new deadline
                continue
            if deadline > now and not stopping:
                break
            heapq.heappop(self._deadlines)
            if reading.closing or not reading.data.strip(b"\r\n"):
                self._drop(conn, reading)  # nothing of a request: close quietly
            elif deadline <= now:
                detail = f"The request did not arrive whole within {self.read_timeout_seconds} s"
                self._refuse(conn, reading, 408, detail)
            else:  # stopping, and the rest of this request did not come in time: retry elsewhere
                self._refuse(conn, reading, 503, "The server is stopping; send the request again")
                self._drop(conn, reading)


def _unreader(parser: object) -> Unreader:
    """The HTTP/1 parser's unreader: this worker serves HTTP/1 only (no HTTP/2 connection)."""
    assert isinstance(parser, Parser)
    return parser.unreader
