"""Sessions: stored whole, read as missing once expired, and sliding with every turn."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.domain.errors import NotFound
from app.ports.store import NewMessage
from tests.app.adapters.contract.builders import START, TTL, all_messages, session, turn


def test_a_session_reads_back_as_stored(store):
    stored = session(preferences={"language": "fr", "tags": [["a", 1]], "": {"x": None}})
    store.create_session(stored)
    assert store.get_session("s1", START) == stored
    assert all_messages(store, "s1") == []


def test_unknown_sessions_read_as_missing(store):
    assert store.get_session("nope", START) is None
    assert store.get_session("a/b", START) is None
    assert all_messages(store, "nope") == []
    assert store.get_message("nope", "m1") is None


def test_an_expired_session_reads_as_missing(store):
    store.create_session(session())
    assert store.get_session("s1", START + TTL - timedelta(seconds=1)) is not None
    assert store.get_session("s1", START + TTL) is None


def test_a_turn_slides_the_expiry(store):
    store.create_session(session())
    later = START + timedelta(hours=1)
    store.append_turn(turn(now=later, expires_at=later + TTL))
    after_first_expiry = START + TTL + timedelta(minutes=1)
    slid = store.get_session("s1", after_first_expiry)
    assert slid is not None and slid.expires_at == later + TTL
    assert store.get_session("s1", later + TTL) is None
    # A turn on the slid session is accepted after the first expiry, and slides it again.
    store.append_turn(turn(now=after_first_expiry, expires_at=after_first_expiry + TTL))
    assert store.get_session("s1", later + TTL).expires_at == after_first_expiry + TTL


def test_turns_and_once_messages_on_an_expired_session_are_refused(store):
    store.create_session(session())
    with pytest.raises(NotFound):
        store.append_turn(turn(now=START + TTL, expires_at=START + 2 * TTL))
    assert store.append_once("s1", NewMessage("system", "x"), "k", START + TTL) is None
    assert all_messages(store, "s1") == []
    assert store.get_session("s1", START + TTL) is None


def test_purging_keeps_live_sessions_and_expired_ones_stay_missing(store):
    store.create_session(session("old", expires_at=START + timedelta(minutes=5)))
    store.create_session(session("live"))
    store.append_turn(turn(session_id="live"))
    now = START + timedelta(minutes=10)
    store.purge_expired(now)
    assert store.get_session("old", now) is None
    assert store.get_session("live", now) is not None
    assert [m.text for m in all_messages(store, "live")] == ["hi", "hello"]
