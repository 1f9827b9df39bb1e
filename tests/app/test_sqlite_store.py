"""The SQLite store's atomic operations, the ones a Firestore adapter must match."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from app.adapters.sqlite_db import Database
from app.adapters.sqlite_store import SqliteStore
from app.domain import Inquiry, InquiryStatus, Session
from app.errors import NotFound, Unavailable
from app.ports import (
    ClaimState,
    DuplicateKey,
    IdempotencyRecord,
    LeaseLost,
    NewMessage,
    StaleFlow,
    Turn,
)
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
    assert [m.text for m in store.list_messages("s1")] == ["hi", "hello", "hi", "hello"]


def test_a_flow_change_bumps_the_version_and_stale_turns_are_refused(store):
    store.append_turn(turn(new_flow={"name": "return"}))
    session = store.get_session("s1", START)
    assert (session.flow, session.flow_version) == ({"name": "return"}, 1)
    with pytest.raises(StaleFlow):
        store.append_turn(turn(expected_flow_version=0))
    store.append_turn(turn(expected_flow_version=1, new_flow={"name": "return"}))  # unchanged
    assert store.get_session("s1", START).flow_version == 1
    assert len(store.list_messages("s1")) == 4


def test_a_duplicate_key_writes_nothing_of_the_turn(store):
    store.append_turn(turn(idempotency=record()))
    with pytest.raises(DuplicateKey) as caught:
        store.append_turn(turn(idempotency=record(), inquiry=inquiry()))
    assert caught.value.record.response == {"x": 1}
    assert len(store.list_messages("s1")) == 2
    assert store.get_inquiry("i1") is None


def test_a_failing_part_rolls_the_whole_turn_back(store):
    store.create_inquiry(inquiry("taken"), None)
    with pytest.raises(Unavailable):  # the inquiry id already exists: the insert fails
        store.append_turn(turn(inquiry=inquiry("taken"), new_flow={"name": "x"}))
    assert store.list_messages("s1") == []
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
    assert [m.text for m in store.list_messages("s1")] == ["done"]
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
