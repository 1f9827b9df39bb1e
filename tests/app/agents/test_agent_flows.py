"""What issue 12 asks of the conversation: questions inside flows, unusable answers, a changed
order number, small talk, a person, other languages, and the once-only rules for returns and
refunds, enforced by the store even when two requests race."""

from __future__ import annotations

import threading

import pytest

from app.domain.records import Delivery, InquiryStatus, Route


def say(services, session, text):
    return services.conversation.post_message(session.id, text, customer_id=session.customer_id)


def flow_of(services, session):
    return services.store.get_session(session.id, services.clock.now()).flow


@pytest.fixture
def c001(services):
    """A session of C001, who owns A1001 (delivered 10 days ago: returnable)."""
    return services.sessions.create("C001", {})


def test_a_question_inside_a_return_is_answered_and_the_flow_asks_again(services, c001):
    say(services, c001, "I want to return A1001")
    before = flow_of(services, c001)
    outcome = say(services, c001, "how long do refunds take?")
    assert outcome.route is Route.FAQ and outcome.source == "faq-019"
    assert "3 business days" in outcome.reply.text
    assert outcome.reply.text.endswith(
        "Why are you returning order A1001? For example: it doesn't fit, it arrived damaged, "
        "it was the wrong item, or you changed your mind."
    )
    assert flow_of(services, c001) == before  # still waiting for the reason
    confirm = say(services, c001, "it arrived damaged")
    assert "93.90 EUR" in confirm.reply.text  # the reason counts, not the question


@pytest.mark.parametrize("answer", ["what do you mean?", "blue", "hmm"])
def test_an_answer_the_flow_cannot_use_is_asked_again_with_the_options(services, c001, answer):
    say(services, c001, "I want to return A1001")
    outcome = say(services, c001, answer)
    assert outcome.route is Route.SESSION
    assert "damaged" in outcome.reply.text and "changed your mind" in outcome.reply.text
    assert "To confirm" not in outcome.reply.text  # nothing was guessed
    assert flow_of(services, c001)["step"] == "reason"


def test_the_flow_gives_up_after_three_unusable_answers(services, c001):
    say(services, c001, "I want to return A1001")
    for _ in range(2):
        say(services, c001, "blue")
    assert "leave it there" in say(services, c001, "blue").reply.text
    assert flow_of(services, c001) == {}


def test_the_order_number_can_change_in_the_middle_of_a_flow(services):
    session = services.sessions.create("C002", {})  # A1018 returnable, A1004 processing
    say(services, session, "I'd like to return A1004")  # refused: not delivered
    say(services, session, "I want to return something")
    say(services, session, "A1018")
    assert flow_of(services, session)["order_id"] == "A1018"
    outcome = say(services, session, "sorry, I meant A1004")
    assert "A1004 cannot be returned" in outcome.reply.text
    assert flow_of(services, session) == {}


def test_small_talk_in_a_flow_keeps_the_flow(services, c001):
    say(services, c001, "I want to return A1001")
    outcome = say(services, c001, "thanks")
    assert outcome.reply.text.startswith("You're welcome!")
    assert "Why are you returning order A1001?" in outcome.reply.text
    assert flow_of(services, c001)["step"] == "reason"


def test_a_refund_asked_inside_a_return_is_for_the_same_order(services, c001):
    say(services, c001, "I want to return A1001")
    outcome = say(services, c001, "actually I just want a refund")
    assert outcome.route is Route.INQUIRY
    inquiry = services.inquiries.get(outcome.inquiry_id, customer_id="C001")
    assert inquiry.details["order_id"] == "A1001"


@pytest.mark.parametrize(
    ("text", "intent", "start"),
    [
        ("hi", "greeting", "Hello!"),
        ("thanks!", "thanks", "You're welcome!"),
        ("bye", "goodbye", "Goodbye"),
        ("how are you?", "small_talk", "I'm doing well"),
    ],
)
def test_small_talk_gets_a_brief_kind_answer(services, c001, text, intent, start):
    outcome = say(services, c001, text)
    assert (outcome.route, outcome.intent) == (Route.SESSION, intent)
    assert outcome.reply.text.startswith(start)
    assert len(outcome.reply.text) < 90


def test_asking_for_a_person_is_acknowledged_as_a_handoff(services, c001):
    say(services, c001, "I want to return A1001")
    outcome = say(services, c001, "can I talk to a human?")
    assert (outcome.route, outcome.intent, outcome.source) == (Route.HANDOFF, "human", "human")
    assert "member of our support team" in outcome.reply.text
    assert flow_of(services, c001) == {}


def test_off_topic_questions_get_what_the_assistant_can_do(services, c001):
    for text in ("what is 2+2", "do you sell iphones?", "write me a poem about autumn"):
        outcome = say(services, c001, text)
        assert (outcome.route, outcome.source) == (Route.FAQ, "no_match"), text
        assert "I can't help with that" in outcome.reply.text
        assert "gift card" not in outcome.reply.text


@pytest.mark.parametrize(
    ("text", "language", "fact"),
    [
        ("Wo ist meine Bestellung A1001?", "German", "was delivered on"),
        ("Je veux retourner la commande A1001", "French", "Why are you returning order A1001"),
        ("Quiero hablar con una persona", "Spanish", "support team"),
    ],
)
def test_other_languages_are_understood_and_answered_in_english(
    services, c001, text, language, fact
):
    outcome = say(services, c001, text)
    assert outcome.reply.text.startswith(f"I read your message in {language}; I answer in English.")
    assert fact in outcome.reply.text


def test_each_answer_says_which_agent_answered_and_from_what(services, c001):
    faq = say(services, c001, "Is shipping free?")
    assert (faq.route, faq.source, faq.intent) == (Route.FAQ, "faq-002", "question")
    status = say(services, c001, "where is A1001?")
    assert (status.route, status.source, status.intent) == (
        Route.SESSION,
        "order_status",
        "order_status",
    )
    assert status.reply.data["source"] == "order_status"


def test_a_return_is_created_once_per_order(services, c001):
    say(services, c001, "I want to return A1001, it doesn't fit")
    assert "Return RMA-A1001 is created" in say(services, c001, "yes").reply.text
    assert services.store.get_claim("A1001").claim_id == "RMA-A1001"
    again = say(services, c001, "I want to return A1001, it doesn't fit")
    assert "cannot be returned: it already has a return, RMA-A1001" in again.reply.text
    assert flow_of(services, c001) == {}
    refund = say(services, c001, "refund A1001 please")
    assert refund.inquiry_id is None and "already has a return" in refund.reply.text


def test_two_sessions_confirming_one_return_at_once_create_one(services):
    sessions = [services.sessions.create("C001", {}) for _ in range(4)]
    for session in sessions:
        say(services, session, "I want to return A1001, it doesn't fit")
    answers: list[str] = []
    barrier = threading.Barrier(len(sessions))

    def confirm(session) -> None:
        barrier.wait()
        answers.append(say(services, session, "yes").reply.text)

    threads = [threading.Thread(target=confirm, args=(s,)) for s in sessions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum("is created" in a for a in answers) == 1
    assert sum("cannot be returned again" in a for a in answers) == len(sessions) - 1


def test_two_refund_reviews_of_one_order_approve_at_most_one(services):
    session = services.sessions.create("C004", {})
    inquiries = [
        services.inquiries.create(
            "refund_review",
            {"order_id": "A1007", "reason": "damaged"},
            customer_id="C004",
            session_id=session.id,
        )[0]
        for _ in range(3)
    ]
    barrier = threading.Barrier(len(inquiries))

    def review(inquiry) -> None:
        barrier.wait()
        services.worker.handle(Delivery(inquiry.id, f"m-{inquiry.id}", 1))

    threads = [threading.Thread(target=review, args=(i,)) for i in inquiries]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results = [services.inquiries.get(i.id, customer_id="C004") for i in inquiries]
    assert all(r.status is InquiryStatus.SUCCEEDED for r in results)
    decisions = sorted(r.result["decision"] for r in results)
    assert decisions == ["approved", "rejected", "rejected"]
    winner = next(r for r in results if r.result["decision"] == "approved")
    assert services.store.get_claim("A1007").inquiry_id == winner.id
    # and the conversation answers at once from then on, opening nothing
    outcome = say(services, session, "I want a refund for A1007, it arrived broken")
    assert outcome.route is Route.SESSION and outcome.inquiry_id is None
    assert "already been refunded: RF-A1007, 82.90 EUR, approved" in outcome.reply.text


def test_a_late_parcel_is_refunded_only_after_the_grace_period(services):
    session = services.sessions.create("C007", {})  # A1014: expected yesterday
    outcome = say(services, session, "A1014 never arrived, I want a refund")
    assert outcome.route is Route.SESSION and "investigation" in outcome.reply.text
    services.clock.advance(5 * 86400)
    late = services.sessions.create("C002", {})  # A1003: 6 days late
    outcome = say(services, late, "A1003 never arrived, I want my money back")
    assert outcome.route is Route.INQUIRY
