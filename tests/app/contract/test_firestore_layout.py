"""How the Firestore adapter shapes its documents: what the port alone cannot show.

A busy session's FAQ turns must not all write one document, and every document the TTL
policies cover must carry an `expires_at` that outlives what it belongs to. An erasure, which
is not one transaction, leaves no document of the customer behind, even when cut off or raced.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from google.api_core import exceptions as gexc

from app.errors import Unavailable
from app.ports import NewMessage
from tests.app.contract.builders import (
    START,
    TTL,
    api_inquiry,
    claim,
    conversation,
    inquiry,
    record,
    session,
    turn,
)

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


def test_an_order_claim_is_a_document_named_by_its_order_without_an_expiry(fs):
    """Looked up by document id (no index), and nothing a TTL policy could act on."""
    fs.create_claim(claim("A1007", "refund"))
    fs.append_turn(turn(order_claim=claim("A1001")))
    snaps = list(fs.client.collection("order_claims").stream())
    assert sorted(snap.id for snap in snaps) == ["A1001", "A1007"]
    assert all("expires_at" not in snap.to_dict() for snap in snaps)


def doc_ids(store, collection):
    return sorted(snap.id for snap in store.client.collection(collection).stream())


def test_an_erasure_leaves_no_document_of_the_customer_behind(firestore_store):
    """Dedupe markers included, which no port method could show."""
    conversation(firestore_store, "me-1", "C001")
    api_inquiry(firestore_store, "me-api", "C001", "k-1")
    conversation(firestore_store, "other-1", "C002")
    api_inquiry(firestore_store, "other-api", "C002", "k-1")
    firestore_store.erase_customer("C001")
    assert doc_ids(firestore_store, "sessions") == ["other-1"]
    assert doc_ids(firestore_store, "inquiries") == ["other-1-i", "other-api"]
    messages = firestore_store.client.collection_group("messages").stream()
    assert {snap.reference.parent.parent.id for snap in messages} == {"other-1"}
    records = firestore_store.client.collection("idempotency").stream()
    scopes = sorted(snap.get("scope") for snap in records)
    assert scopes == ["append-once:other-1", "inquiries:C002", "session:other-1"]


class CountedBatches:
    """Wraps the client's batches: how many deletes each commit carried; one commit can fail."""

    def __init__(self, client, fail_commit: int | None = None):
        self.real, self.fail_commit, self.sizes = client.batch, fail_commit, []

    def __call__(self):
        batch, deletes = self.real(), []
        delete, commit = batch.delete, batch.commit

        def counted_delete(ref):
            deletes.append(ref)
            delete(ref)

        def counted_commit(**options):
            self.sizes.append(len(deletes))
            if len(self.sizes) == self.fail_commit:
                raise gexc.ServiceUnavailable("cut off")
            return commit(**options)

        batch.delete, batch.commit = counted_delete, counted_commit
        return batch


def test_an_erasure_cut_off_half_way_is_finished_by_running_it_again(fs, monkeypatch):
    """The session's document goes last, so what is left can still be found by its customer;
    and no batch carries more than Firestore takes."""
    messages = fs.client.collection("sessions").document("s1").collection("messages")
    for start in range(0, 1200, 400):
        batch = fs.client.batch()
        for n in range(start, start + 400):
            batch.set(messages.document(f"m{n}"), {"n": n})
        batch.commit()
    batches = CountedBatches(fs.client, fail_commit=2)
    monkeypatch.setattr(fs.client, "batch", batches)
    with pytest.raises(Unavailable):
        fs.erase_customer("C001")
    assert batches.sizes == [500, 500]  # Firestore's most; the second one failed
    batches.fail_commit = None
    finished = fs.erase_customer("C001")
    assert (finished.session_ids, finished.messages) == (("s1",), 700)
    assert batches.sizes[2:] == [500, 201]  # the rest of the messages, then the session
    assert list(messages.stream()) == [] and doc_ids(fs, "sessions") == []


def test_a_message_appended_while_its_session_is_erased_goes_with_it(fs, monkeypatch):
    """An inquiry's result can land between the erasure's look at the session and the delete."""
    fs.append_turn(turn())
    look, raced = fs._session_parts, []

    def racing_look(session_id):
        found = look(session_id)
        if not raced:
            raced.append(fs.append_once(session_id, NewMessage("system", "late"), "i:9", START))
        return found

    monkeypatch.setattr(fs, "_session_parts", racing_look)
    assert fs.erase_customer("C001").messages == 3
    assert raced[0] is not None  # it did land, and is gone with its dedupe marker
    assert list(fs.client.collection_group("messages").stream()) == []
    assert doc_ids(fs, "idempotency") == []
