"""Customers never see each other's data: at the services, another customer's session, order
or inquiry answers exactly like one that does not exist, and nothing is done or stored for it.
"""

from __future__ import annotations

import pytest

from app.agents.orders import OrderBook
from app.agents.support import ASK_ORDER
from app.domain.errors import Conflict, Forbidden, NotFound
from app.domain.records import InquiryStatus, Route
from tests.app.adapters.contract.builders import all_messages
from tests.app.core_support import ORDER_OWNERS, owner_of

UNKNOWN = "A9999"  # an order number nobody has


def count(services, table):
    with services.store.db.read() as conn:
        return conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def flow_of(services, session):
    return services.store.get_session(session.id, services.clock.now()).flow


def conversation(services, customer, turns):
    """Each turn's (route, text, data, inquiry_id) in a new session of the customer, and the
    flow the session is left in."""
    session = services.sessions.create(customer, {})
    outcomes = [
        services.conversation.post_message(session.id, text, customer_id=customer) for text in turns
    ]
    answers = [(o.route, o.reply.text, o.reply.data, o.inquiry_id) for o in outcomes]
    return answers, flow_of(services, session)


def with_order(answers, order_id):
    """The answers with the unknown order's number replaced by `order_id`."""
    return [
        (route, text.replace(UNKNOWN, order_id), data, inquiry_id)
        for route, text, data, inquiry_id in answers
    ]


# --- the sample data the tests rely on ---


def test_the_owner_table_of_the_tests_is_the_shipped_data():
    orders = OrderBook()
    assert {order_id: orders.get(order_id).customer_id for order_id in ORDER_OWNERS} == (
        ORDER_OWNERS
    )
    assert orders.customer_ids() == tuple(f"C00{n}" for n in range(1, 9))


def test_an_order_book_gives_a_customer_their_own_orders_only():
    orders = OrderBook()
    assert orders.owned("C002", "a1003").id == "A1003"
    assert orders.owned("C001", "A1003") is None
    assert orders.owned("C001", UNKNOWN) is None


# --- sessions ---


def test_another_customers_session_reads_as_unknown(services):
    session = services.sessions.create("C002", {})
    services.conversation.post_message(session.id, "hello", customer_id="C002")
    assert len(services.sessions.get(session.id, customer_id="C002")[1].messages) == 2
    for session_id in (session.id, "0" * 32):
        with pytest.raises(NotFound) as caught:
            services.sessions.get(session_id, customer_id="C001")
        assert caught.value.detail == f"session {session_id!r} does not exist or has expired"


def test_posting_to_another_customers_session_is_not_found_and_stores_nothing(services):
    session = services.sessions.create("C002", {})
    services.conversation.post_message(session.id, "Where is my order?", customer_id="C002")
    flow = flow_of(services, session)
    assert flow["name"] == "order_status"
    for text in ("A1003", "I want a refund for A1001", "hello"):
        with pytest.raises(NotFound) as caught:
            services.conversation.post_message(session.id, text, customer_id="C001")
        assert caught.value.detail == f"session {session.id!r} does not exist or has expired"
    assert len(all_messages(services.store, session.id)) == 2
    assert flow_of(services, session) == flow  # the owner's flow was not advanced
    assert count(services, "inquiries") == 0


def test_a_replayed_key_on_another_customers_session_is_not_found(services):
    session = services.sessions.create("C004", {})
    text = "I want a refund for A1007, it arrived broken"
    first = services.conversation.post_message(session.id, text, "k-1", customer_id="C004")
    assert first.inquiry_id is not None
    for replayed in (text, "another text"):  # neither the first answer nor a Conflict
        with pytest.raises(NotFound):
            services.conversation.post_message(session.id, replayed, "k-1", customer_id="C001")
    # The owner's retry still gets the first answer.
    again = services.conversation.post_message(session.id, text, "k-1", customer_id="C004")
    assert again == first
    with pytest.raises(Conflict):
        services.conversation.post_message(session.id, "another text", "k-1", customer_id="C004")
    assert count(services, "messages") == 2
    assert count(services, "inquiries") == 1


# --- the support flows: another customer's order is an unknown order ---

SCRIPTS = {
    "status": ["Where is my order {order}?"],
    "status-mid-flow": ["Where is my order?", "{order}"],
    "return": ["I want to return {order}, it arrived broken"],
    "return-mid-flow": ["I want to return something", "{order}"],
    "refund": ["I want a refund for {order}, it arrived broken"],
    "refund-mid-flow": ["I want my money back, the item was damaged", "{order}"],
}
# Words of the other customer's orders that must not reach C001 (status, carrier, tracking,
# items, amounts).
SECRETS = {
    "A1003": ("shipped", "DHL", "1003250308", "14 March", "delivered", "EUR"),
    "A1007": ("delivered", "teapot", "cups", "82.90", "78.00", "EUR"),
}


@pytest.mark.parametrize("order_id", sorted(SECRETS))
@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_another_customers_order_is_answered_as_an_unknown_order(services, script, order_id):
    turns = SCRIPTS[script]
    assert owner_of(order_id) != "C001"
    other, other_flow = conversation(services, "C001", [t.format(order=order_id) for t in turns])
    unknown, unknown_flow = conversation(services, "C001", [t.format(order=UNKNOWN) for t in turns])

    assert other == with_order(unknown, order_id)
    assert other_flow == unknown_flow
    route, text, data, inquiry_id = other[-1]
    assert (route, text, inquiry_id) == (
        Route.SESSION,
        f"I cannot find order {order_id}. {ASK_ORDER}",
        None,
    )
    assert "order" not in data and "return" not in data
    for secret in SECRETS[order_id]:
        assert secret not in str(other), secret
    assert count(services, "inquiries") == 0
    assert services.queue.counts() == {}

    # The owner, with the same words, gets a real answer (so the check above can fail).
    owned, _ = conversation(services, owner_of(order_id), [t.format(order=order_id) for t in turns])
    assert not owned[-1][1].startswith("I cannot find order")


def test_the_owner_of_the_order_gets_the_refund_inquiry_the_other_customer_does_not(services):
    owned, _ = conversation(services, "C004", ["I want a refund for A1007, it arrived broken"])
    route, _, _, inquiry_id = owned[0]
    assert route is Route.INQUIRY
    inquiry = services.inquiries.get(inquiry_id, customer_id="C004")
    assert (inquiry.customer_id, inquiry.details["order_id"]) == ("C004", "A1007")
    conversation(services, "C001", ["I want a refund for A1007, it arrived broken"])
    assert count(services, "inquiries") == 1


def test_an_order_number_in_lower_case_is_named_as_written_in_upper_case(services):
    answers, _ = conversation(services, "C001", ["Where is my order a1003?"])
    assert answers[0][1] == f"I cannot find order A1003. {ASK_ORDER}"


def test_another_customers_order_mid_flow_uses_up_the_asks_like_an_unknown_one(services):
    turns = ["Where is my order?", "A1003", "A1007", "A1009"]
    answers, flow = conversation(services, "C001", turns)
    assert [text for _, text, _, _ in answers[1:3]] == [
        f"I cannot find order A1003. {ASK_ORDER}",
        f"I cannot find order A1007. {ASK_ORDER}",
    ]
    assert "Ask me again" in answers[3][1]  # gave up, as after three unknown orders
    assert flow == {}


# --- inquiries ---


@pytest.mark.parametrize("order_id", ["A1003", "a1007", "A1099"])
def test_a_refund_review_of_an_order_not_the_callers_is_not_found_and_stores_nothing(
    services, order_id
):
    with pytest.raises(NotFound) as caught:
        services.inquiries.create(
            "refund_review",
            {"order_id": order_id, "reason": "damaged"},
            idempotency_key="k-1",
            customer_id="C001",
        )
    assert caught.value.field == "details.order_id"
    assert caught.value.detail == f"order {order_id.upper()} does not exist"
    assert count(services, "inquiries") == 0
    assert count(services, "idempotency") == 0
    assert services.queue.counts() == {}
    # The caller's own order is accepted with the same body.
    inquiry, created = services.inquiries.create(
        "refund_review", {"order_id": "A1001", "reason": "damaged"}, customer_id="C001"
    )
    assert created and inquiry.customer_id == "C001"


def test_another_customers_session_is_not_found_for_an_inquiry(services):
    theirs = services.sessions.create("C002", {})
    for session_id in (theirs.id, "0" * 32):
        with pytest.raises(NotFound) as caught:
            services.inquiries.create(
                "refund_review", {"order_id": "A1001"}, session_id=session_id, customer_id="C001"
            )
        assert caught.value.field == "session_id"
        assert caught.value.detail == f"session_id {session_id!r} does not exist or has expired"
    with pytest.raises(NotFound) as caught:
        services.inquiries.create("account_export", {}, session_id=theirs.id, customer_id="C001")
    assert caught.value.field == "session_id"
    assert count(services, "inquiries") == 0
    assert services.queue.counts() == {}
    assert all_messages(services.store, theirs.id) == []


def test_an_export_of_another_customers_account_is_forbidden_and_stores_nothing(services):
    with pytest.raises(Forbidden) as caught:
        services.inquiries.create(
            "account_export", {"customer_id": "C002"}, idempotency_key="k-1", customer_id="C001"
        )
    assert (caught.value.status, caught.value.field) == (403, "details.customer_id")
    assert count(services, "inquiries") == 0
    assert count(services, "idempotency") == 0
    assert services.queue.counts() == {}
    for details in ({"customer_id": "C001"}, {}):  # the caller's own, named or not
        inquiry, _ = services.inquiries.create("account_export", details, customer_id="C001")
        assert (inquiry.details, inquiry.customer_id) == ({"customer_id": "C001"}, "C001")


def test_another_customers_inquiry_reads_as_unknown(services):
    inquiry, _ = services.inquiries.create(
        "refund_review", {"order_id": "A1007"}, customer_id="C004"
    )
    assert services.inquiries.get(inquiry.id, customer_id="C004") == inquiry
    for inquiry_id in (inquiry.id, "0" * 32):
        with pytest.raises(NotFound) as caught:
            services.inquiries.get(inquiry_id, customer_id="C001")
        assert caught.value.detail == f"inquiry {inquiry_id!r} does not exist"


def test_one_idempotency_key_from_two_customers_makes_two_inquiries(services):
    first, first_created = services.inquiries.create(
        "account_export", {}, idempotency_key="same", customer_id="C001"
    )
    second, second_created = services.inquiries.create(
        "account_export", {}, idempotency_key="same", customer_id="C002"
    )
    assert (first_created, second_created) == (True, True)
    assert first.id != second.id
    assert (first.customer_id, first.details) == ("C001", {"customer_id": "C001"})
    assert (second.customer_id, second.details) == ("C002", {"customer_id": "C002"})
    # A third customer's different body under the same key is no Conflict either.
    third, _ = services.inquiries.create(
        "refund_review", {"order_id": "A1007"}, idempotency_key="same", customer_id="C004"
    )
    assert third.id not in (first.id, second.id)
    # Each customer's retry finds their own inquiry.
    for customer, inquiry in (("C001", first), ("C002", second)):
        again, created = services.inquiries.create(
            "account_export", {}, idempotency_key="same", customer_id=customer
        )
        assert (again.id, created) == (inquiry.id, False)
    assert count(services, "inquiries") == 3
    assert services.queue.counts() == {"pending": 3}


def test_an_inquiry_done_for_its_owner_is_still_unknown_to_others(services):
    inquiry, _ = services.inquiries.create("account_export", {}, customer_id="C002")
    assert services.queue.drain(services.worker.handle) == 1
    done = services.inquiries.get(inquiry.id, customer_id="C002")
    assert done.status is InquiryStatus.SUCCEEDED
    assert [o["order_id"] for o in done.result["orders"]] == ["A1003", "A1004", "A1018"]
    with pytest.raises(NotFound):
        services.inquiries.get(inquiry.id, customer_id="C001")
