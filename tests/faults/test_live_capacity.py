"""200 open live streams on one api instance, and it still answers everything else at once.

A real gunicorn with the production config (app/gunicorn_conf.py): GUNICORN_THREADS (8) for
requests plus LIVE_MAX_STREAMS (200) for streams. With 200 streams open, /healthz, the FAQ
search and a customer turn answer, and the turn reaches every stream that watches its session;
the 201st stream gets 503 with Retry-After, and a place comes back once a page closes. With the
threads of GUNICORN_THREADS alone, 8 streams would hold every thread and /healthz would wait
for them. Last, SIGTERM ends every open stream cleanly and the api exits within Cloud Run's
10 s. The waits are limits for a slow machine, not timing assertions; the only clock asserted
is Cloud Run's 10 s.
"""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Iterator

import pytest

from tests.faults.processes import Gunicorn, app_env, call, running
from tests.support.sse import SseClient
from tests.support.tokens import bearer_header

STREAMS = 200  # LIVE_MAX_STREAMS, set explicitly here as in production
SESSIONS = 4  # the streams watch these, 50 each
LIMIT_SECONDS = 60
SEARCH = {"query": "How do I return an item?", "top_k": 3}


@pytest.fixture(scope="module")
def api(tmp_path_factory) -> Iterator[tuple[Gunicorn, dict[str, str]]]:
    tmp = tmp_path_factory.mktemp("live-capacity")
    # Heartbeats far apart: a stream whose client left must be noticed without writing one.
    env = app_env(
        tmp / "data", AGENT_ROLE="api", LIVE_MAX_STREAMS=str(STREAMS), LIVE_HEARTBEAT_SECONDS="120"
    )
    server = Gunicorn("app.api:app", env, tmp / "api.log")
    with running(server):
        server.start()
        yield server, bearer_header(tmp / "data", "C001")


def test_open_streams_leave_the_instance_answering_and_sigterm_ends_them(api):
    server, auth = api
    sessions = [call("POST", f"{server.url}/v1/sessions", {}, auth)[2]["id"] for _ in range(4)]
    streams: list[SseClient] = []
    with contextlib.ExitStack() as stack:
        for n in range(STREAMS):
            session_id = sessions[n % SESSIONS]
            client = SseClient(
                f"{server.url}/v1/sessions/{session_id}/events", auth, timeout=LIMIT_SECONDS
            )
            stack.enter_context(client)
            assert client.status == 200, client.body()
            assert client.next().retry == 1000
            streams.append(client)

        # Every stream holds a thread now; the instance still answers at once.
        assert call("GET", f"{server.url}/healthz")[0] == 200
        status, _, found = call("POST", f"{server.url}/v1/faq/search", SEARCH)
        assert status == 200 and found["results"]
        status, _, turn = call(
            "POST", f"{server.url}/v1/sessions/{sessions[0]}/messages", {"text": "Hello"}, auth
        )
        assert status == 200, turn

        one_more = SseClient(f"{server.url}/v1/sessions/{sessions[1]}/events", auth)
        stack.enter_context(one_more)
        assert one_more.status == 503
        assert int(one_more.headers["retry-after"]) >= 1
        assert one_more.headers["content-type"].startswith("application/problem+json")

        # A page that goes away gives its place back: the server sees the closed connection
        # at its next poll (within a second), long before a heartbeat write would fail.
        streams.pop().close()
        deadline = time.monotonic() + LIMIT_SECONDS
        while True:
            replacement = SseClient(f"{server.url}/v1/sessions/{sessions[1]}/events", auth)
            stack.enter_context(replacement)
            if replacement.status == 200:
                break
            replacement.close()
            assert time.monotonic() < deadline, "the closed stream's place never came back"
            time.sleep(0.2)

        # The turn reached every stream of its session, each message once and in order.
        for client in streams[0::SESSIONS]:
            got = client.messages(2)
            assert [(e.id, e.json["role"]) for e in got] == [
                (str(turn["message"]["seq"]), "customer"),
                (str(turn["reply"]["seq"]), "agent"),
            ]

        # SIGTERM: the streams end (no message lost: the client resumes elsewhere) and the
        # api exits well inside Cloud Run's 10 s, not after the graceful timeout.
        assert server.process is not None
        stopping = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        for client in streams:
            while (event := client.next()) is not None:
                assert event.event != "message"
        assert server.process.wait(timeout=LIMIT_SECONDS) == 0
        assert time.monotonic() - stopping < 10
