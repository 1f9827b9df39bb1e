"""Slow clients cannot take the api down: 40 stalled uploads, and the instance still answers.

A real gunicorn with the production config (app/gunicorn_conf.py) and real sockets. Forty
connections send the headers of a POST /v1/faq/search and half its body, then nothing. While
they are open, /healthz and a whole FAQ search are answered; each stalled upload then gets 408
and is closed at its read deadline. With stock gthread and 8 threads, 8 such connections took
every thread and /healthz waited for as long as the clients did.

The same server shows the requests the buffering must not break: a body that arrives slowly
but keeps coming, two requests in one write, a chunked body, `Expect: 100-continue`, and a body
declared over the limit (413 before it is sent). Last, SIGTERM with stalled uploads open: they
get 503 and the server exits cleanly inside Cloud Run's 10 s. The waits are limits for a slow
machine; the only clocks the assertions use are the read deadline and Cloud Run's 10 s.
"""

from __future__ import annotations

import contextlib
import json
import select
import signal
import socket
import time
from collections.abc import Iterator
from typing import BinaryIO

import pytest

from tests.faults.processes import Gunicorn, app_env, running

STALLED = 40
READ_DEADLINE_SECONDS = 10  # GUNICORN_READ_TIMEOUT's production default, set explicitly here
LIMIT_SECONDS = 60
SEARCH = json.dumps({"query": "How do I return an item?", "top_k": 3}).encode()


@pytest.fixture(scope="module")
def api(tmp_path_factory) -> Iterator[Gunicorn]:
    tmp = tmp_path_factory.mktemp("slow-clients")
    env = app_env(tmp / "data", AGENT_ROLE="api", GUNICORN_READ_TIMEOUT=str(READ_DEADLINE_SECONDS))
    server = Gunicorn("app.api:app", env, tmp / "api.log")
    with running(server):
        server.start()
        yield server


def connect(server: Gunicorn, timeout: float = LIMIT_SECONDS) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def search_head(length: int = len(SEARCH), *extra: str) -> bytes:
    lines = ["POST /v1/faq/search HTTP/1.1", "Host: api", "Content-Type: application/json"]
    lines += [f"Content-Length: {length}", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_response(reader: BinaryIO) -> tuple[int, dict[str, str], bytes]:
    """One response (skipping 1xx) read off a connection's one reader: status, headers, body."""
    while True:
        status = int(reader.readline().split()[1])
        headers = {}
        while (line := reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if status >= 200:
            return status, headers, reader.read(int(headers.get("content-length", 0)))


def exchange(server: Gunicorn, request: bytes, timeout: float) -> tuple[int, dict, bytes]:
    with contextlib.closing(connect(server, timeout)) as sock:
        sock.sendall(request)
        return read_response(sock.makefile("rb"))


def still_open(sock: socket.socket) -> bool:
    """Nothing received and no end of stream: the server is still waiting on this client."""
    readable, _, _ = select.select([sock], [], [], 0)
    return not readable  # readable: an answer came, or the end of the stream


def open_stalled_uploads(server: Gunicorn, count: int) -> list[socket.socket]:
    stalled = []
    for _ in range(count):
        sock = connect(server)
        sock.sendall(search_head() + SEARCH[: len(SEARCH) // 2])
        stalled.append(sock)
    return stalled


def test_forty_stalled_uploads_leave_health_and_search_answering_then_get_408(api):
    stalled = open_stalled_uploads(api, STALLED)
    try:
        # The answers must come while every stalled upload is still open, before its deadline.
        health = exchange(api, b"GET /healthz HTTP/1.1\r\nHost: api\r\n\r\n", READ_DEADLINE_SECONDS)
        search = exchange(api, search_head() + SEARCH, READ_DEADLINE_SECONDS)
        assert health[0] == 200, health
        assert search[0] == 200, search
        assert json.loads(search[2])["results"], search
        assert all(still_open(sock) for sock in stalled), "a stalled upload was closed early"

        for sock in stalled:
            sock.settimeout(READ_DEADLINE_SECONDS + LIMIT_SECONDS)
            status, headers, body = read_response(sock.makefile("rb"))
            assert status == 408
            assert headers["content-type"] == "application/problem+json"
            assert headers["connection"] == "close"
            assert json.loads(body)["status"] == 408
            assert sock.recv(1) == b""  # and closed
    finally:
        for sock in stalled:
            sock.close()
    assert exchange(api, search_head() + SEARCH, LIMIT_SECONDS)[0] == 200


def test_a_body_that_arrives_slowly_but_keeps_coming_is_served(api):
    with contextlib.closing(connect(api)) as sock:
        sock.sendall(search_head())
        for start in range(0, len(SEARCH), 10):
            time.sleep(0.05)
            sock.sendall(SEARCH[start : start + 10])
        status, _, body = read_response(sock.makefile("rb"))
    assert status == 200, body


def test_two_requests_in_one_write_are_both_answered_on_the_kept_alive_connection(api):
    health = b"GET /healthz HTTP/1.1\r\nHost: api\r\n\r\n"
    with contextlib.closing(connect(api)) as sock:
        reader = sock.makefile("rb")
        sock.sendall(search_head() + SEARCH + health)
        assert read_response(reader)[0] == 200
        assert read_response(reader)[0] == 200
        sock.sendall(search_head() + SEARCH[:5])  # and the connection carries on
        sock.sendall(SEARCH[5:])
        assert read_response(reader)[0] == 200


def test_a_chunked_body_is_read_whole(api):
    chunks = [SEARCH[:7], SEARCH[7:]]
    body = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"
    head = search_head().replace(b"Content-Length: %d" % len(SEARCH), b"Transfer-Encoding: chunked")
    status, _, answer = exchange(api, head + body, LIMIT_SECONDS)
    assert status == 200, answer
    assert json.loads(answer)["results"]


def test_expect_continue_gets_100_before_the_body_is_sent(api):
    with contextlib.closing(connect(api)) as sock:
        reader = sock.makefile("rb")
        sock.sendall(search_head(len(SEARCH), "Expect: 100-continue"))
        assert reader.readline().split()[1] == b"100"
        assert reader.readline() == b"\r\n"
        sock.sendall(SEARCH)
        assert read_response(reader)[0] == 200


def test_a_body_declared_over_the_limit_gets_413_without_being_sent(api):
    with contextlib.closing(connect(api)) as sock:
        sock.sendall(search_head(50 * 1024 * 1024, "Expect: 100-continue"))
        status, headers, body = read_response(sock.makefile("rb"))
    assert status == 413
    assert headers["content-type"] == "application/problem+json"
    assert json.loads(body)["type"].endswith(":body-too-large")


def test_headers_that_never_end_get_431_once_past_the_buffer(api):
    with contextlib.closing(connect(api)) as sock:
        with contextlib.suppress(ConnectionError):  # the server may close before all is sent
            sock.sendall(b"GET /healthz HTTP/1.1\r\nX-Pad: " + b"a" * 70_000)
        status, headers, _ = read_response(sock.makefile("rb"))
    assert status == 431
    assert headers["connection"] == "close"


def test_sigterm_with_stalled_uploads_open_stops_within_cloud_runs_ten_seconds(tmp_path):
    env = app_env(tmp_path / "data", AGENT_ROLE="api")
    server = Gunicorn("app.api:app", env, tmp_path / "api.log")
    with running(server):
        server.start()
        stalled = open_stalled_uploads(server, STALLED)
        try:
            assert exchange(server, search_head() + SEARCH, READ_DEADLINE_SECONDS)[0] == 200
            assert server.process is not None
            server.process.send_signal(signal.SIGTERM)
            # Cloud Run sends SIGKILL 10 s after SIGTERM: this is its contract, not a speed.
            assert server.process.wait(timeout=10) == 0
            for sock in stalled:  # each was told to send its request again elsewhere
                assert read_response(sock.makefile("rb"))[0] == 503
        finally:
            for sock in stalled:
                sock.close()
