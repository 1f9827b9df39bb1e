"""The store unavailable for a while: 503 with Retry-After, nothing accepted lost, work resumes.

The api and the worker run in this process on one SQLite file, each with its own services
(separate connections, as two processes would have), the worker's real dispatcher threads
delivering from the local queue. The outage is another connection holding the database's
write lock: every write then waits out the busy timeout and fails. It is shortened here from
10 s to 0.3 s so the test stays quick; the soak test runs the same outage on real gunicorn
processes with the production timeout.
"""

from __future__ import annotations

import sqlite3
import time
from contextlib import contextmanager

import pytest

from app.adapters import sqlite_db
from app.adapters.local_queue import RetryPolicy
from app.config.settings import Settings
from app.http import create_app
from app.wiring import build_services
from tests.support.tokens import bearer_header

PROBLEM = "application/problem+json"
LIMIT_SECONDS = 30
OUTAGE_SECONDS = 1.5


@contextmanager
def write_lock(path):
    """Hold the SQLite write lock (what a stuck writer or a locked file does to the app)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        conn.execute("ROLLBACK")
        conn.close()


def assert_unavailable(response) -> None:
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    assert int(response.headers["Retry-After"]) >= 1
    assert response.get_json()["status"] == 503


def refund(session_id: str) -> dict:
    return {
        "kind": "refund_review",
        "details": {"order_id": "A1007", "reason": "damaged"},
        "session_id": session_id,
    }


@pytest.fixture
def system(tmp_path, monkeypatch):
    monkeypatch.setattr(sqlite_db, "BUSY_TIMEOUT_MS", 300)
    data_dir = str(tmp_path / "data")
    api_settings = Settings(agent_role="api", data_dir=data_dir, auth_mode="local")
    api_services = build_services(api_settings)
    worker_services = build_services(
        Settings(agent_role="worker", data_dir=data_dir),
        retry_policy=RetryPolicy(
            max_attempts=20, min_backoff_seconds=0.05, max_backoff_seconds=0.5
        ),
    )

    def start_worker() -> None:
        worker_services.queue.start(worker_services.worker.handle, poll_seconds=0.05)

    try:
        client = create_app(api_settings, api_services).test_client()
        client.environ_base["HTTP_AUTHORIZATION"] = bearer_header(data_dir, "C004")["Authorization"]
        yield client, tmp_path / "data" / "app.db", start_worker
    finally:
        worker_services.close()
        api_services.close()


def test_writes_get_503_nothing_accepted_is_lost_and_work_resumes(system):
    client, db_path, start_worker = system
    session_id = client.post("/v1/sessions", json={}).get_json()["id"]
    accepted = []
    for _ in range(5):
        response = client.post("/v1/inquiries", json=refund(session_id))
        assert response.status_code == 202
        accepted.append(response.get_json()["id"])

    turn = {"text": "Where is my order A1020?"}
    key = {"Idempotency-Key": "turn-during-outage-1"}
    with write_lock(db_path):
        start_worker()  # its dispatcher meets the outage first
        assert_unavailable(client.post("/v1/inquiries", json=refund(session_id)))
        assert_unavailable(client.post("/v1/sessions", json={}))
        assert_unavailable(
            client.post(f"/v1/sessions/{session_id}/messages", json=turn, headers=key)
        )
        time.sleep(OUTAGE_SECONDS)  # the worker's dispatcher keeps failing meanwhile
        # reads are still served beside the stuck writer (WAL), and nothing has moved
        for inquiry_id in accepted:
            response = client.get(f"/v1/inquiries/{inquiry_id}")
            assert response.status_code == 200
            assert response.get_json()["status"] == "queued"

    # the client retries what got 503, with the same Idempotency-Key: done once
    first = client.post(f"/v1/sessions/{session_id}/messages", json=turn, headers=key)
    again = client.post(f"/v1/sessions/{session_id}/messages", json=turn, headers=key)
    assert first.status_code == again.status_code == 200
    assert first.get_json() == again.get_json()
    for _ in range(3):
        response = client.post("/v1/inquiries", json=refund(session_id))
        assert response.status_code == 202
        accepted.append(response.get_json()["id"])

    deadline = time.monotonic() + LIMIT_SECONDS
    while True:
        statuses = {i: client.get(f"/v1/inquiries/{i}").get_json()["status"] for i in accepted}
        if set(statuses.values()) <= {"succeeded", "failed"} or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert statuses == dict.fromkeys(accepted, "succeeded")

    with sqlite3.connect(db_path) as db:
        stored = {row[0] for row in db.execute("SELECT id FROM inquiries")}
    assert stored == set(accepted), "a request answered 503 left an inquiry behind"

    messages = client.get(f"/v1/sessions/{session_id}").get_json()["messages"]
    customer_turns = [m for m in messages if m["role"] == "customer" and m["text"] == turn["text"]]
    assert len(customer_turns) == 1
    results = [
        m["data"]["inquiry_id"]
        for m in messages
        if (m.get("data") or {}).get("inquiry_id") and m["role"] == "system"
    ]
    assert sorted(results) == sorted(accepted)
