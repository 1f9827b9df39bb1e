"""What a session costs the store: a turn's time against the session's length on SQLite, and
the Firestore RPCs and document reads of each operation against its floor.

Both run in process, through the HTTP API (Flask's test client, tokens of the local issuer,
verified as in production), so the counts and times are those of the whole request. The
Firestore figures are counted on the emulator's gRPC channel (`benchmarks/firestore_rpcs.py`):
exact counts, which no machine's speed changes. Each figure's baseline is the floor argued in
its detail: the fewest calls (or documents) the operation can be made with on this store.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

from app.config.settings import Settings
from app.domain.records import Delivery
from app.http import create_app
from app.identity.local_issuer import LocalIssuer
from app.ports.store import NewMessage, Store, Turn
from app.wiring import AppServices, build_services
from benchmarks.firestore_rpcs import RpcCounter, Tally, counting_client
from benchmarks.results import Figure

CUSTOMER = "C004"
FAQ_TEXT = {"text": "What payment methods do you accept?"}
SHORT, LONG = 10, 900  # messages in the sessions whose turns are compared
SEEDED = 200  # messages in the Firestore session whose turn is counted
TARGET = "at most 1.5x the floor"


def _settings(data_dir: Path, **values: Any) -> Settings:
    return Settings.from_env({}, data_dir=str(data_dir), auth_mode="local", model="rules", **values)


@dataclass
class Api:
    """The api in process, signed in as one customer."""

    services: AppServices
    client: Any
    headers: dict[str, str]

    def post(self, path: str, body: dict[str, Any], **headers: str) -> dict[str, Any]:
        response = self.client.post(path, json=body, headers={**self.headers, **headers})
        if response.status_code >= 300:
            raise RuntimeError(f"POST {path} answered {response.status_code}: {response.text}")
        return response.get_json()

    def turn(self, session_id: str) -> dict[str, Any]:
        return self.post(f"/v1/sessions/{session_id}/messages", FAQ_TEXT)

    def get(self, path: str) -> dict[str, Any]:
        response = self.client.get(path, headers=self.headers)
        if response.status_code != 200:
            raise RuntimeError(f"GET {path} answered {response.status_code}: {response.text}")
        return response.get_json()


@contextlib.contextmanager
def _api(settings: Settings, store: Store | None = None) -> Iterator[Api]:
    services = build_services(settings, store=store)
    app = create_app(replace(settings, agent_role="api"), services)
    token = LocalIssuer.load_or_create(settings.data_dir, "customer_id").mint(customer_id=CUSTOMER)
    try:
        yield Api(services, app.test_client(), {"Authorization": f"Bearer {token}"})
    finally:
        services.close()


def _seed(store: Store, session_id: str, messages: int) -> None:
    """`messages` earlier messages in the session (FAQ turns, straight into the store)."""
    version = store.get_session(session_id, _now()).flow_version
    for n in range(messages // 2):
        now = _now()
        store.append_turn(
            Turn(
                session_id=session_id,
                messages=(NewMessage("customer", f"question {n}"), NewMessage("agent", "answer")),
                expected_flow_version=version,
                new_flow=None,
                now=now,
                expires_at=now + timedelta(hours=1),
            )
        )


def _now() -> Any:
    from app.domain.records import utcnow

    return utcnow()


# --- SQLite: a turn's time against the session's length -----------------------------------


def sqlite_turn_figures(workdir: Path, turns: int, rounds: int) -> list[Figure]:
    """Turns on sessions of SHORT and LONG messages, taking turns, `rounds` times; each figure
    is the median over every turn of its kind."""
    short: list[float] = []
    long: list[float] = []
    with _api(_settings(workdir / "sqlite-turns")) as api:
        warm = api.post("/v1/sessions", {})["id"]
        for _ in range(5):  # imports, the FAQ index, first connections
            api.post(f"/v1/sessions/{warm}/messages", FAQ_TEXT)
        for _ in range(rounds):
            big = api.post("/v1/sessions", {})["id"]
            _seed(api.services.store, big, LONG)
            smalls = [api.post("/v1/sessions", {})["id"] for _ in range(turns)]
            for small in smalls:
                _seed(api.services.store, small, SHORT)
            for small in smalls:  # one turn on a session of SHORT, one on the long one
                short.append(_timed(api.turn, small))
                long.append(_timed(api.turn, big))
    of = f"the same turn on a session of {SHORT} messages, same run"
    detail = (
        f"FAQ turns through the HTTP API in process, {rounds} rounds of {turns} turns on each"
        f" kind, taking turns; the long session grows from {LONG} to {LONG + 2 * turns}"
        f" messages in a round, each short one is turned once. p50 {_ms(long)} vs"
        f" {_ms(short)} ms, p90 {_ms(long, 0.9)} vs {_ms(short, 0.9)} ms"
    )
    return [
        Figure(
            "session.sqlite.turn_at_900_messages",
            statistics.median(long) * 1000,
            "ms",
            statistics.median(short) * 1000,
            of,
            target="at most 1.2x the turn at 10 messages",
            detail=detail,
        )
    ]


def _timed(call: Callable[[str], Any], session_id: str) -> float:
    started = time.perf_counter()
    call(session_id)
    return time.perf_counter() - started


def _ms(samples: list[float], q: float = 0.5) -> str:
    ordered = sorted(samples)
    return f"{ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000:.2f}"


# --- Firestore: RPCs and documents per operation, counted on the emulator -------------------


@dataclass(frozen=True)
class Floor:
    """The fewest RPCs and document reads an operation can do with, and why."""

    rpcs: int
    reads: int
    why: str


FLOORS = {
    "create_session": Floor(1, 0, "one Commit creating the session's document"),
    "turn": Floor(
        3,
        2,
        "the session read the turn is computed from (the model and the agents run outside any"
        " write), the read the write checks (flow version, next seq, expiry), one Commit;"
        " the session's document in each read",
    ),
    "turn_with_key": Floor(
        3,
        2,
        "as a turn: the key's record is looked up in the same two batched reads (a retry is"
        " answered before the turn is computed, and the write checks the key again)",
    ),
    "get_session": Floor(
        2, 1 + 50, "the session's document, then one query for its latest 50 messages"
    ),
    "post_inquiry": Floor(
        3,
        1,
        "the session's document (it must be the caller's), one Commit creating the inquiry,"
        " one Commit marking it published once the queue took it",
    ),
    "worker_with_session": Floor(
        12,
        5,
        "four transactions of begin, read, commit: taking the lease, storing the result, the"
        " session message with its marker (the session and the inquiry read), giving the"
        " lease back with the event's marker (the floor the issue states: about 12)",
    ),
}


@contextlib.contextmanager
def _emulator(host: str) -> Iterator[None]:
    previous = os.environ.get("FIRESTORE_EMULATOR_HOST")
    os.environ["FIRESTORE_EMULATOR_HOST"] = host
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("FIRESTORE_EMULATOR_HOST", None)
        else:
            os.environ["FIRESTORE_EMULATOR_HOST"] = previous


def firestore_costs(host: str, workdir: Path) -> dict[str, Tally]:
    """Each operation's count on the emulator, through the HTTP API (and the worker's handler
    for the worker), on a customer's session holding SEEDED recent messages."""
    from app.adapters.firestore_store import FirestoreStore

    with _emulator(host):
        counter = RpcCounter()
        project = f"demo-costs-{uuid4().hex[:8]}"
        settings = _settings(
            workdir / "firestore-costs", state_backend="firestore", google_cloud_project=project
        )
        store = FirestoreStore(counting_client(project, counter))
        with _api(settings, store) as api:
            counts: dict[str, Tally] = {}

            def counted(name: str, call: Callable[[], Any]) -> Any:
                before = counter.tally()
                result = call()
                counts[name] = counter.tally() - before
                return result

            session = counted("create_session", lambda: api.post("/v1/sessions", {}))["id"]
            _seed(store, session, SEEDED)
            path = f"/v1/sessions/{session}/messages"
            counted("turn", lambda: api.post(path, FAQ_TEXT))
            key = {"Idempotency-Key": f"bench-{uuid4().hex}"}
            counted("turn_with_key", lambda: api.post(path, FAQ_TEXT, **key))
            counted("get_session", lambda: api.get(f"/v1/sessions/{session}"))
            body = {"kind": "account_export", "details": {}, "session_id": session}
            inquiry = counted("post_inquiry", lambda: api.post("/v1/inquiries", body))["id"]
            delivery = Delivery(inquiry, f"bench-{inquiry}", 1)
            counted("worker_with_session", lambda: api.services.worker.handle(delivery))
    return counts


def firestore_cost_figures(host: str, workdir: Path) -> list[Figure]:
    figures = []
    counts = firestore_costs(host, workdir)
    for name, floor in FLOORS.items():
        spent = counts[name]
        detail = f"{spent.describe()}; floor: {floor.why}"
        if name in ("turn", "turn_with_key"):
            detail += f"; the session holds {SEEDED}+ messages written in the last minutes"
        of = "the floor argued in the detail"
        figures.append(
            Figure(
                f"firestore.{name}.rpcs",
                spent.rpcs,
                "RPCs",
                floor.rpcs,
                of,
                target=TARGET,
                detail=detail,
            )
        )
        figures.append(
            Figure(
                f"firestore.{name}.reads",
                spent.reads,
                "documents",
                floor.reads,
                of,
                target=TARGET,
                detail=detail,
            )
        )
    return figures
