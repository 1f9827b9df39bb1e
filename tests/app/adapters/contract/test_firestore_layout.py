"""How the Firestore adapter shapes its documents: what the port alone cannot show.

A session's document numbers its messages, which carry their seq, and a session stored before
seqs were (layout 1) reads as it did and is numbered once. Every document the TTL policies
cover carries an `expires_at` that outlives what it belongs to. An erasure, which is not one
transaction, leaves no document of the customer behind, even when cut off or raced.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from google.api_core import exceptions as gexc
from google.cloud import firestore

from app.domain.errors import Unavailable
from app.ports.store import NewMessage
from tests.app.adapters.contract.builders import (
    START,
    TTL,
    all_messages,
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


def test_each_turn_numbers_its_messages_on_the_session_document(fs):
    for n in range(3):
        at = START + timedelta(minutes=n)
        fs.append_turn(turn(f"q{n}", now=at, expires_at=at + TTL))
    doc = session_doc(fs).to_dict()
    last = START + timedelta(minutes=2) + TTL
    assert (doc["next_seq"], doc["active_until"], doc["expires_at"]) == (7, last, last)
    messages = fs.client.collection("sessions").document("s1").collection("messages")
    assert sorted(snap.get("seq") for snap in messages.stream()) == [1, 2, 3, 4, 5, 6]
    assert fs.get_session("s1", START).expires_at == last


def _layout1_session(fs, session_id, turns, expiries):
    """A session as layout 1 stored it: no `next_seq`, messages without a seq, the expiry of
    the latest turn on its messages; each turn its own commit, as each was."""
    ref = fs.client.collection("sessions").document(session_id)
    ref.set(
        {
            "id": session_id,
            "customer_id": "C001",
            "preferences": "{}",
            "created_at": START,
            "active_until": START + TTL,
            "expires_at": START + 2 * TTL,
            "flow": "{}",
            "flow_version": 0,
        }
    )
    for n, expiry in zip(range(turns), expiries, strict=True):
        batch = fs.client.batch()
        for index, (role, text) in enumerate((("customer", f"q{n}"), ("agent", f"a{n}"))):
            batch.create(
                ref.collection("messages").document(f"{session_id}-{n}-{index}"),
                {
                    "id": f"{session_id}-{n}-{index}",
                    "role": role,
                    "text": text,
                    "route": None,
                    "data": "{}",
                    "created_at": START,
                    "committed_at": firestore.SERVER_TIMESTAMP,
                    "turn": f"{session_id}-{n}-0",
                    "index": index,
                    "session_expires_at": expiry,
                    "expires_at": expiry + timedelta(days=30),
                },
            )
        batch.commit()


def test_a_layout1_session_reads_as_before_and_is_numbered_once(fs):
    later = START + 3 * TTL  # the latest turn slid the session past the document's own expiry
    _layout1_session(fs, "old", 3, [START + TTL, START + 2 * TTL, later])
    found = fs.get_session("old", START + 2 * TTL)
    assert (found.expires_at, found.message_count) == (later, 6)
    listed = all_messages(fs, "old")
    assert [m.text for m in listed] == ["q0", "a0", "q1", "a1", "q2", "a2"]
    assert [m.seq for m in listed] == [1, 2, 3, 4, 5, 6]
    stored = fs.append_turn(turn("new", session_id="old", now=later - TTL, expires_at=later))
    assert [m.seq for m in stored] == [7, 8]
    assert fs.get_message("old", "old-1-1").seq == 4


def test_every_way_in_numbers_a_layout1_session(fs):
    """A turn, a once message, a keyed read or a message read may meet it first."""
    _layout1_session(fs, "a", 1, [START + TTL])
    assert fs.append_turn(turn(session_id="a"))[0].seq == 3
    _layout1_session(fs, "b", 1, [START + TTL])
    assert fs.append_once("b", NewMessage("system", "x"), "k", START).seq == 3
    _layout1_session(fs, "c", 1, [START + TTL])
    assert fs.get_turn_state("c", "session:c", "k", START)[0].message_count == 2
    _layout1_session(fs, "d", 1, [START + TTL])
    assert fs.get_message("d", "d-0-1").seq == 2


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


class LostAnswers:
    """Wraps the client's batches: the first `count` commits go through, then answer as a
    retried commit would (the documents exist already), as when an answer is lost."""

    def __init__(self, client, count=1):
        self.real, self.left = client.batch, count

    def __call__(self):
        batch = self.real()
        commit = batch.commit

        def commit_then_lose_the_answer(**options):
            result = commit(**options)
            if self.left:
                self.left -= 1
                raise gexc.AlreadyExists("the retried commit met its own documents")
            return result

        batch.commit = commit_then_lose_the_answer
        return batch


def test_a_write_whose_answer_was_lost_is_not_written_twice(fs, monkeypatch):
    monkeypatch.setattr(fs.client, "batch", LostAnswers(fs.client, count=2))
    stored = fs.append_turn(turn())
    once = fs.append_once("s1", NewMessage("system", "done"), "inquiry:i1", START)
    assert [m.seq for m in stored] == [1, 2] and once.seq == 3
    assert [m.text for m in all_messages(fs, "s1")] == ["hi", "hello", "done"]
    assert fs.get_session("s1", START).message_count == 3


def test_a_message_an_older_version_writes_into_a_numbered_session_renumbers_nothing(fs):
    """During a rollout an instance of the version before may still append (without a seq):
    reading that message is Unavailable, never a renumbering of the session."""
    stored = fs.append_turn(turn())
    messages = fs.client.collection("sessions").document("s1").collection("messages")
    messages.document("from-before").set({"id": "from-before", "turn": "from-before"})
    with pytest.raises(Unavailable, match="older version"):
        fs.get_message("s1", "from-before")
    assert all_messages(fs, "s1") == stored
