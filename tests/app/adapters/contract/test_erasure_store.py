"""Erasure: everything a customer left goes, expired or not; every other customer's data stays.
Their order claims stay too: returns and refunds are order records, kept by law.

And the owner of an inquiry, which erasure finds it by, is stored and read back.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.domain.records import InquiryStatus
from app.ports.store import ClaimExists, Erasure, NewMessage, inquiry_scope, session_scope
from tests.app.adapters.contract.builders import (
    START,
    all_messages,
    api_inquiry,
    claim,
    conversation,
    inquiry,
    session,
    turn,
)

ME, OTHER = "C001", "C002"
LATER = START + timedelta(hours=1)  # "me-2" has expired by then; nothing purges it
NOTHING = Erasure((), 0, 0, 0)


@pytest.fixture
def two_customers(store):
    conversation(store, "me-1", ME)
    conversation(store, "me-2", ME, expires_at=START + timedelta(minutes=1))
    api_inquiry(store, "me-api", ME, "k-1")
    api_inquiry(store, "me-erasure", ME, "k-2")  # the inquiry that runs the erasure
    conversation(store, "other-1", OTHER)
    api_inquiry(store, "other-api", OTHER, "k-1")  # the same key in the other customer's scope
    return store


def test_every_record_of_the_customer_but_the_kept_inquiry_is_erased(two_customers):
    store = two_customers
    assert store.get_session("me-2", LATER) is None  # expired ...
    assert len(all_messages(store, "me-2")) == 3  # ... but still stored
    erased = store.erase_customer(ME, keep_inquiry_id="me-erasure")
    assert sorted(erased.session_ids) == ["me-1", "me-2"]
    assert erased.counts() == {
        "sessions": 2,
        "messages": 6,
        "inquiries": 3,
        "idempotency_records": 4,  # two turns' and two inquiries' (the kept one's too)
    }
    for session_id in ("me-1", "me-2"):
        assert store.get_session(session_id, START) is None
        assert all_messages(store, session_id) == []
        assert store.get_idempotency(session_scope(session_id), f"turn-{session_id}", START) is None
    for inquiry_id in ("me-1-i", "me-2-i", "me-api"):
        assert store.get_inquiry(inquiry_id) is None
    assert not store.effect_done("me-1-i", "callback")
    assert not store.effect_done("me-api", "event")
    assert store.get_idempotency(inquiry_scope(ME), "k-1", START) is None
    assert store.get_idempotency(inquiry_scope(ME), "k-2", START) is None
    assert store.get_inquiry("me-erasure").customer_id == ME
    assert store.effect_done("me-erasure", "event")


def test_another_customers_records_are_all_kept(two_customers):
    store = two_customers
    messages = all_messages(store, "other-1")
    store.erase_customer(ME)
    kept_session = session("other-1", customer_id=OTHER, message_count=len(messages))
    assert store.get_session("other-1", START) == kept_session
    assert all_messages(store, "other-1") == messages
    assert store.get_inquiry("other-1-i").customer_id == OTHER
    assert store.get_inquiry("other-api").customer_id == OTHER
    assert store.get_idempotency(session_scope("other-1"), "turn-other-1", START) is not None
    kept = store.get_idempotency(inquiry_scope(OTHER), "k-1", START)
    assert kept.response == {"inquiry_id": "other-api"}
    assert store.effect_done("other-1-i", "callback") and store.effect_done("other-api", "event")
    # The dedupe marker is kept too: the inquiry's result is not appended a second time.
    again = NewMessage("system", "approved")
    assert store.append_once("other-1", again, "inquiry:other-1-i", START) == messages[-1]
    assert all_messages(store, "other-1") == messages


def test_erasing_again_finds_nothing_more(two_customers):
    store = two_customers
    store.erase_customer(ME, keep_inquiry_id="me-erasure")
    assert store.erase_customer(ME, keep_inquiry_id="me-erasure") == NOTHING
    assert store.get_inquiry("me-erasure") is not None
    assert store.erase_customer(ME) == Erasure((), 0, 1, 0)  # kept only while named
    assert store.get_inquiry("me-erasure") is None
    assert store.erase_customer(ME) == NOTHING


def test_a_customer_without_records_erases_nothing(two_customers):
    store = two_customers
    assert store.erase_customer("C999") == NOTHING
    assert len(all_messages(store, "me-1")) == 3
    assert store.get_inquiry("me-api") is not None


def test_the_customers_order_claims_are_kept(two_customers):
    """Kept whole, and still the order's one claim: erasing a customer frees no order."""
    store = two_customers
    returned = claim("A1001", customer_id=ME)
    store.append_turn(turn("return A1001", session_id="me-1", order_claim=returned))
    refunded = store.create_claim(claim("A1007", "refund", customer_id=ME, inquiry_id="me-api"))
    others = store.create_claim(claim("A2001", customer_id=OTHER))
    erased = store.erase_customer(ME, keep_inquiry_id="me-erasure")
    assert erased.messages == 8  # the return's turn went with its session
    assert [store.get_claim(o) for o in ("A1001", "A1007", "A2001")] == [
        returned,
        refunded,
        others,
    ]
    store.create_session(session("me-3", customer_id=ME))
    with pytest.raises(ClaimExists) as caught:
        store.append_turn(turn(session_id="me-3", order_claim=claim("A1001", customer_id=ME)))
    assert caught.value.existing == returned
    assert store.create_claim(claim("A1007", customer_id=ME)) == refunded


def test_an_inquirys_owner_is_stored_with_it(store):
    store.create_inquiry(inquiry("i1", customer_id="C042"), None)
    store.create_inquiry(inquiry("i2", customer_id=None), None)  # stored before owners were
    store.create_session(session())
    store.append_turn(turn(inquiry=inquiry("i3", customer_id="C001")))
    assert [store.get_inquiry(i).customer_id for i in ("i1", "i2", "i3")] == ["C042", None, "C001"]
    claimed = store.claim_inquiry("i1", "w", START, START + timedelta(minutes=1))
    assert claimed.inquiry.customer_id == "C042"
    done = store.finish_inquiry("i1", "w", InquiryStatus.SUCCEEDED, {}, None, START)
    assert done.customer_id == "C042"
    assert store.get_inquiry("i1").customer_id == "C042"
