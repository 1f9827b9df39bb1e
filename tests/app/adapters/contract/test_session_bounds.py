"""Sessions stay bounded: pages of messages by seq, a most-messages cap, the turn's reads in
one call, and side-effect markers written with the message they record."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.domain.leases import ClaimState
from app.ports.store import APPENDED, SESSION_GONE, EffectMark, NewMessage, SessionFull
from tests.app.adapters.contract.builders import (
    START,
    TTL,
    all_messages,
    claim,
    inquiry,
    record,
    session,
    turn,
)


@pytest.fixture
def live(store):
    store.create_session(session())
    return store


def turns(store, count, first=0, session_id="s1"):
    for n in range(first, first + count):
        store.append_turn(turn(f"q{n}", f"a{n}", session_id=session_id))


def test_pages_go_back_by_seq_each_oldest_first(live):
    turns(live, 7)  # seqs 1 to 14
    latest = live.latest_messages("s1", 5)
    assert [m.seq for m in latest] == [10, 11, 12, 13, 14]
    assert [m.text for m in latest] == ["a4", "q5", "a5", "q6", "a6"]
    assert [m.seq for m in live.latest_messages("s1", 5, before=10)] == [5, 6, 7, 8, 9]
    assert [m.seq for m in live.latest_messages("s1", 5, before=5)] == [1, 2, 3, 4]
    assert live.latest_messages("s1", 5, before=1) == []
    assert [m.seq for m in live.latest_messages("s1", 100)] == list(range(1, 15))
    assert live.latest_messages("nope", 5) == []


def test_paging_back_while_messages_arrive_returns_every_message_once(live):
    turns(live, 6)
    present = all_messages(live, "s1")
    seen, pages = [], 0
    page = live.latest_messages("s1", 4)
    while page:
        seen, pages = page + seen, pages + 1
        turns(live, 1, first=100 + pages)  # a turn lands between two pages
        page = live.latest_messages("s1", 4, before=page[0].seq) if page[0].seq > 1 else []
    assert seen == present
    assert len(all_messages(live, "s1")) == len(present) + 2 * pages  # arrived meanwhile


def test_a_session_counts_its_messages(live):
    assert live.get_session("s1", START).message_count == 0
    turns(live, 2)
    live.append_once("s1", NewMessage("system", "done"), "inquiry:i1", START)
    assert live.get_session("s1", START).message_count == 5


def test_a_turn_past_the_most_messages_is_refused_with_nothing_stored(live):
    live.append_turn(turn(max_messages=4))
    live.append_turn(turn("two", max_messages=4))  # exactly the most
    key = record("k-full", scope="session:s1")
    full = turn(
        "three",
        max_messages=4,
        new_flow={"x": 1},
        idempotency=key,
        inquiry=inquiry(),
        order_claim=claim("A1001"),
    )
    with pytest.raises(SessionFull) as refused:
        live.append_turn(full)
    assert refused.value.status == 409 and "start a new session" in refused.value.detail
    assert [m.text for m in all_messages(live, "s1")] == ["hi", "hello", "two", "hello"]
    stored = live.get_session("s1", START)
    assert (stored.flow, stored.message_count) == ({}, 4)
    assert live.get_idempotency("session:s1", "k-full", START) is None
    assert live.get_inquiry("i1") is None and live.get_claim("A1001") is None
    live.append_turn(turn("no cap"))  # the store applies the cap a turn carries


def test_a_once_message_past_the_most_is_refused_and_records_nothing(live):
    live.create_inquiry(inquiry(), None)
    live.append_turn(turn())
    mark = EffectMark("i1", "session_message")
    with pytest.raises(SessionFull):
        live.append_once("s1", NewMessage("system", "x"), "k", START, mark=mark, max_messages=2)
    assert len(all_messages(live, "s1")) == 2
    assert live.effect_outcomes("i1") == {}
    assert live.append_once("s1", NewMessage("system", "x"), "k", START, max_messages=3).seq == 3


def test_a_once_message_records_its_marker_in_the_same_write(live):
    live.create_inquiry(inquiry(), None)
    mark = EffectMark("i1", "session_message")
    first = live.append_once("s1", NewMessage("system", "done"), "inquiry:i1", START, mark=mark)
    assert live.effect_outcomes("i1") == {"session_message": APPENDED}
    again = live.append_once("s1", NewMessage("system", "again"), "inquiry:i1", START, mark=mark)
    assert again == first
    assert live.effect_outcomes("i1") == {"session_message": APPENDED}


def test_a_once_message_for_a_session_gone_records_so(live):
    live.create_inquiry(inquiry(), None)
    mark = EffectMark("i1", "session_message")
    late = START + TTL
    assert live.append_once("s1", NewMessage("system", "x"), "k", late, mark=mark) is None
    assert live.append_once("nope", NewMessage("system", "x"), "k", START, mark=mark) is None
    assert live.effect_outcomes("i1") == {"session_message": SESSION_GONE}


def test_a_keyed_turn_reads_the_session_and_the_key_together(live):
    scope = "session:s1"
    assert live.get_turn_state("s1", scope, "k", START) == (session(), None)
    key = record("k", scope=scope)
    live.append_turn(turn(idempotency=key))
    found, earlier = live.get_turn_state("s1", scope, "k", START)
    assert (found.message_count, earlier) == (2, key)
    after = START + timedelta(days=2)  # the session and the record have both expired
    assert live.get_turn_state("s1", scope, "k", after) == (None, None)
    assert live.get_turn_state("nope", "session:nope", "k", START) == (None, None)


def test_a_claimed_inquiry_comes_with_the_effects_recorded(live):
    live.create_inquiry(inquiry(), None)
    assert live.claim_inquiry("i1", "h1", START, START + TTL).effects == frozenset()
    live.record_effect("i1", "event", "published", START)
    live.release_inquiry("i1", "h1", False, START)
    claimed = live.claim_inquiry("i1", "h2", START, START + TTL)
    assert (claimed.state, claimed.effects) == (ClaimState.ACQUIRED, frozenset({"event"}))
