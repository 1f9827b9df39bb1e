"""Writers that meet: concurrent turns, retries with one key, claims and effect markers.

Counts stay modest (the Firestore emulator is slow when many transactions meet on one
document) and nothing here depends on timing: threads start together at a barrier, and every
assertion is about what was stored.
"""

from __future__ import annotations

from app.domain.leases import ClaimState
from app.ports.store import DuplicateKey, StaleFlow
from tests.app.adapters.contract.builders import (
    START,
    all_messages,
    inquiry,
    record,
    run_together,
    session,
    turn,
)

WRITERS = 20
FLOW_CHANGERS = 5  # of the writers; the others leave the flow alone, as FAQ turns do
MAX_RECOMPUTES = 200


def test_concurrent_turns_on_one_session_lose_nothing_and_keep_one_order(store):
    store.create_session(session())

    def write(n: int):
        for _ in range(MAX_RECOMPUTES):  # as the conversation service: recompute on StaleFlow
            version = store.get_session("s1", START).flow_version
            flow = {"writer": n} if n < FLOW_CHANGERS else None
            try:
                return store.append_turn(
                    turn(f"q{n}", f"a{n}", expected_flow_version=version, new_flow=flow)
                )
            except StaleFlow:
                continue
        raise AssertionError(f"writer {n} lost the flow race {MAX_RECOMPUTES} times")

    results, errors = run_together(WRITERS, write)
    assert errors == []
    listed = all_messages(store, "s1")
    assert [m.seq for m in listed] == list(range(1, 2 * WRITERS + 1))
    assert sorted(m.text for m in listed if m.role == "customer") == sorted(
        f"q{n}" for n in range(WRITERS)
    )
    by_seq = {m.seq: m for m in listed}
    for n, (asked, answered) in results.items():
        # The seqs a writer was given are the positions every reader sees, turn by turn.
        assert by_seq[asked.seq] == asked and asked.text == f"q{n}"
        assert by_seq[answered.seq] == answered and answered.seq == asked.seq + 1
    assert store.get_session("s1", START).flow_version == FLOW_CHANGERS


def test_concurrent_turns_with_one_key_store_one(store):
    store.create_session(session())
    key = record("k", scope="session:s1", response={"reply_message_id": "r"})

    def write(n: int):
        try:
            store.append_turn(turn(f"retry {n}", idempotency=key, inquiry=inquiry(f"i{n}")))
        except DuplicateKey as duplicate:
            return duplicate.record
        return "stored"

    results, errors = run_together(6, write)
    assert errors == []
    assert sorted(results.values(), key=str).count("stored") == 1
    assert all(r == key for r in results.values() if r != "stored")
    assert len(all_messages(store, "s1")) == 2
    assert sum(store.get_inquiry(f"i{n}") is not None for n in range(6)) == 1


def test_concurrent_inquiry_creates_with_one_key_create_one(store):
    def create(n: int):
        try:
            store.create_inquiry(inquiry(f"i{n}"), record(response={"inquiry_id": f"i{n}"}))
        except DuplicateKey as duplicate:
            return duplicate.record.response["inquiry_id"]
        return f"i{n}"

    results, errors = run_together(6, create)
    assert errors == []
    assert len(set(results.values())) == 1  # everyone answers with the one stored inquiry
    assert sum(store.get_inquiry(f"i{n}") is not None for n in range(6)) == 1


def test_concurrent_claims_lease_to_exactly_one_holder(store):
    store.create_inquiry(inquiry(), None)
    results, errors = run_together(
        6, lambda n: store.claim_inquiry("i1", f"h{n}", START, START.replace(hour=10)).state
    )
    assert errors == []
    assert sorted(results.values()) == sorted([ClaimState.ACQUIRED] + [ClaimState.BUSY] * 5)
    assert store.get_inquiry("i1").attempts == 1


def test_concurrent_effect_records_keep_the_first_outcome(store):
    store.create_inquiry(inquiry(), None)
    results, errors = run_together(
        6, lambda n: store.record_effect("i1", "callback", f"outcome-{n}", START)
    )
    assert errors == [] and len(results) == 6
    outcomes = store.effect_outcomes("i1")
    assert list(outcomes) == ["callback"] and outcomes["callback"].startswith("outcome-")
    store.record_effect("i1", "callback", "later", START)
    assert store.effect_outcomes("i1") == outcomes
