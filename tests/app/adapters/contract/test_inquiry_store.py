"""Inquiries: stored whole, leased to one holder, finished once, side effects recorded once."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from app.domain.leases import ClaimState, LeaseLost
from app.domain.records import InquiryStatus
from tests.app.adapters.contract.builders import START, inquiry

MINUTE = timedelta(minutes=1)


def test_an_inquiry_reads_back_as_stored(store):
    stored = inquiry(callback_url="https://hooks.example.com/x", session_id=None)
    store.create_inquiry(stored, None)
    assert store.get_inquiry("i1") == stored
    assert store.get_inquiry("nope") is None


def test_unpublished_inquiries_are_found_oldest_first_until_published(store):
    for n in range(4):
        at = START + n * MINUTE
        store.create_inquiry(inquiry(f"i{n}", created_at=at, updated_at=at), None)
    store.mark_published("i1")
    store.mark_published("unknown")  # nothing to mark: no error
    cutoff = START + 3 * MINUTE
    assert store.unpublished_inquiries(cutoff, 10) == ["i0", "i2"]  # i3 is not old enough
    assert store.unpublished_inquiries(cutoff, 1) == ["i0"]
    store.claim_inquiry("i0", "w", START, START + MINUTE)  # running: not in the sweep any more
    assert store.unpublished_inquiries(cutoff, 10) == ["i2"]


def test_claims_lease_the_inquiry_to_one_holder(store):
    store.create_inquiry(inquiry(), None)
    until = START + MINUTE
    first = store.claim_inquiry("i1", "a", START, until)
    assert first.state is ClaimState.ACQUIRED
    assert (first.inquiry.status, first.inquiry.attempts) == (InquiryStatus.RUNNING, 1)
    assert store.get_inquiry("i1") == first.inquiry
    busy = store.claim_inquiry("i1", "b", START, until)
    assert (busy.state, busy.inquiry.attempts) == (ClaimState.BUSY, 1)
    with pytest.raises(LeaseLost):
        store.finish_inquiry("i1", "b", InquiryStatus.SUCCEEDED, {}, None, START)
    # After the lease runs out another holder takes over, and the first one has lost it.
    taken = store.claim_inquiry("i1", "b", until, until + MINUTE)
    assert (taken.state, taken.inquiry.attempts) == (ClaimState.ACQUIRED, 2)
    with pytest.raises(LeaseLost):
        store.finish_inquiry("i1", "a", InquiryStatus.SUCCEEDED, {}, None, until)
    assert store.claim_inquiry("nope", "c", START, until).state is ClaimState.MISSING


def test_an_inquiry_is_finished_once_and_then_settled(store):
    store.create_inquiry(inquiry(), None)
    store.claim_inquiry("i1", "a", START, START + MINUTE)
    result = {"decision": "approved", "steps": [{"step": "lookup"}]}
    done = store.finish_inquiry("i1", "a", InquiryStatus.SUCCEEDED, result, None, START + MINUTE)
    assert (done.status, done.result, done.error, done.updated_at) == (
        InquiryStatus.SUCCEEDED,
        result,
        None,
        START + MINUTE,
    )
    assert store.get_inquiry("i1") == done
    store.release_inquiry("i1", "someone-else", settled=True, now=START)  # not the holder
    assert store.claim_inquiry("i1", "b", START, START + MINUTE).state is ClaimState.BUSY
    store.release_inquiry("i1", "a", settled=True, now=START)
    settled = store.claim_inquiry("i1", "c", START, START + MINUTE)
    assert (settled.state, settled.inquiry) == (ClaimState.SETTLED, done)
    with pytest.raises(LeaseLost):  # released: nobody holds it, nobody can finish it again
        store.finish_inquiry("i1", "a", InquiryStatus.FAILED, None, "late", START)
    assert store.get_inquiry("i1") == done


def test_claiming_a_finished_inquiry_again_changes_nothing_a_resent_callback_carries(store):
    """A delivery cut off after the result was recorded is redelivered, claims the finished
    inquiry again and resends its callback: with the same body as the first send."""
    store.create_inquiry(inquiry(), None)
    store.claim_inquiry("i1", "a", START, START + MINUTE)
    done = store.finish_inquiry("i1", "a", InquiryStatus.SUCCEEDED, {"ok": 1}, None, START)
    later = START + 5 * MINUTE
    again = store.claim_inquiry("i1", "b", later, later + MINUTE)  # a's lease ran out
    assert again.state is ClaimState.ACQUIRED
    assert again.inquiry == done
    assert store.get_inquiry("i1") == done


def test_a_released_unsettled_inquiry_is_claimed_again_without_a_new_attempt(store):
    store.create_inquiry(inquiry(), None)
    store.claim_inquiry("i1", "a", START, START + MINUTE)
    store.finish_inquiry("i1", "a", InquiryStatus.FAILED, None, "order gone", START)
    store.release_inquiry("i1", "a", settled=False, now=START)
    again = store.claim_inquiry("i1", "b", START, START + MINUTE)
    assert (again.state, again.inquiry.status, again.inquiry.attempts) == (
        ClaimState.ACQUIRED,
        InquiryStatus.FAILED,
        1,
    )
    assert again.inquiry.error == "order gone"


def test_a_final_inquiry_is_not_counted_as_a_new_attempt(store):
    store.create_inquiry(replace(inquiry(), status=InquiryStatus.SUCCEEDED, attempts=1), None)
    claim = store.claim_inquiry("i1", "a", START, START + MINUTE)
    assert (claim.state, claim.inquiry.status, claim.inquiry.attempts) == (
        ClaimState.ACQUIRED,
        InquiryStatus.SUCCEEDED,
        1,
    )


def test_side_effects_are_recorded_once(store):
    store.create_inquiry(inquiry(), None)
    store.create_inquiry(inquiry("i2"), None)
    assert not store.effect_done("i1", "callback")
    store.record_effect("i1", "callback", "delivered", START)
    store.record_effect("i1", "callback", "gave_up", START + MINUTE)
    store.record_effect("i1", "event", "published", START)
    assert store.effect_done("i1", "callback") and store.effect_done("i1", "event")
    assert not store.effect_done("i2", "callback")
    assert store.effect_outcomes("i1") == {"callback": "delivered", "event": "published"}
