"""Order claims: an order gets one return or refund, ever, however many ask and however they
meet; a turn that creates a return stores it with itself, or nothing of itself at all."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from app.adapters.sqlite_store import SqliteStore
from app.domain.errors import NotFound, Unavailable
from app.ports.store import ClaimExists, DuplicateKey, OrderClaim, Store, session_scope
from tests.app.adapters.contract.builders import (
    START,
    TTL,
    all_messages,
    claim,
    inquiry,
    record,
    run_together,
    session,
    turn,
)

ORDER = "A1001"


def writers(store: Store) -> int:
    """How many concurrent callers: few on Firestore, whose emulator is slow under contention."""
    return 12 if isinstance(store, SqliteStore) else 4


@pytest.fixture
def live(store):
    store.create_session(session())
    return store


def test_a_claim_reads_back_as_stored(store):
    assert store.get_claim(ORDER) is None
    returned = claim(ORDER)
    refunded = claim("A1007", "refund", status="manual_review", inquiry_id="i1")
    assert store.create_claim(returned) == returned
    assert store.create_claim(refunded) == refunded
    assert store.get_claim(ORDER) == returned
    assert store.get_claim("A1007") == refunded
    assert store.get_claim("A9999") is None
    assert store.get_claim("A1/001") is None  # no document id: no claim, no error


def test_a_second_create_for_the_order_returns_the_first_claim_unchanged(store):
    first = claim(ORDER)
    store.create_claim(first)
    second = replace(
        first,
        claim_id="RMA-OTHER",
        customer_id="C002",
        status="other",
        amount_cents=1,
        created_at=START + timedelta(days=1),
        inquiry_id="i9",
    )
    assert store.create_claim(second) == first
    assert store.get_claim(ORDER) == first


def test_a_refund_and_a_return_of_one_order_cannot_both_exist(live):
    returned = live.create_claim(claim(ORDER))
    assert live.create_claim(claim(ORDER, "refund", inquiry_id="i1")) == returned
    refunded = live.create_claim(claim("A1007", "refund", inquiry_id="i1"))
    with pytest.raises(ClaimExists) as caught:
        live.append_turn(turn("return A1007", order_claim=claim("A1007")))
    assert caught.value.existing == refunded
    assert (live.get_claim(ORDER), live.get_claim("A1007")) == (returned, refunded)


def test_a_turn_stores_its_return_with_it(live):
    returned = claim(ORDER)
    flow = {"name": "return", "order_id": ORDER, "step": "done"}
    stored = live.append_turn(turn("yes", "label sent", new_flow=flow, order_claim=returned))
    assert live.get_claim(ORDER) == returned
    assert all_messages(live, "s1") == stored
    assert live.get_session("s1", START).flow == flow
    assert live.create_claim(claim(ORDER, "refund")) == returned  # a refund comes too late


def test_a_turn_for_an_order_with_a_claim_stores_nothing(live):
    refunded = live.create_claim(claim(ORDER, "refund", inquiry_id="i0"))
    earlier = live.append_turn(turn("hi", "hello"))
    key = record("k-1", scope=session_scope("s1"), response={"reply_message_id": "r"})
    refused = turn(
        "return A1001",
        "label sent",
        new_flow={"name": "return"},
        expires_at=START + 2 * TTL,
        idempotency=key,
        inquiry=inquiry("i1"),
        order_claim=claim(ORDER),
    )
    with pytest.raises(ClaimExists) as caught:
        live.append_turn(refused)
    assert caught.value.existing == refunded
    assert all_messages(live, "s1") == earlier
    kept = live.get_session("s1", START)
    assert (kept.flow, kept.flow_version, kept.expires_at) == ({}, 0, START + TTL)
    assert live.get_idempotency(session_scope("s1"), "k-1", START) is None
    assert live.get_inquiry("i1") is None
    assert live.get_claim(ORDER) == refunded
    # The key is still free, and the next turn's seqs follow on without a gap.
    after = live.append_turn(turn("thanks", "welcome", idempotency=key))
    assert [m.seq for m in after] == [3, 4]


def test_a_retried_turn_whose_return_was_stored_is_answered_as_a_duplicate(live):
    """The replay of the first answer, not a refusal: the claim is the retried turn's own."""
    key = record("k-1", scope=session_scope("s1"), response={"reply_message_id": "r"})
    live.append_turn(turn(idempotency=key, order_claim=claim(ORDER)))
    with pytest.raises(DuplicateKey) as caught:
        live.append_turn(turn(idempotency=key, order_claim=claim(ORDER)))
    assert caught.value.record == key


def test_a_turn_that_fails_stores_no_claim(live):
    with pytest.raises(NotFound):
        live.append_turn(turn(session_id="nope", order_claim=claim(ORDER)))
    live.create_inquiry(inquiry("taken"), None)
    with pytest.raises(Unavailable):  # the inquiry id exists already: the turn fails whole
        live.append_turn(turn(inquiry=inquiry("taken"), order_claim=claim(ORDER)))
    assert live.get_claim(ORDER) is None
    assert all_messages(live, "s1") == []


def test_concurrent_creates_for_one_order_store_one_claim_that_every_caller_gets(store):
    count = writers(store)
    wanted = [
        claim(ORDER, "refund" if n % 2 else "return", claim_id=f"C-{n}", amount_cents=100 + n)
        for n in range(count)
    ]
    results, errors = run_together(count, lambda n: store.create_claim(wanted[n]))
    assert errors == []
    stored = store.get_claim(ORDER)
    assert stored in wanted
    assert results == dict.fromkeys(range(count), stored)
    assert [n for n in range(count) if results[n] == wanted[n]] == [wanted.index(stored)]


def test_concurrent_return_turns_for_one_order_store_one(store):
    count = writers(store)
    for n in range(count):  # one session each, as a customer's two tabs: only the order is shared
        store.create_session(session(f"s{n}"))
    wanted = [claim(ORDER, claim_id=f"RMA-{n}") for n in range(count)]

    def write(n: int) -> OrderClaim | str:
        try:
            store.append_turn(turn(f"return {n}", session_id=f"s{n}", order_claim=wanted[n]))
        except ClaimExists as refused:
            return refused.existing
        return "stored"

    results, errors = run_together(count, write)
    assert errors == []
    winners = [n for n in range(count) if results[n] == "stored"]
    assert len(winners) == 1
    stored = store.get_claim(ORDER)
    assert stored == wanted[winners[0]]
    assert all(results[n] == stored for n in range(count) if n not in winners)
    assert [len(all_messages(store, f"s{n}")) for n in range(count)] == [
        2 if n in winners else 0 for n in range(count)
    ]
