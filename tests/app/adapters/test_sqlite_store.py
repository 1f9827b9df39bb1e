"""The SQLite store's atomic operations, the ones a Firestore adapter must match, and its
opening of a file that an earlier version wrote."""

from __future__ import annotations

import multiprocessing
import sqlite3
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from app.adapters import sqlite_db
from app.adapters.sqlite_db import Database
from app.adapters.sqlite_store import SqliteStore
from app.domain.errors import NotFound, Unavailable
from app.domain.leases import ClaimState, LeaseLost
from app.domain.records import Inquiry, InquiryStatus, Session
from app.ports.store import DuplicateKey, IdempotencyRecord, NewMessage, OrderClaim, StaleFlow, Turn
from tests.app.adapters.contract.builders import all_messages
from tests.app.core_support import START

LATER = START + timedelta(hours=1)


@pytest.fixture
def store(tmp_path):
    s = SqliteStore(Database(tmp_path))
    s.create_session(Session("s1", "C001", {}, START, START + timedelta(hours=2)))
    yield s
    s.close()


def turn(**overrides):
    values = dict(
        session_id="s1",
        messages=(NewMessage("customer", "hi"), NewMessage("agent", "hello")),
        expected_flow_version=0,
        new_flow=None,
        now=START,
        expires_at=START + timedelta(hours=2),
    )
    values.update(overrides)
    return Turn(**values)


def inquiry(inquiry_id="i1"):
    return Inquiry(
        inquiry_id, "refund_review", {"order_id": "A1007"}, InquiryStatus.QUEUED, 0, START, START,
        START + timedelta(days=30), session_id="s1",
    )  # fmt: skip


def record(key="k"):
    return IdempotencyRecord("scope", key, "fp", {"x": 1}, START, START + timedelta(hours=24))


def test_a_turn_gets_consecutive_seqs(store):
    assert [m.seq for m in store.append_turn(turn())] == [1, 2]
    assert [m.seq for m in store.append_turn(turn())] == [3, 4]
    assert [m.text for m in all_messages(store, "s1")] == ["hi", "hello", "hi", "hello"]


def test_a_flow_change_bumps_the_version_and_stale_turns_are_refused(store):
    store.append_turn(turn(new_flow={"name": "return"}))
    session = store.get_session("s1", START)
    assert (session.flow, session.flow_version) == ({"name": "return"}, 1)
    with pytest.raises(StaleFlow):
        store.append_turn(turn(expected_flow_version=0))
    store.append_turn(turn(expected_flow_version=1, new_flow={"name": "return"}))  # unchanged
    assert store.get_session("s1", START).flow_version == 1
    assert len(all_messages(store, "s1")) == 4


def test_a_duplicate_key_writes_nothing_of_the_turn(store):
    store.append_turn(turn(idempotency=record()))
    with pytest.raises(DuplicateKey) as caught:
        store.append_turn(turn(idempotency=record(), inquiry=inquiry()))
    assert caught.value.record.response == {"x": 1}
    assert len(all_messages(store, "s1")) == 2
    assert store.get_inquiry("i1") is None


def test_a_failing_part_rolls_the_whole_turn_back(store):
    store.create_inquiry(inquiry("taken"), None)
    with pytest.raises(Unavailable):  # the inquiry id already exists: the insert fails
        store.append_turn(turn(inquiry=inquiry("taken"), new_flow={"name": "x"}))
    assert all_messages(store, "s1") == []
    assert store.get_session("s1", START).flow == {}


def test_turns_on_unknown_or_expired_sessions_are_refused(store):
    with pytest.raises(NotFound):
        store.append_turn(turn(session_id="nope"))
    with pytest.raises(NotFound):
        store.append_turn(turn(now=START + timedelta(hours=2)))


def test_append_once_stores_one_message_per_key(store):
    first = store.append_once("s1", NewMessage("system", "done"), "inquiry:i1", START)
    again = store.append_once("s1", NewMessage("system", "done again"), "inquiry:i1", LATER)
    assert again == first
    assert [m.text for m in all_messages(store, "s1")] == ["done"]
    assert store.append_once("nope", NewMessage("system", "x"), "k", START) is None


def test_claims_lease_the_inquiry_to_one_holder(store):
    store.create_inquiry(inquiry(), None)
    until = START + timedelta(minutes=1)
    first = store.claim_inquiry("i1", "a", START, until)
    assert first.state is ClaimState.ACQUIRED
    assert (first.inquiry.status, first.inquiry.attempts) == (InquiryStatus.RUNNING, 1)
    assert store.claim_inquiry("i1", "b", START, until).state is ClaimState.BUSY
    with pytest.raises(LeaseLost):
        store.finish_inquiry("i1", "b", InquiryStatus.SUCCEEDED, {}, None, START)
    # After the lease expires another holder takes over, and the first one has lost it.
    taken = store.claim_inquiry("i1", "b", until, until + timedelta(minutes=1))
    assert (taken.state, taken.inquiry.attempts) == (ClaimState.ACQUIRED, 2)
    with pytest.raises(LeaseLost):
        store.finish_inquiry("i1", "a", InquiryStatus.SUCCEEDED, {}, None, until)
    done = store.finish_inquiry("i1", "b", InquiryStatus.SUCCEEDED, {"ok": True}, None, until)
    assert (done.status, done.result) == (InquiryStatus.SUCCEEDED, {"ok": True})
    store.release_inquiry("i1", "b", settled=True, now=until)
    assert store.claim_inquiry("i1", "c", LATER, LATER).state is ClaimState.SETTLED
    assert store.claim_inquiry("nope", "c", LATER, LATER).state is ClaimState.MISSING


def test_a_final_inquiry_is_not_counted_as_a_new_attempt(store):
    store.create_inquiry(replace(inquiry(), status=InquiryStatus.SUCCEEDED, attempts=1), None)
    claim = store.claim_inquiry("i1", "a", START, LATER)
    assert (claim.state, claim.inquiry.status, claim.inquiry.attempts) == (
        ClaimState.ACQUIRED,
        InquiryStatus.SUCCEEDED,
        1,
    )


def test_effects_are_recorded_once(store):
    assert not store.effect_done("i1", "callback")
    store.record_effect("i1", "callback", "delivered", START)
    store.record_effect("i1", "callback", "gave_up", LATER)
    assert store.effect_done("i1", "callback")
    assert store.effect_outcomes("i1") == {"callback": "delivered"}


def test_expired_idempotency_records_are_not_answered(store):
    store.create_inquiry(inquiry(), record())
    assert store.get_idempotency("scope", "k", START).response == {"x": 1}
    assert store.get_idempotency("scope", "k", START + timedelta(hours=24)) is None
    day_later = START + timedelta(hours=25)
    renewed = replace(record(), created_at=day_later, expires_at=day_later + timedelta(hours=24))
    store.create_inquiry(inquiry("i2"), replace(renewed, response={"x": 2}))
    assert store.get_idempotency("scope", "k", day_later).response == {"x": 2}


# The inquiries table as versions before owners were recorded created it.
OLD_INQUIRIES = """
CREATE TABLE inquiries (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    details TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    session_id TEXT,
    callback_url TEXT,
    result TEXT,
    error TEXT,
    published INTEGER NOT NULL DEFAULT 0,
    lease_holder TEXT,
    lease_until REAL,
    settled INTEGER NOT NULL DEFAULT 0
);
INSERT INTO inquiries (id, kind, details, status, created_at, updated_at, expires_at)
    VALUES ('old', 'refund_review', '{}', 'queued', 1741770000, 1741770000, 1744362000);
"""


def old_file(data_dir: Path) -> Path:
    """An app.db with the old inquiries table and one inquiry stored in it."""
    data_dir.mkdir()
    conn = sqlite3.connect(data_dir / "app.db")
    conn.executescript(OLD_INQUIRIES)
    conn.close()
    return data_dir


def inquiry_columns(data_dir: Path) -> list[str]:
    conn = sqlite3.connect(data_dir / "app.db")
    try:
        return [row[1] for row in conn.execute("PRAGMA table_info(inquiries)")]
    finally:
        conn.close()


def test_a_file_from_before_owners_were_recorded_gains_the_owner_column(tmp_path):
    data_dir = old_file(tmp_path / "data")
    store = SqliteStore(Database(data_dir))
    try:
        legacy = store.get_inquiry("old")
        assert (legacy.kind, legacy.customer_id) == ("refund_review", None)
        store.create_inquiry(replace(inquiry("new"), customer_id="C001"), None)
        assert store.get_inquiry("new").customer_id == "C001"
        assert store.erase_customer("C001").inquiries == 1
        assert store.get_inquiry("old") is not None
        plan = store.db.connection().execute(
            "EXPLAIN QUERY PLAN SELECT id FROM inquiries WHERE customer_id = ?", ("C001",)
        )
        assert "inquiries_by_customer" in " ".join(row["detail"] for row in plan)
    finally:
        store.close()
    SqliteStore(Database(data_dir)).close()  # opening a migrated file again changes nothing
    assert inquiry_columns(data_dir).count("customer_id") == 1


def test_a_file_from_before_order_claims_gains_their_table(tmp_path):
    data_dir = old_file(tmp_path / "data")
    store = SqliteStore(Database(data_dir))
    try:
        refund = OrderClaim("A1007", "refund", "RF-A1007", "C001", "approved", 4999, START, "old")
        assert store.get_claim("A1007") is None
        assert store.create_claim(refund) == refund
        assert store.get_claim("A1007") == refund
    finally:
        store.close()


def _open_store(data_dir: str, barrier) -> None:
    barrier.wait(timeout=60)
    SqliteStore(Database(data_dir)).close()


def test_processes_opening_an_old_file_together_all_start(tmp_path):
    """The api and the worker open the same file at once after an upgrade."""
    context = multiprocessing.get_context("spawn")
    for run in range(2):
        data_dir = old_file(tmp_path / f"run{run}")
        barrier = context.Barrier(3)
        openers = [
            context.Process(target=_open_store, args=(str(data_dir), barrier)) for _ in range(3)
        ]
        for opener in openers:
            opener.start()
        for opener in openers:
            opener.join(timeout=60)
        assert [opener.exitcode for opener in openers] == [0, 0, 0]
        assert inquiry_columns(data_dir).count("customer_id") == 1


def test_a_column_another_opener_added_after_the_check_does_not_fail_start_up(
    tmp_path, monkeypatch
):
    data_dir = old_file(tmp_path / "data")
    SqliteStore(Database(data_dir)).close()  # the other opener, first to add the column
    monkeypatch.setattr(sqlite_db, "table_columns", lambda conn, table: set())  # checked before
    store = SqliteStore(Database(data_dir))  # its ALTER meets "duplicate column name"
    assert store.get_inquiry("old").customer_id is None
    store.close()


def test_a_column_that_cannot_be_added_fails_start_up(tmp_path):
    db = Database(tmp_path)
    with pytest.raises(Unavailable, match="no such table"):
        db.add_column("missing", "customer_id", "TEXT")
    db.close()
