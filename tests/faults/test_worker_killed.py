"""The worker SIGKILLed in the middle of a burst of inquiries, then restarted.

Real processes: the api and the worker under gunicorn on one SQLite data dir with the local
queue, an HTTPS callback receiver on localhost. The receiver holds one callback open and the
worker (master and worker process) is killed right then, while other deliveries are in flight:
the callback was sent but its sending not recorded, the worst moment for exactly-once.
After the restart every inquiry ends succeeded, and each side effect happened exactly once:
one result message in its session, one event, one callback per Idempotency-Key (a receiver
that honours the key sees each callback once; the raw resend is bounded by what was in flight).
"""

from __future__ import annotations

import sqlite3
from collections import Counter

from tests.faults.processes import Gunicorn, app_env, call, running, wait_until
from tests.faults.receiver import CallbackReceiver, HttpsReceiverServer
from tests.support.tokens import bearer_header

SIGNING_KEY = "fault-test-signing-key"
INQUIRIES_BEFORE_KILL = 24
INQUIRIES_WHILE_DOWN = 6
HOLD_AT = 5  # the 5th callback is held open, and the worker killed while it is
DISPATCHER_THREADS = 2  # the local queue's dispatcher threads: at most this many in flight
LIMIT_SECONDS = 60
# One session per customer; each refunds that customer's own orders.
ORDERS = {"C001": ("A1001", "A1002", "A1017"), "C002": ("A1003", "A1018"), "C003": ("A1005",)}
CUSTOMERS = tuple(ORDERS)


def refund(n: int, session_id: str, callback_url: str) -> dict:
    orders = ORDERS[CUSTOMERS[n % len(CUSTOMERS)]]
    return {
        "kind": "refund_review",
        "details": {"order_id": orders[n // len(CUSTOMERS) % len(orders)], "reason": "damaged"},
        "session_id": session_id,
        "callback_url": callback_url,
    }


def unsettled_messages(tmp_path) -> int:
    with sqlite3.connect(tmp_path / "data" / "app.db") as db:
        return db.execute(
            "SELECT COUNT(*) FROM queue_messages WHERE state IN ('pending', 'leased')"
        ).fetchone()[0]


def test_every_inquiry_succeeds_and_each_side_effect_happens_once(tmp_path):
    receiver = CallbackReceiver(SIGNING_KEY, hold_at=HOLD_AT)
    with HttpsReceiverServer(receiver, tmp_path) as https:
        env = app_env(
            tmp_path / "data",
            CALLBACK_SIGNING_KEY=SIGNING_KEY,
            **https.app_env(),
            MAX_DELIVERY_ATTEMPTS="10",
        )
        api = Gunicorn("app.api:app", {**env, "AGENT_ROLE": "api"}, tmp_path / "api.log")
        worker = Gunicorn(
            "tests.faults.short_lease_worker:app",
            {**env, "AGENT_ROLE": "worker"},
            tmp_path / "worker.log",
        )
        tokens = {c: bearer_header(tmp_path / "data", c) for c in CUSTOMERS}
        with running(api, worker):
            api.start()
            worker.start()
            sessions = []
            for customer in CUSTOMERS:
                status, _, body = call("POST", api.url + "/v1/sessions", {}, tokens[customer])
                assert status == 201, body
                sessions.append(body["id"])
            owner = dict(zip(sessions, CUSTOMERS, strict=True))

            accepted: dict[str, str] = {}  # inquiry id -> session id

            def submit(n: int) -> None:
                session_id = sessions[n % len(CUSTOMERS)]
                body = refund(n, session_id, https.url(f"/callbacks/{n}"))
                headers = tokens[owner[session_id]]
                status, _, created = call("POST", api.url + "/v1/inquiries", body, headers)
                assert status == 202, created
                accepted[created["id"]] = session_id

            for n in range(INQUIRIES_BEFORE_KILL):
                submit(n)
            assert receiver.held.wait(LIMIT_SECONDS), "no callback reached the receiver"
            worker.kill()
            receiver.release()  # its answer goes to a dead socket
            for n in range(INQUIRIES_BEFORE_KILL, INQUIRIES_BEFORE_KILL + INQUIRIES_WHILE_DOWN):
                submit(n)  # the api keeps accepting while the worker is down
            worker.start()

            def settled() -> bool:
                """Every inquiry final and every queued delivery answered (none pending)."""
                final = all(
                    call("GET", f"{api.url}/v1/inquiries/{i}", headers=tokens[owner[s]])[2][
                        "status"
                    ]
                    in {"succeeded", "failed"}
                    for i, s in accepted.items()
                )
                return final and unsettled_messages(tmp_path) == 0

            wait_until(settled, LIMIT_SECONDS, "every inquiry final and settled", every=0.25)
            inquiries = {
                i: call("GET", f"{api.url}/v1/inquiries/{i}", headers=tokens[owner[s]])[2]
                for i, s in accepted.items()
            }
            messages = {
                s: call("GET", f"{api.url}/v1/sessions/{s}", headers=tokens[owner[s]])[2]
                for s in sessions
            }

    assert len(accepted) == INQUIRIES_BEFORE_KILL + INQUIRIES_WHILE_DOWN
    assert {i: body["status"] for i, body in inquiries.items()} == dict.fromkeys(
        accepted, "succeeded"
    )

    # one result message per inquiry, in the inquiry's own session
    posted = Counter()
    for session_id, session in messages.items():
        for message in session["messages"]:
            inquiry_id = (message.get("data") or {}).get("inquiry_id")
            if message["role"] == "system" and inquiry_id:
                assert accepted[inquiry_id] == session_id
                posted[inquiry_id] += 1
    assert posted == Counter(dict.fromkeys(accepted, 1))

    # one event per inquiry
    with sqlite3.connect(tmp_path / "data" / "app.db") as db:
        events = Counter(
            row[0] for row in db.execute("SELECT json_extract(payload, '$.inquiry_id') FROM events")
        )
        dead = db.execute("SELECT COUNT(*) FROM queue_messages WHERE state = 'dead'").fetchone()
    assert events == Counter(dict.fromkeys(accepted, 1))
    assert dead == (0,)

    # one callback per inquiry for a receiver honouring Idempotency-Key, every one signed
    assert all(d.signature_ok for d in receiver.deliveries)
    assert set(receiver.accepted) == set(accepted)
    for key, first in receiver.accepted.items():
        assert first.body["id"] == key and first.body["status"] == "succeeded"
    resent = Counter(d.key for d in receiver.deliveries) - Counter(receiver.accepted.keys())
    held_key = receiver.deliveries[HOLD_AT - 1].key
    assert resent[held_key] == 1, "the callback cut off by the kill was not sent again"
    assert sum(resent.values()) <= DISPATCHER_THREADS, resent
