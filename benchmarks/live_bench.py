"""The `live` figures: FAQ search throughput with 200 live streams open against none, and what
a stream's poll reads from Firestore.

Throughput: one api gunicorn (production config, LIVE_MAX_STREAMS=200, SQLite) serves the FAQ
search under the same load twice per round, once with no stream open and once while
`benchmarks.sse_holder` (another process) holds 200 streams, one per session, as 200 open chat
pages would; each figure is the median over the rounds. The open streams cost the server one
thread each and a read of their session's message count every LIVE_POLL_SECONDS.

Poll cost: a stream on an idle session, on the Firestore emulator, its calls counted on the
channel (`benchmarks/firestore_rpcs.py`): the documents one poll reads, against the floor of
one (the session's document, which holds the message count).
"""

from __future__ import annotations

import contextlib
import json
import statistics
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

from benchmarks.firestore_rpcs import RpcCounter, counting_client
from benchmarks.http_bench import FAQ_BODY, api_server, app_env, token
from benchmarks.loadgen import Client
from benchmarks.processes import PYTHON, REPO, run_loadgen
from benchmarks.results import Figure

STREAMS = 200  # the figure: open chat pages on one api instance
CUSTOMER = "C001"
HOLD_LIMIT_SECONDS = 60


@contextlib.contextmanager
def holding(url: str, bearer: str, session_ids: list[str], env: dict[str, str]) -> Iterator[None]:
    """`benchmarks.sse_holder` holding one stream per session while the block runs; fails if
    a stream did not open or was closed before the end."""
    config = json.dumps({"url": url, "token": bearer, "session_ids": session_ids})
    process = subprocess.Popen(
        [PYTHON, "-m", "benchmarks.sse_holder", config],
        cwd=REPO,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdin is not None and process.stdout is not None
    try:
        line = process.stdout.readline().strip()
        if line != f"ready {len(session_ids)}":
            raise RuntimeError(f"the stream holder did not get its streams: {line!r}")
        yield
        process.stdin.close()
        summary = json.loads(process.stdout.readline())
        if summary["open_at_end"] != len(session_ids):
            raise RuntimeError(f"streams closed under load: {summary}")
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=HOLD_LIMIT_SECONDS)


def live_figures(workdir: Path, requests: int, threads: int, rounds: int) -> list[Figure]:
    """FAQ search with STREAMS streams open against none, the same server, `rounds` times."""
    env = app_env(workdir / "live-data", {"LIVE_MAX_STREAMS": str(STREAMS)})
    load = {"scenario": "post", "threads": threads, "requests": requests, "warmup": 50}
    load |= {"path": "/v1/faq/search", "body": FAQ_BODY}
    idle: list[dict[str, Any]] = []
    held: list[dict[str, Any]] = []
    with api_server(workdir, env, "live-api") as api:
        bearer = token(env, CUSTOMER)
        client = Client(api.url, bearer)
        sessions = [
            client.json("POST", "/v1/sessions", {}, expect=201)["id"] for _ in range(STREAMS)
        ]
        client.close()
        before_streams = 0.0
        for _ in range(rounds):
            idle.append(run_loadgen({**load, "url": api.url}, env))
            before_streams = before_streams or api.sample_peaks()["worker"]
            with holding(api.url, bearer, sessions, env):
                held.append(run_loadgen({**load, "url": api.url}, env))
    for result in idle + held:
        if set(result["statuses"]) != {"200"}:
            raise RuntimeError(f"the FAQ search answered {result['statuses']}, expected only 200")
    median = {
        key: (statistics.median(r[key] for r in held), statistics.median(r[key] for r in idle))
        for key in ("throughput_rps", "p50_ms", "p99_ms")
    }
    per_round = ", ".join(
        f"{h['throughput_rps'] / i['throughput_rps']:.2f}" for h, i in zip(held, idle, strict=True)
    )
    of = "the same api with no stream open, same run"
    detail = (
        f"{STREAMS} live streams (one per session, held by another process) open during the"
        f" measured runs; median of {rounds} alternating rounds of {threads} keep-alive"
        f" connections x {requests} requests; ratio per round {per_round}"
    )
    figures = []
    for key, unit, better, name in (
        ("throughput_rps", "req/s", "higher", "faq_throughput"),
        ("p50_ms", "ms", "lower", "faq_p50"),
        ("p99_ms", "ms", "lower", "faq_p99"),
    ):
        value, baseline = median[key]
        figures.append(
            Figure(
                f"live.{name}_{STREAMS}_streams",
                value,
                unit,
                baseline,
                of,
                better=better,
                detail=detail,
            )
        )
    figures.append(
        Figure(
            f"rss.live.api_worker_process_{STREAMS}_streams",
            api.peaks_mib["worker"],
            "MiB",
            before_streams,
            "the same process's peak after a FAQ round, before any stream opened",
            detail=f"{STREAMS} streams (threads) held in each of {rounds} rounds",
        )
    )
    return figures


def firestore_poll_figures(host: str, workdir: Path, polls: int = 20) -> list[Figure]:
    """Documents read per poll of a stream on an idle session, on the Firestore emulator."""
    from app.adapters.firestore_store import FirestoreStore
    from app.config.settings import Settings
    from app.live.feed import LiveFeed, Timings
    from app.live.hub import Hub
    from app.ports.clock import SystemClock
    from app.wiring import build_services
    from benchmarks.store_costs import _emulator

    with _emulator(host):
        counter = RpcCounter()
        project = f"demo-poll-{uuid4().hex[:8]}"
        settings = Settings.from_env(
            {},
            data_dir=str(workdir / "poll-data"),
            state_backend="firestore",
            google_cloud_project=project,
        )
        services = build_services(settings, store=FirestoreStore(counting_client(project, counter)))
        try:
            session = services.sessions.create(CUSTOMER, {})
            interval = 0.05
            timings = Timings(
                heartbeat_seconds=3600, max_seconds=polls * interval, poll_seconds=interval
            )
            reads = _CountingReads(services.store)
            feed = LiveFeed(reads, SystemClock(), Hub(), timings, 1, timedelta(days=30))
            before = counter.tally()
            slot = feed.take_slot()
            assert slot is not None
            for _ in feed.stream(session.id, session.message_count, slot):
                pass
            spent = counter.tally() - before
        finally:
            services.close()
    per_poll = spent.reads / reads.polls
    detail = (
        f"{reads.polls} polls of a stream on an idle session: {spent.describe()}; at the default"
        " LIVE_POLL_SECONDS=1, an open stream reads 3,600 documents an hour"
    )
    return [
        Figure(
            "live.poll.firestore_reads",
            per_poll,
            "documents/poll",
            1,
            "the session's document, which holds the message count",
            detail=detail,
        )
    ]


class _CountingReads:
    """The store, counting the polls (session reads) a stream makes."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.polls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def get_session(self, session_id: str, now: Any) -> Any:
        self.polls += 1
        return self.store.get_session(session_id, now)
