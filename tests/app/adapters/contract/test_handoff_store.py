"""The handoff state of a session: changed with a turn, queried by the staff, counted when late.

Runs on SQLite and on the Firestore emulator (the `store` fixture). A state change is part of a
turn (the message and the state in one write) and bumps the session's flow version, so a turn
computed before it is refused (StaleFlow) and computed again; the staff's queue and the wait
count see live sessions only, the longest in their state first, and stay bounded.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import firestore

from app.adapters.firestore_layout import HANDOFF_QUEUE, CompositeQuery
from app.adapters.firestore_store import FirestoreStore
from app.domain.records import HandoffState
from app.ports.store import NewMessage, StaleFlow, Store
from tests.app.adapters.contract.builders import START, TTL, session, turn

MINUTE = timedelta(minutes=1)
WAITING, JOINED, NONE = HandoffState.WAITING, HandoffState.JOINED, HandoffState.NONE


def asks_for_a_person(store: Store, session_id: str, at=START, expires_at=START + TTL) -> None:
    """The customer's "talk to a human" turn, as the conversation service writes it."""
    version = store.get_session(session_id, at).flow_version
    store.append_turn(
        turn(
            "a human please",
            "A team member will join",
            session_id=session_id,
            expected_flow_version=version,
            now=at,
            expires_at=expires_at,
            handoff=WAITING,
        )
    )


def staff_turn(store: Store, session_id: str, at, handoff: HandoffState | None) -> None:
    """One staff message (a reply, or the release's notice) with the state it leaves."""
    version = store.get_session(session_id, at).flow_version
    store.append_turn(
        turn(
            session_id=session_id,
            messages=(NewMessage("staff", "Hi, I am here", route="handoff"),),
            expected_flow_version=version,
            now=at,
            handoff=handoff,
        )
    )


def test_a_new_session_is_with_the_assistant(store: Store) -> None:
    store.create_session(session())
    stored = store.get_session("s1", START)
    assert (stored.handoff, stored.handoff_since) == (NONE, None)
    assert stored.as_dict()["handoff"] == {"state": "none", "since": None}


def test_a_turn_changes_the_state_and_its_since_with_one_bump_of_the_flow_version(
    store: Store,
) -> None:
    store.create_session(session())
    store.append_turn(turn(new_flow={"name": "return", "order_id": "A1001"}))
    assert store.get_session("s1", START).flow_version == 1
    at = START + MINUTE
    # The human turn clears the flow and asks for a person: one change, one bump.
    store.append_turn(
        turn(expected_flow_version=1, new_flow={}, now=at, handoff=WAITING, expires_at=at + TTL)
    )
    waiting = store.get_session("s1", at)
    assert (waiting.handoff, waiting.handoff_since, waiting.flow_version) == (WAITING, at, 2)
    assert waiting.flow == {} and waiting.message_count == 4

    later = at + MINUTE
    staff_turn(store, "s1", later, JOINED)
    joined = store.get_session("s1", later)
    assert (joined.handoff, joined.handoff_since, joined.flow_version) == (JOINED, later, 3)
    assert joined.message_count == 5
    # The same state again (a second staff reply) changes nothing but the messages.
    staff_turn(store, "s1", later + MINUTE, JOINED)
    again = store.get_session("s1", later + MINUTE)
    assert (again.handoff, again.handoff_since, again.flow_version) == (JOINED, later, 3)

    staff_turn(store, "s1", later + 2 * MINUTE, NONE)
    released = store.get_session("s1", later + 2 * MINUTE)
    assert (released.handoff, released.handoff_since, released.flow_version) == (NONE, None, 4)


def test_a_turn_computed_before_a_state_change_is_refused_and_writes_nothing(
    store: Store,
) -> None:
    store.create_session(session())
    asks_for_a_person(store, "s1")
    read = store.get_session("s1", START)  # a customer turn is computed on this...
    staff_turn(store, "s1", START + MINUTE, NONE)  # ...while the team hands it back
    held = turn(
        session_id="s1",
        messages=(NewMessage("customer", "are you there?"),),
        expected_flow_version=read.flow_version,
        now=START + MINUTE,
    )
    with pytest.raises(StaleFlow):
        store.append_turn(held)
    assert store.get_session("s1", START + MINUTE).message_count == 3


def test_the_queue_lists_live_sessions_of_one_state_the_longest_in_it_first(
    store: Store,
) -> None:
    for n, name in enumerate(("late", "early", "middle", "quiet", "gone")):
        store.create_session(session(name, customer_id=f"C00{n + 1}", expires_at=START + TTL))
    asks_for_a_person(store, "late", START + 3 * MINUTE)
    asks_for_a_person(store, "early", START + MINUTE)
    asks_for_a_person(store, "middle", START + 2 * MINUTE)
    staff_turn(store, "middle", START + 4 * MINUTE, JOINED)
    # "gone" asked first, but its session expires (its turn did not slide the expiry further).
    asks_for_a_person(store, "gone", START, expires_at=START + 10 * MINUTE)
    now = START + 20 * MINUTE
    assert [s.id for s in store.handoff_sessions(WAITING, now, 10)] == ["early", "late"]
    assert [s.id for s in store.handoff_sessions(WAITING, now, 1)] == ["early"]
    (joined,) = store.handoff_sessions(JOINED, now, 10)
    assert (joined.id, joined.customer_id, joined.handoff) == ("middle", "C003", JOINED)
    assert joined.handoff_since == START + 4 * MINUTE
    before_expiry = [s.id for s in store.handoff_sessions(WAITING, START + 5 * MINUTE, 10)]
    assert before_expiry == ["gone", "early", "late"]


def test_the_queue_finds_live_sessions_behind_expired_ones(store: Store) -> None:
    """Expired sessions stay in the store until purged (Firestore: a day after, by its TTL
    policy); a listing reads past them rather than coming back short."""
    for n in range(4):
        until = START + 5 * MINUTE
        store.create_session(session(f"old{n}", expires_at=until))
        asks_for_a_person(store, f"old{n}", START + n * timedelta(seconds=1), until)
    store.create_session(session("live"))
    asks_for_a_person(store, "live", START + MINUTE)
    found = store.handoff_sessions(WAITING, START + 10 * MINUTE, 2)
    assert [s.id for s in found] == ["live"]


def test_waits_older_than_the_bound_are_counted_live_and_waiting_only(store: Store) -> None:
    for n in range(5):
        store.create_session(session(f"s{n}"))
        asks_for_a_person(store, f"s{n}", START + n * MINUTE)
    staff_turn(store, "s1", START + 5 * MINUTE, JOINED)  # a team member has it
    store.create_session(session("short", expires_at=START + 6 * MINUTE))
    asks_for_a_person(store, "short", START, START + 6 * MINUTE)  # waited, but has expired
    now, bound = START + 7 * MINUTE, START + 4 * MINUTE  # s4 has not waited long enough
    assert store.count_waiting_handoffs(bound, now, 1000) == 3  # s0, s2, s3
    assert store.count_waiting_handoffs(bound, now, 2) == 2  # bounded
    assert store.count_waiting_handoffs(START, now, 1000) == 0


def test_an_empty_store_has_no_queue(store: Store) -> None:
    assert store.handoff_sessions(WAITING, START, 10) == []
    assert store.count_waiting_handoffs(START, START, 1000) == 0


def test_firestore_queries_the_queue_through_its_declared_index(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Both queries run the shape `HANDOFF_QUEUE` declares, which the storage module indexes
    (tests/app/adapters/contract/test_firestore_indexes.py): the emulator would not say if one
    needed an index nobody declared."""
    client = firestore.Client(project="demo-offline", credentials=AnonymousCredentials())
    store = FirestoreStore(client)
    shapes: list[CompositeQuery] = []
    original = store._composite

    def recording(shape: CompositeQuery, *args: object) -> object:
        shapes.append(shape)
        built = original(shape, *args)._to_protobuf()
        where = built.where
        filters = where.composite_filter.filters if "composite_filter" in where else [where]
        fields = [f.field_filter.field.field_path for f in filters]
        assert fields[0] == "handoff_state" and set(fields) <= {"handoff_state", "handoff_since"}
        assert [o.field.field_path for o in built.order_by] == ["handoff_since"]
        raise RuntimeError("stop before calling Firestore")

    monkeypatch.setattr(store, "_composite", recording)
    for call in (
        lambda: store.handoff_sessions(WAITING, START, 10),
        lambda: store.count_waiting_handoffs(START, START, 10),
    ):
        with pytest.raises(RuntimeError, match="stop before"):
            call()
    assert shapes == [HANDOFF_QUEUE, HANDOFF_QUEUE]
    store.close()
