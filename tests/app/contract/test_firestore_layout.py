"""How the Firestore adapter shapes its documents: what the port alone cannot show.

A busy session's FAQ turns must not all write one document, and every document the TTL
policies cover must carry an `expires_at` that outlives what it belongs to.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from app.ports import NewMessage
from tests.app.contract.builders import START, TTL, inquiry, record, session, turn

pytestmark = pytest.mark.integration


@pytest.fixture
def fs(firestore_store):
    firestore_store.create_session(session())
    return firestore_store


def session_doc(store):
    return store.client.collection("sessions").document("s1").get()


def test_turns_that_keep_the_flow_do_not_write_the_session_document(fs):
    before = session_doc(fs).update_time
    for n in range(3):
        at = START + timedelta(minutes=n)
        fs.append_turn(turn(f"q{n}", now=at, expires_at=at + TTL))
    assert session_doc(fs).update_time == before
    assert fs.get_session("s1", START).expires_at == START + timedelta(minutes=2) + TTL
    fs.append_turn(turn(new_flow={"name": "return"}))
    assert session_doc(fs).update_time > before


def test_a_turn_rewrites_the_session_document_when_its_ttl_bound_would_run_out(fs):
    created = session_doc(fs)
    bound = created.get("expires_at")
    assert bound >= START + TTL  # the TTL policy never deletes a live session
    at = bound - TTL - timedelta(minutes=1)  # slides the expiry to just inside the bound
    fs.append_turn(turn(now=at, expires_at=at + TTL))
    assert session_doc(fs).update_time == created.update_time
    later = at + timedelta(minutes=2)  # slides it past the bound
    fs.append_turn(turn(now=later, expires_at=later + TTL))
    rewritten = session_doc(fs)
    assert rewritten.update_time > created.update_time
    assert rewritten.get("expires_at") >= later + TTL
    assert fs.get_session("s1", later).expires_at == later + TTL


def test_each_message_is_a_document_of_its_own_in_the_session(fs):
    stored = fs.append_turn(turn())
    messages = fs.client.collection("sessions").document("s1").collection("messages")
    assert sorted(s.id for s in messages.stream()) == sorted(m.id for m in stored)


def test_every_document_under_a_ttl_policy_carries_a_lasting_expiry(fs):
    fs.append_turn(turn(inquiry=inquiry(), idempotency=record(scope="session:s1")))
    fs.append_once("s1", NewMessage("system", "done"), "inquiry:i1", START)
    live_until = fs.get_session("s1", START).expires_at
    docs = {
        "sessions": list(fs.client.collection("sessions").stream()),
        "messages": list(fs.client.collection_group("messages").stream()),
        "inquiries": list(fs.client.collection("inquiries").stream()),
        "idempotency": list(fs.client.collection("idempotency").stream()),
    }
    assert [len(docs[name]) for name in docs] == [1, 3, 1, 2]
    for name, snaps in docs.items():
        for snap in snaps:
            expires_at = snap.get("expires_at")
            assert isinstance(expires_at, datetime), (name, snap.id)
            if name in ("sessions", "messages"):
                assert expires_at >= live_until, (name, snap.id)
