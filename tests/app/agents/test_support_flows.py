"""The stateful support agent's multi-turn flows, through the conversation service."""

from __future__ import annotations

import pytest

from app.domain.records import Route


@pytest.fixture
def session(services):
    """Ada, customer C003, who owns A1005."""
    return services.sessions.create("C003", {"name": "Ada"})


def session_of(services, customer_id):
    """A session of another customer, for a test about one of their orders."""
    return services.sessions.create(customer_id, {})


def say(services, session, text):
    return services.conversation.post_message(session.id, text, customer_id=session.customer_id)


def flow_of(services, session):
    return services.store.get_session(session.id, services.clock.now()).flow


def test_order_status_with_the_number_answers_at_once(services):
    session = session_of(services, "C002")  # A1003's owner
    outcome = say(services, session, "Where is my order A1003?")
    assert outcome.route is Route.SESSION
    assert outcome.reply.text == (
        "Order A1003 has shipped with DHL (tracking number DHL-1003250308) and was expected by "
        "6 March 2025, 6 days ago."
    )
    assert outcome.reply.data["order"]["status"] == "shipped"
    assert flow_of(services, session) == {}


@pytest.mark.parametrize(
    ("customer", "text", "says", "source"),
    [
        ("C002", "please cancel order A1004", "ask me for a person", "order_status:cancel"),
        ("C001", "cancel A1017", "can no longer be cancelled", "order_status:cancel"),
        ("C001", "I want to cancel A1001", "returns are possible within 30 days", None),
        ("C003", "Ich möchte A1006 stornieren", "nothing left to cancel", None),
        ("C001", "where is A1017", "should arrive by", "order_status"),
    ],
)
def test_asking_to_cancel_an_order_gets_its_status_and_what_can_still_be_done(
    services, customer, text, says, source
):
    outcome = say(services, session_of(services, customer), text)
    assert outcome.route is Route.SESSION
    assert says in outcome.reply.text
    assert outcome.source == (source or "order_status:cancel")
    assert outcome.reply.data["order"]["order_id"] in text


def test_a_damaged_order_gets_a_refund_review_offered_and_yes_opens_it(services):
    session = session_of(services, "C004")  # A1007's owner
    offered = say(services, session, "A1007 arrived broken")
    assert offered.source == "refund:offer"
    assert "Shall I start a refund review for order A1007?" in offered.reply.text
    opened = say(services, session, "yes")
    assert opened.route is Route.INQUIRY
    inquiry = services.inquiries.get(opened.inquiry_id, customer_id="C004")
    assert inquiry.details == {"order_id": "A1007", "reason": "damaged"}
    assert flow_of(services, session) == {}


@pytest.mark.parametrize(
    ("answer", "source"),
    [("no", "refund:declined"), ("where is A1008", "order_status"), ("cancel", "flow:cancelled")],
)
def test_an_offered_refund_review_can_be_declined_or_left(services, answer, source):
    session = session_of(services, "C004")
    say(services, session, "I received the wrong item in A1007")
    outcome = say(services, session, answer)
    assert (outcome.route, outcome.source) == (Route.SESSION, source)
    assert flow_of(services, session) == {}


def test_no_refund_is_offered_for_an_order_that_cannot_have_one(services):
    outcome = say(services, session_of(services, "C004"), "A1020 arrived broken")  # final sale
    assert outcome.source == "refund:answered"
    assert "final sale" in outcome.reply.text
    assert "Shall I" not in outcome.reply.text


def test_my_last_order_is_the_customers_most_recent(services):
    outcome = say(services, session_of(services, "C002"), "where is my last order?")
    assert outcome.reply.data["order"]["order_id"] == "A1004"  # placed a day ago; A1003, 12
    assert say(services, session_of(services, "C009"), "my last order").source == (
        "order_status:ask"  # no orders at all: the number is asked for
    )


def test_order_status_asks_for_the_number_when_missing(services):
    session = session_of(services, "C001")  # A1001's owner
    first = say(services, session, "Where is my order?")
    assert "Which order do you mean?" in first.reply.text
    assert flow_of(services, session)["name"] == "order_status"

    second = say(services, session, "It's A1001")
    assert second.reply.text == "Order A1001 was delivered on 2 March 2025."
    assert flow_of(services, session) == {}


def test_order_status_asks_again_for_an_unknown_order_then_gives_up(services, session):
    say(services, session, "Where is my order?")
    again = say(services, session, "A9999")
    assert again.reply.text.startswith("I cannot find order A9999.")
    assert flow_of(services, session)["asks"] == 2
    say(services, session, "hmm, I don't know")
    gave_up = say(services, session, "still no idea")
    assert "Ask me again" in gave_up.reply.text
    assert flow_of(services, session) == {}


def test_return_flow_collects_order_reason_and_confirmation(services, session):
    assert "Which order" in say(services, session, "I want to return something").reply.text
    asked_reason = say(services, session, "A1005")
    assert asked_reason.reply.text.startswith("Why are you returning order A1005?")
    confirm = say(services, session, "it's too small")
    assert "you return Rain jacket from order A1005 because it does not fit" in confirm.reply.text
    assert "We refund 99.00 EUR" in confirm.reply.text
    assert flow_of(services, session)["step"] == "confirm"

    unclear = say(services, session, "what do you mean?")
    assert unclear.reply.text.startswith("Please answer yes or no")

    done = say(services, session, "yes")
    assert done.reply.data["return"] == {
        "id": "RMA-A1005",
        "order_id": "A1005",
        "reason": "does_not_fit",
        "refund_cents": 9900,
    }
    assert flow_of(services, session) == {}


def test_return_flow_skips_questions_already_answered(services):
    session = session_of(services, "C004")  # A1007's owner
    reply = say(services, session, "I want to return A1007, the teapot arrived broken")
    assert reply.reply.text.startswith("To confirm: you return Ceramic teapot, Tea cups")
    assert "We refund 82.90 EUR" in reply.reply.text  # damaged: shipping refunded too


def test_return_declined_creates_nothing(services, session):
    say(services, session, "I want to return A1005 because I changed my mind")
    reply = say(services, session, "no")
    assert reply.reply.text == "Okay, I have not created a return for order A1005."
    assert "return" not in reply.reply.data


def test_undelivered_orders_cannot_be_returned(services):
    session = session_of(services, "C002")  # A1004's owner
    reply = say(services, session, "I want to return A1004")
    assert reply.reply.text == ("Order A1004 cannot be returned: it has not been delivered yet.")
    assert flow_of(services, session) == {}


def test_final_sale_items_are_excluded_from_a_return(services):
    session = session_of(services, "C007")  # A1013's owner
    reply = say(services, session, "I want to return A1013, I changed my mind")
    assert "Kitchen apron is final sale" in reply.reply.text
    assert "We refund 29.00 EUR" in reply.reply.text


def test_cancel_leaves_a_flow(services, session):
    say(services, session, "I want to return something")
    reply = say(services, session, "never mind")
    assert reply.reply.text.startswith("Okay, I have stopped the return.")
    assert flow_of(services, session) == {}


def test_no_to_an_open_question_leaves_the_flow_and_ok_asks_again(services, session):
    say(services, session, "I want to return A1005")  # waiting for the reason
    again = say(services, session, "ok")
    assert again.reply.text.startswith("I did not catch the reason.")
    assert flow_of(services, session)["step"] == "reason"
    left = say(services, session, "no")
    assert left.reply.text.startswith("Okay, I have stopped the return.")
    assert flow_of(services, session) == {}


def test_preferences_shape_the_greeting(services, session):
    assert say(services, session, "hello").reply.text == "Hello Ada! How can I help you today?"
