"""A real HTTPS callback receiver on 127.0.0.1 for the sender's tests, with a chosen answer.

Real TLS, because the sender speaks nothing else: its certificate (names chosen by the test)
is trusted through the sender's `ca_bundle`. `answer` decides what the receiver sends back,
including misbehaviour: a status line trickled byte by byte, or an endless body.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from app.adapters.http_callback import HttpCallbackSender
from tests.faults.receiver import self_signed_cert


def status(code: int, headers: dict[str, str] | None = None) -> Callable[[Any], None]:
    """Answer `code` with an empty body and `headers`."""

    def answer(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(code)
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    return answer


@dataclass
class Receiver:
    """What the receiver saw, and how it answers."""

    port: int
    cert: Path
    requests: list[dict[str, Any]] = field(default_factory=list)
    answer: Callable[[BaseHTTPRequestHandler], None] = field(default_factory=lambda: status(204))
    bytes_sent: int = 0  # by the endless-body answer

    @property
    def allowed_host(self) -> str:
        """The allow-list entry for this receiver."""
        return f"localhost:{self.port}"

    def url(self, host: str = "localhost") -> str:
        return f"https://{host}:{self.port}/hook"

    def sender(
        self, key: str, *, allow_loopback: bool, host: str = "localhost", **options: Any
    ) -> HttpCallbackSender:
        """A sender allowed to call this receiver as `host`, trusting its certificate."""
        return HttpCallbackSender(
            key,
            (f"{host}:{self.port}",),
            allow_loopback=allow_loopback,
            ca_bundle=str(self.cert),
            **options,
        )


def trickle(every: float, text: bytes) -> Callable[[Any], None]:
    """Send `text` one byte every `every` seconds, until done or the client goes away."""

    def answer(handler: BaseHTTPRequestHandler) -> None:
        for byte in text:
            try:
                handler.wfile.write(bytes([byte]))
                handler.wfile.flush()
            except OSError:
                return
            time.sleep(every)

    return answer


def endless_body(receiver: Receiver, declared: int) -> Callable[[Any], None]:
    """Answer 200 declaring `declared` bytes and send them as fast as the client takes them,
    counting what was sent in `receiver.bytes_sent`."""

    def answer(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(declared))
        handler.end_headers()
        chunk = b"x" * 65536
        while receiver.bytes_sent < declared:
            try:
                handler.wfile.write(chunk)
            except OSError:
                return
            receiver.bytes_sent += len(chunk)

    return answer


@contextmanager
def https_receiver(workdir: Path, names: tuple[str, ...] = ("localhost",)) -> Iterator[Receiver]:
    """A receiver at https://localhost:<port>/hook whose certificate is for `names`."""
    cert, key = self_signed_cert(workdir, names)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    box: list[Receiver] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            box[0].requests.append({"headers": dict(self.headers), "body": body})
            box[0].answer(self)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.socket = context.wrap_socket(server.socket, server_side=True)
    box.append(Receiver(server.server_port, cert))
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield box[0]
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class FakeDns:
    """Answers chosen names with chosen addresses (in turn, when a list of lists is given) and
    counts the questions; other names resolve as usual."""

    answers: dict[str, list[list[str]]]
    asked: list[str] = field(default_factory=list)

    def getaddrinfo(self, host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        if host not in self.answers:
            return _real_getaddrinfo(host, port, *args, **kwargs)
        self.asked.append(host)
        turns = self.answers[host]
        addresses = turns[min(len(self.asked) - 1, len(turns) - 1)]
        return [
            (
                socket.AF_INET6 if ":" in a else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (a, int(port), 0, 0) if ":" in a else (a, int(port)),
            )
            for a in addresses
        ]


_real_getaddrinfo = socket.getaddrinfo
