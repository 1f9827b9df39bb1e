"""An Idempotency-Key retry returns the first answer and creates nothing twice."""

from __future__ import annotations

import threading

import pytest

from app.domain.errors import Conflict, InvalidInput
from tests.app.core_support import ALLOWED_HOST


def count(services, table):
    with services.store.db.read() as conn:
        return conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


@pytest.fixture
def session(services):
    return services.sessions.create("C004", {})


def test_a_retried_message_returns_the_first_answer_and_stores_nothing(services, session):
    text = "I want a refund for A1007, it arrived broken"
    first = services.conversation.post_message(
        session.id, text, idempotency_key="k-1", customer_id="C004"
    )
    again = services.conversation.post_message(
        session.id, text, idempotency_key="k-1", customer_id="C004"
    )
    assert again == first
    assert again.inquiry_id == first.inquiry_id is not None
    assert count(services, "messages") == 2
    assert count(services, "inquiries") == 1
    assert services.queue.counts() == {"pending": 1}


def test_a_key_is_scoped_to_its_session(services, session):
    other = services.sessions.create("C004", {})
    services.conversation.post_message(
        session.id, "hello", idempotency_key="same", customer_id="C004"
    )
    services.conversation.post_message(
        other.id, "hello", idempotency_key="same", customer_id="C004"
    )
    assert len(services.sessions.get(other.id, customer_id="C004")[1].messages) == 2


def test_a_key_reused_with_another_text_is_a_conflict(services, session):
    services.conversation.post_message(
        session.id, "hello", idempotency_key="k-2", customer_id="C004"
    )
    with pytest.raises(Conflict):
        services.conversation.post_message(
            session.id, "goodbye", idempotency_key="k-2", customer_id="C004"
        )
    assert count(services, "messages") == 2


def test_concurrent_retries_with_one_key_store_one_turn(services, session):
    text = "I want a refund for A1007, it arrived broken"
    barrier = threading.Barrier(8)
    outcomes = []

    def post():
        barrier.wait()
        outcomes.append(
            services.conversation.post_message(
                session.id, text, idempotency_key="k-3", customer_id="C004"
            )
        )

    threads = [threading.Thread(target=post) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(outcomes) == 8
    assert all(o == outcomes[0] for o in outcomes)
    assert count(services, "messages") == 2
    assert count(services, "inquiries") == 1


@pytest.mark.parametrize("key", ["", "x" * 201, "has space", "naïve"])
def test_malformed_keys_are_refused(services, session, key):
    with pytest.raises(InvalidInput) as caught:
        services.conversation.post_message(
            session.id, "hello", idempotency_key=key, customer_id="C004"
        )
    assert caught.value.field == "Idempotency-Key"
    assert count(services, "messages") == 0


def test_a_retried_inquiry_returns_the_first_one_and_queues_it_once(services):
    details = {"order_id": "A1007", "reason": "damaged"}
    first, created = services.inquiries.create(
        "refund_review", details, idempotency_key="i-1", customer_id="C004"
    )
    again, created_again = services.inquiries.create(
        "refund_review", details, idempotency_key="i-1", customer_id="C004"
    )
    assert (created, created_again) == (True, False)
    assert again.id == first.id
    assert count(services, "inquiries") == 1
    assert services.queue.counts() == {"pending": 1}


def test_an_inquiry_key_reused_with_another_body_is_a_conflict(services):
    services.inquiries.create(
        "refund_review", {"order_id": "A1007"}, idempotency_key="i-2", customer_id="C004"
    )
    with pytest.raises(Conflict):
        services.inquiries.create(
            "refund_review", {"order_id": "A1008"}, idempotency_key="i-2", customer_id="C004"
        )
    with pytest.raises(Conflict):
        services.inquiries.create(
            "refund_review",
            {"order_id": "A1007"},
            callback_url=f"https://{ALLOWED_HOST}/hook",
            idempotency_key="i-2",
            customer_id="C004",
        )
    assert count(services, "inquiries") == 1


def test_concurrent_inquiry_retries_create_one_inquiry(services):
    barrier = threading.Barrier(8)
    results = []

    def create():
        barrier.wait()
        results.append(
            services.inquiries.create(
                "account_export", {"customer_id": "C001"}, idempotency_key="i-3", customer_id="C001"
            )
        )

    threads = [threading.Thread(target=create) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({inquiry.id for inquiry, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert count(services, "inquiries") == 1
    assert services.queue.counts() == {"pending": 1}
