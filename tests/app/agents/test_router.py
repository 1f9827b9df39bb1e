"""The hybrid router: each turn goes to the FAQ, the support flow, or opens an inquiry."""

from __future__ import annotations

import pytest

from app.domain.records import InquiryStatus, Route
from app.ports.model import Intent, Understanding
from tests.app.core_support import drain


@pytest.fixture
def session(services):
    return services.sessions.create("C004", {})


def say(services, session, text):
    return services.conversation.post_message(session.id, text, customer_id=session.customer_id)


def inquiry_of(services, session, inquiry_id):
    return services.inquiries.get(inquiry_id, customer_id=session.customer_id)


def test_general_questions_go_to_the_faq(services, session):
    outcome = say(services, session, "Do you ship internationally?")
    assert outcome.route is Route.FAQ
    assert outcome.reply.data["faq_id"] == "faq-005"
    assert outcome.reply.text.startswith("We ship to every EU country")


def test_unintelligible_turns_get_what_the_assistant_can_do(services, session):
    outcome = say(services, session, "purple monkey dishwasher")
    assert outcome.route is Route.FAQ
    assert (outcome.source, outcome.reply.data["faq_id"]) == ("no_match", None)
    assert "I can't help with that" in outcome.reply.text


def test_an_unmatched_question_in_another_language_asks_for_english(services, session):
    outcome = say(services, session, "Wie lange dauert die Lieferung?")
    assert (outcome.route, outcome.source) == (Route.FAQ, "no_match")
    assert outcome.reply.text.startswith("I read your message in German")
    assert "please ask it in English" in outcome.reply.text
    assert "can't help" not in outcome.reply.text


def test_stop_with_nothing_in_progress_says_so(services, session):
    outcome = say(services, session, "stop")
    assert (outcome.route, outcome.source) == (Route.SESSION, "small_talk:cancel")
    assert "nothing is in progress" in outcome.reply.text


def test_asking_what_it_can_do_gets_what_it_can_do(services, session):
    outcome = say(services, session, "what can you do?")
    assert (outcome.route, outcome.source) == (Route.SESSION, "small_talk:capabilities")
    assert "look up your orders" in outcome.reply.text
    assert "can't help" not in outcome.reply.text


def test_cancelling_an_order_outside_a_flow_gets_the_faq_answer(services, session):
    outcome = say(services, session, "cancel my order")
    assert (outcome.route, outcome.reply.data["faq_id"]) == (Route.FAQ, "faq-030")


def test_a_model_that_reads_cancelling_an_order_as_cancel_still_gets_the_order_answered(
    services,
):
    session = services.sessions.create("C002", {})  # A1004's owner, still processing
    understood = Understanding(Intent.CANCEL, order_id="A1004", cancel_order=True)
    reply = services.conversation.router.decide(session, "cancel order A1004", understood)
    assert (reply.route, reply.source) == (Route.SESSION, "order_status:cancel")
    assert "ask me for a person" in reply.text


def test_order_questions_go_to_the_support_flow(services):
    session = services.sessions.create("C002", {})  # A1003's owner
    outcome = say(services, session, "Where is my order A1003?")
    assert outcome.route is Route.SESSION
    assert outcome.reply.data["order"]["order_id"] == "A1003"


def test_a_refund_request_opens_a_refund_review_inquiry(services, session):
    outcome = say(services, session, "I want a refund for A1007, it arrived broken")
    assert outcome.route is Route.INQUIRY
    assert outcome.inquiry_id is not None
    assert outcome.reply.data["inquiry_id"] == outcome.inquiry_id
    inquiry = inquiry_of(services, session, outcome.inquiry_id)
    assert inquiry.kind == "refund_review"
    assert inquiry.details == {"order_id": "A1007", "reason": "damaged"}
    assert inquiry.session_id == session.id
    assert inquiry.customer_id == "C004"  # the session's customer owns it
    assert inquiry.status is InquiryStatus.QUEUED
    assert services.queue.counts() == {"pending": 1}


def test_the_inquiry_result_lands_in_the_same_session(services, session):
    outcome = say(services, session, "I want a refund for A1007, it arrived broken")
    assert drain(services) == 1
    messages = services.sessions.get(session.id, customer_id="C004")[1].messages
    last = messages[-1]
    assert last.role == "system"
    assert last.route == "inquiry"
    assert last.data == {
        "inquiry_id": outcome.inquiry_id,
        "kind": "refund_review",
        "status": "succeeded",
    }
    assert last.text.startswith("Refund review for order A1007: approved. 82.90 EUR")


def test_a_refund_without_an_order_number_asks_for_it_first(services, session):
    asked = say(services, session, "I want my money back, the item was damaged")
    assert asked.route is Route.SESSION
    assert asked.inquiry_id is None
    opened = say(services, session, "A1007")
    assert opened.route is Route.INQUIRY
    assert inquiry_of(services, session, opened.inquiry_id).details == {
        "order_id": "A1007",
        "reason": "damaged",
    }


def test_an_export_request_opens_an_account_export_for_the_sessions_customer(services, session):
    outcome = say(services, session, "Please export my account data")
    assert outcome.route is Route.INQUIRY
    inquiry = inquiry_of(services, session, outcome.inquiry_id)
    assert (inquiry.details, inquiry.customer_id) == ({"customer_id": "C004"}, "C004")


def test_continuing_a_flow_wins_over_re_routing(services):
    session = services.sessions.create("C003", {})  # A1005's owner
    say(services, session, "I want to return something")
    assert say(services, session, "A1005").reply.text.startswith("Why are you returning")
    # Words that would open a refund inquiry on their own answer the flow's question instead.
    outcome = say(services, session, "I want a refund, it arrived broken")
    assert outcome.route is Route.SESSION
    assert outcome.inquiry_id is None
    assert "because it arrived damaged" in outcome.reply.text
    assert services.queue.counts() == {}


def test_every_turn_stores_the_customer_message_and_the_reply(services, session):
    say(services, session, "Do you ship internationally?")
    say(services, session, "Where is my order A1007?")
    messages = services.sessions.get(session.id, customer_id="C004")[1].messages
    assert [(m.seq, m.role) for m in messages] == [
        (1, "customer"),
        (2, "agent"),
        (3, "customer"),
        (4, "agent"),
    ]
    assert [m.route for m in messages] == [None, "faq", None, "session"]
