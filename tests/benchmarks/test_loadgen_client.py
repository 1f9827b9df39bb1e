"""The load generator's own HTTP client reads responses right, on a real loopback server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from benchmarks.loadgen import Client


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive unless told otherwise
    connections: set[int] = set()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Handler.connections.add(self.client_address[1])
        if self.path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"2\r\nok\r\n0\r\n\r\n")
            return
        answer = json.dumps(
            {"path": self.path, "type": self.headers["Content-Type"], "echo": json.loads(body)}
        ).encode()
        self.send_response(201 if self.path == "/created" else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        if self.path == "/close":
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(answer)
        if self.path == "/close":
            self.close_connection = True

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    Handler.connections = set()
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_requests_share_one_connection_and_bodies_arrive_whole(server: str) -> None:
    client = Client(server)
    body = {"query": "x" * 5000, "unicode": "\u00e9\U0001f600"}
    for _ in range(3):
        status, raw = client.call("POST", "/echo", body)
        assert status == 200
        assert json.loads(raw) == {"path": "/echo", "type": "application/json", "echo": body}
    assert client.json("POST", "/created", {"a": 1}, expect=201)["echo"] == {"a": 1}
    assert len(Handler.connections) == 1


def test_a_connection_the_server_closes_is_opened_again(server: str) -> None:
    client = Client(server)
    for _ in range(3):
        assert client.call("POST", "/close", {})[0] == 200
    assert client.call("POST", "/echo", {})[0] == 200
    assert len(Handler.connections) == 4


def test_an_unexpected_status_or_a_chunked_body_stops_the_run(server: str) -> None:
    client = Client(server)
    with pytest.raises(SystemExit, match="expected 200, got 201"):
        client.json("POST", "/created", {})
    with pytest.raises(SystemExit, match="unsupported Transfer-Encoding: chunked"):
        client.call("POST", "/chunked", {})


def test_only_loopback_servers_are_loaded() -> None:
    with pytest.raises(SystemExit, match="loopback only"):
        Client("http://example.com:80")
