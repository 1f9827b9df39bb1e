"""What each operation asks of Firestore, counted on the emulator's gRPC channel: within half
again its floor (the floors and their reasons are `benchmarks.store_costs.FLOORS`, which
`make bench` reports), and the same for a session of 2 messages as for one of 200.

Before sessions were bounded a FAQ turn made 8 calls and read 206 documents on a session of
200 recent messages, GET of a session 3 calls, the worker's processing 25 calls: each of these
tests fails on that code.
"""

from __future__ import annotations

from uuid import uuid4

import pytest

from app.adapters.firestore_store import FirestoreStore
from app.domain.records import HandoffState
from benchmarks.firestore_rpcs import RpcCounter, counting_client
from benchmarks.store_costs import FLOORS, firestore_costs
from tests.app.adapters.contract.builders import START, record, session, turn

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def costs(firestore_host, tmp_path_factory):
    """Each operation's count through the HTTP API, once for the module (the bench's run)."""
    return firestore_costs(firestore_host, tmp_path_factory.mktemp("costs"))


@pytest.mark.parametrize("name", list(FLOORS))
def test_each_operation_stays_within_half_again_its_floor(costs, name):
    spent, floor = costs[name], FLOORS[name]
    assert spent.rpcs <= 1.5 * floor.rpcs, spent.describe()
    assert spent.reads <= 1.5 * floor.reads, spent.describe()


def test_a_turn_takes_no_lock(costs):
    """A read and a commit guarded by preconditions; a transaction would add a call and hold
    the session's document for the turns that meet on it."""
    for name in ("turn", "turn_with_key"):
        assert set(costs[name].by_method) == {"BatchGetDocuments", "Commit"}, name


@pytest.fixture
def counted(firestore_settings):
    counter = RpcCounter()
    project = firestore_settings.google_cloud_project
    store = FirestoreStore(counting_client(project, counter))
    yield store, counter
    store.close()


def spent(counter, call):
    before = counter.tally()
    call()
    return counter.tally() - before


def fill(store, session_id, turns):
    for n in range(turns):
        store.append_turn(turn(f"q{n}", f"a{n}", session_id=session_id))


def test_a_turn_costs_the_same_on_a_short_and_a_long_session(counted):
    store, counter = counted
    for session_id, turns in (("short", 1), ("long", 100)):
        store.create_session(session(session_id))
        fill(store, session_id, turns)
    per_session = {}
    for session_id in ("short", "long"):
        key = record(f"k-{uuid4().hex}", scope=f"session:{session_id}")

        def keyed_turn(session_id=session_id, key=key):
            version = store.get_session(session_id, START).flow_version
            store.append_turn(turn(session_id=session_id, expected_flow_version=version))
            store.append_turn(turn(session_id=session_id, idempotency=key))

        per_session[session_id] = spent(counter, keyed_turn)
    assert per_session["short"] == per_session["long"]
    assert per_session["long"].reads == 1 + 1 + 1  # the session, each time it is read


def test_a_page_reads_its_messages_only(counted):
    store, counter = counted
    store.create_session(session())
    fill(store, "s1", 60)
    latest = spent(counter, lambda: store.latest_messages("s1", 50))
    older = spent(counter, lambda: store.latest_messages("s1", 10, before=21))
    assert (latest.rpcs, latest.reads) == (1, 50)
    assert (older.rpcs, older.reads) == (1, 10)


def test_a_handoff_changes_the_session_in_the_turn_s_own_write(counted):
    """Asking for a person, a team member's reply and the release are turns: the state rides
    on the session's document, which every turn reads and writes anyway."""
    store, counter = counted
    store.create_session(session())
    plain = spent(counter, lambda: store.append_turn(turn()))
    handed = spent(counter, lambda: store.append_turn(turn(handoff=HandoffState.WAITING)))
    assert handed == plain
    assert set(handed.by_method) == {"BatchGetDocuments", "Commit"}
