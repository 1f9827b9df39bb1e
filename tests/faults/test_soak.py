"""Long fault runs for `make soak` (marker `soak`, left out of `make test`).

Production timings on real gunicorn processes: the worker's 60-second leases (a killed
delivery waits them out), SQLite's 10-second busy timeout, a Firestore emulator frozen for a
while. Each test keeps a client sending work through the fault and then checks that every
accepted inquiry ended succeeded with its result posted once, and that every refusal was a
503 with Retry-After.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.faults.processes import Gunicorn, app_env, call, running, wait_until
from tests.faults.receiver import CallbackReceiver, HttpsReceiverServer
from tests.support import servers
from tests.support.tokens import bearer_header

pytestmark = pytest.mark.soak

CUSTOMER = "C004"  # the owner of A1007
REFUND = {"kind": "refund_review", "details": {"order_id": "A1007", "reason": "damaged"}}
PRODUCTION_LEASE_SECONDS = 60
SETTLE_LIMIT_SECONDS = 240
SIGNING_KEY = "soak-signing-key"
HOLD_AT = 10  # the 10th callback is held open, and the worker killed while it is
# Every result of a soak goes into one session, past the default cap of 1000 messages.
ONE_LONG_SESSION = {"SESSION_MAX_MESSAGES": "100000"}
DISPATCHER_THREADS = 2  # the local queue's dispatcher threads: at most this many in flight


class SteadyClient:
    """Sends one inquiry after another into `session_id` until stopped; records the answers."""

    def __init__(
        self,
        api_url: str,
        session_id: str,
        auth: dict[str, str],
        pause: float = 0.05,
        callback_url: str | None = None,
    ) -> None:
        self.api_url, self.session_id, self.pause = api_url, session_id, pause
        self.auth = auth
        self.callback_url = callback_url
        self.accepted: list[str] = []
        self.refused: list[tuple[int, dict[str, str], dict]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            body = {**REFUND, "session_id": self.session_id, "callback_url": self.callback_url}
            try:
                status, headers, answer = call(
                    "POST", self.api_url + "/v1/inquiries", body, self.auth
                )
            except OSError as exc:  # the api itself never goes away in these tests
                self.refused.append((0, {}, {"error": repr(exc)}))
                continue
            if status == 202:
                self.accepted.append(answer["id"])
            else:
                self.refused.append((status, headers, answer))
            self._stop.wait(self.pause)

    def __enter__(self) -> SteadyClient:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join(60)


def assert_refusals_are_503_with_retry_after(refused) -> None:
    for status, headers, body in refused:
        assert status == 503, (status, body)
        assert int(headers.get("Retry-After", "0")) >= 1, headers
        assert body.get("status") == 503


def assert_all_succeeded_once(
    api_url: str, session_id: str, accepted: list[str], auth: dict[str, str]
) -> None:
    def status(inquiry_id: str) -> str:
        return call("GET", f"{api_url}/v1/inquiries/{inquiry_id}", headers=auth)[2]["status"]

    def final() -> bool:
        return all(status(i) in {"succeeded", "failed"} for i in accepted)

    wait_until(final, SETTLE_LIMIT_SECONDS, "every accepted inquiry final", every=1)
    statuses = Counter(status(i) for i in accepted)
    assert statuses == Counter({"succeeded": len(accepted)})

    def posted() -> Counter:
        messages = session_messages(api_url, session_id, auth)
        return Counter(
            m["data"]["inquiry_id"]
            for m in messages
            if m["role"] == "system" and (m.get("data") or {}).get("inquiry_id")
        )

    # An inquiry can be final before its result is posted: a delivery that recorded the
    # result, then could not post it nor release its 60 s lease (the store stopped answering),
    # is retried only once that lease has run out and the retry's backoff (10 s, doubling)
    # has passed, as on Pub/Sub.
    wait_until(lambda: set(posted()) == set(accepted), SETTLE_LIMIT_SECONDS, "every result posted")
    assert posted() == Counter(dict.fromkeys(accepted, 1))


def session_messages(api_url: str, session_id: str, auth: dict[str, str]) -> list[dict]:
    """Every message of the session, oldest first: its latest page, then each `older` one."""
    status, _, body = call("GET", f"{api_url}/v1/sessions/{session_id}", headers=auth)
    assert status == 200, body
    messages, older = body["messages"], body["older"]
    while older:
        status, _, page = call("GET", api_url + older, headers=auth)
        assert status == 200, page
        messages, older = page["messages"] + messages, page["older"]
    return messages


def unsettled_messages(database: Path) -> int:
    """Queued deliveries not answered yet: pending, or leased (maybe by a killed worker)."""
    with sqlite3.connect(database) as db:
        return db.execute(
            "SELECT COUNT(*) FROM queue_messages WHERE state IN ('pending', 'leased')"
        ).fetchone()[0]


def new_session(api_url: str, auth: dict[str, str]) -> str:
    status, _, body = call("POST", api_url + "/v1/sessions", {}, auth)
    assert status == 201, body
    return body["id"]


def test_worker_killed_twice_with_production_leases(tmp_path):
    """Two SIGKILLs under steady load, on the real worker entry point: the first while a
    callback is held open (so a delivery is surely cut off and waits out its 60 s lease), the
    second a few seconds later, wherever the worker is."""
    receiver = CallbackReceiver(SIGNING_KEY, hold_at=HOLD_AT)
    database = tmp_path / "data" / "app.db"
    with HttpsReceiverServer(receiver, tmp_path) as https:
        env = app_env(
            tmp_path / "data",
            MAX_DELIVERY_ATTEMPTS="10",
            **ONE_LONG_SESSION,
            CALLBACK_SIGNING_KEY=SIGNING_KEY,
            **https.app_env(),
        )
        api = Gunicorn("app.api:app", {**env, "AGENT_ROLE": "api"}, tmp_path / "api.log")
        worker = Gunicorn(
            "app.worker:app", {**env, "AGENT_ROLE": "worker"}, tmp_path / "worker.log"
        )
        with running(api, worker):
            api.start()
            worker.start()
            auth = bearer_header(env["DATA_DIR"], CUSTOMER)
            session_id = new_session(api.url, auth)
            with SteadyClient(api.url, session_id, auth, callback_url=https.url("/cb")) as client:
                assert receiver.held.wait(60), "no callback reached the receiver"
                worker.kill()
                receiver.release()
                worker.start()
                before = len(client.accepted)
                wait_until(lambda: len(client.accepted) >= before + 20, 60, "more work")
                worker.kill()
                time.sleep(1)
                worker.start()
                time.sleep(3)
            assert not client.refused
            assert_all_succeeded_once(api.url, session_id, client.accepted, auth)
            # The held delivery reached the receiver (so its key is in `receiver.accepted`)
            # but its answer went to a dead socket: the worker resends it only when the
            # message's 60 s lease runs out. Wait for the queue, not for the receiver.
            wait_until(
                lambda: unsettled_messages(database) == 0,
                SETTLE_LIMIT_SECONDS,
                "every queued delivery answered",
                every=1,
            )
        with sqlite3.connect(database) as db:
            events = Counter(
                row[0]
                for row in db.execute("SELECT json_extract(payload, '$.inquiry_id') FROM events")
            )
            callbacks = dict(
                db.execute("SELECT inquiry_id, outcome FROM side_effects WHERE effect = 'callback'")
            )
            dead = db.execute("SELECT COUNT(*) FROM queue_messages WHERE state = 'dead'").fetchone()
        assert events == Counter(dict.fromkeys(client.accepted, 1))
        assert dead == (0,)
        assert callbacks == dict.fromkeys(client.accepted, "delivered")
        assert all(d.signature_ok for d in receiver.deliveries)
        # one callback per inquiry for a receiver honouring Idempotency-Key
        assert set(receiver.accepted) == set(client.accepted)
        for delivery in receiver.deliveries:
            assert delivery.body["id"] == delivery.key and delivery.body["status"] == "succeeded"
        resent = Counter(d.key for d in receiver.deliveries) - Counter(receiver.accepted.keys())
        held_key = receiver.deliveries[HOLD_AT - 1].key
        assert resent[held_key] == 1, "the cut-off callback was not resent"
        # each kill cuts off at most one callback per dispatcher thread
        assert sum(resent.values()) <= 2 * DISPATCHER_THREADS, resent


@contextmanager
def sqlite_write_lock(path: Path, seconds: float):
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")
    try:
        time.sleep(seconds)
        yield
    finally:
        conn.execute("ROLLBACK")
        conn.close()


def test_sqlite_locked_longer_than_the_busy_timeout(tmp_path):
    """15 s of a held write lock against the production 10 s busy timeout, under load."""
    env = app_env(tmp_path / "data", **ONE_LONG_SESSION)
    api = Gunicorn("app.api:app", {**env, "AGENT_ROLE": "api"}, tmp_path / "api.log")
    worker = Gunicorn("app.worker:app", {**env, "AGENT_ROLE": "worker"}, tmp_path / "worker.log")
    with running(api, worker):
        api.start()
        worker.start()
        auth = bearer_header(env["DATA_DIR"], CUSTOMER)
        session_id = new_session(api.url, auth)
        with SteadyClient(api.url, session_id, auth) as client:
            wait_until(lambda: len(client.accepted) >= 10, 60, "work accepted")
            with sqlite_write_lock(tmp_path / "data" / "app.db", 15):
                pass
            before = len(client.accepted)
            wait_until(lambda: len(client.accepted) >= before + 5, 60, "resumed")
        assert client.refused, "the outage refused nothing: it was not an outage"
        assert_refusals_are_503_with_retry_after(client.refused)
        assert_all_succeeded_once(api.url, session_id, client.accepted, auth)


def _process_group_of(port: int) -> int:
    """The emulator started by tests.support.servers for `port` (its own process group)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError):
            continue
        if parent == os.getpid() and str(port).encode() in argv:
            return os.getpgid(int(entry.name))
    raise AssertionError(f"no emulator process of this test listens on {port}")


@pytest.mark.integration
def test_firestore_emulator_frozen_then_back(tmp_path):
    """The Firestore emulator stopped (SIGSTOP) for 20 s: 503s, then everything catches up."""
    with servers.firestore_emulator(tmp_path) as host:
        env = app_env(
            tmp_path / "data",
            STATE_BACKEND="firestore",
            GOOGLE_CLOUD_PROJECT="demo-agents",
            FIRESTORE_EMULATOR_HOST=host,
            **ONE_LONG_SESSION,
        )
        api = Gunicorn("app.api:app", {**env, "AGENT_ROLE": "api"}, tmp_path / "api.log")
        worker = Gunicorn(
            "app.worker:app", {**env, "AGENT_ROLE": "worker"}, tmp_path / "worker.log"
        )
        group = _process_group_of(int(host.rsplit(":", 1)[1]))
        with running(api, worker):
            api.start()
            worker.start()
            auth = bearer_header(env["DATA_DIR"], CUSTOMER)
            session_id = new_session(api.url, auth)
            with SteadyClient(api.url, session_id, auth, pause=0.2) as client:
                wait_until(lambda: len(client.accepted) >= 5, 60, "work accepted")
                os.killpg(group, signal.SIGSTOP)
                try:
                    time.sleep(20)
                finally:
                    os.killpg(group, signal.SIGCONT)
                before = len(client.accepted)
                wait_until(lambda: len(client.accepted) >= before + 5, 60, "resumed")
            assert client.refused, "the outage refused nothing: it was not an outage"
            assert_refusals_are_503_with_retry_after(client.refused)
            assert_all_succeeded_once(api.url, session_id, client.accepted, auth)
