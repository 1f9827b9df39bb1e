"""Turns: every part lands together or not at all, in one order with gap-free seqs."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.domain.errors import NotFound, Unavailable
from app.ports.store import DuplicateKey, NewMessage, StaleFlow
from tests.app.adapters.contract.builders import START, all_messages, inquiry, record, session, turn


@pytest.fixture
def live(store):
    store.create_session(session())
    return store


def test_turns_get_consecutive_seqs_in_one_order(live):
    first = live.append_turn(turn("one", "1"))
    second = live.append_turn(turn("two", "2", now=START + timedelta(seconds=1)))
    assert [m.seq for m in first + second] == [1, 2, 3, 4]
    listed = all_messages(live, "s1")
    assert listed == first + second
    assert [m.text for m in listed] == ["one", "1", "two", "2"]


def test_a_message_reads_back_with_its_seq_and_data(live):
    data = {"order": {"id": "A1003", "items": [["sku", 2]]}, "note": "naïve ✓"}
    turn_ = turn(messages=(NewMessage("customer", "hi"), NewMessage("agent", "ok", "faq", data)))
    live.append_turn(turn())
    stored = live.append_turn(turn_)
    assert live.get_message("s1", stored[1].id) == stored[1]
    assert (stored[1].seq, stored[1].data, stored[1].route) == (4, data, "faq")
    assert live.get_message("s1", "unknown") is None


def test_a_flow_change_bumps_the_version_and_stale_turns_are_refused(live):
    flow = {"name": "return", "order_id": "A1003"}
    live.append_turn(turn(new_flow=flow))
    stored = live.get_session("s1", START)
    assert (stored.flow, stored.flow_version) == (flow, 1)
    with pytest.raises(StaleFlow):
        live.append_turn(turn("late", expected_flow_version=0, new_flow={"name": "other"}))
    with pytest.raises(StaleFlow):
        live.append_turn(turn("late faq", expected_flow_version=0))
    live.append_turn(turn(expected_flow_version=1, new_flow=dict(flow)))  # the same flow
    live.append_turn(turn(expected_flow_version=1))  # new_flow None leaves the flow alone
    stored = live.get_session("s1", START)
    assert (stored.flow, stored.flow_version) == (flow, 1)
    assert [m.text for m in all_messages(live, "s1")] == ["hi", "hello"] * 3


def test_a_duplicate_key_writes_nothing_of_the_turn(live):
    key = record("k-1", scope="session:s1", response={"reply_message_id": "r1"})
    live.append_turn(turn(idempotency=key))
    with pytest.raises(DuplicateKey) as caught:
        live.append_turn(turn("again", idempotency=key, inquiry=inquiry(), new_flow={"x": 1}))
    assert caught.value.record == key
    assert [m.text for m in all_messages(live, "s1")] == ["hi", "hello"]
    assert live.get_inquiry("i1") is None
    assert live.get_session("s1", START).flow_version == 0


def test_a_turn_stores_its_inquiry_and_record_with_it(live):
    key = record("k-2", scope="session:s1")
    live.append_turn(turn(inquiry=inquiry(), idempotency=key))
    assert live.get_inquiry("i1") == inquiry()
    assert live.get_idempotency("session:s1", "k-2", START) == key


def test_a_failing_part_rolls_the_whole_turn_back(live):
    live.create_inquiry(inquiry("taken"), None)
    key = record("k-3", scope="session:s1")
    with pytest.raises(Unavailable):  # the inquiry id exists already: the turn fails whole
        live.append_turn(turn(inquiry=inquiry("taken"), new_flow={"x": 1}, idempotency=key))
    assert all_messages(live, "s1") == []
    assert live.get_session("s1", START).flow == {}
    assert live.get_idempotency("session:s1", "k-3", START) is None


def test_turns_on_unknown_sessions_are_refused(live):
    with pytest.raises(NotFound):
        live.append_turn(turn(session_id="nope"))
    assert all_messages(live, "nope") == []


def test_append_once_stores_one_message_per_key(live):
    live.append_turn(turn())
    first = live.append_once("s1", NewMessage("system", "done", "inquiry"), "inquiry:i1", START)
    again = live.append_once("s1", NewMessage("system", "again"), "inquiry:i1", START)
    other = live.append_once("s1", NewMessage("system", "other"), "inquiry:i2", START)
    assert (first.seq, first.route) == (3, "inquiry")
    assert again == first
    assert other.seq == 4
    assert [m.text for m in all_messages(live, "s1")] == ["hi", "hello", "done", "other"]
    assert live.append_once("nope", NewMessage("system", "x"), "inquiry:i1", START) is None


def test_a_dedupe_key_is_scoped_to_its_session(live):
    live.create_session(session("s2"))
    live.append_once("s1", NewMessage("system", "one"), "inquiry:i1", START)
    assert live.append_once("s2", NewMessage("system", "two"), "inquiry:i1", START).text == "two"
