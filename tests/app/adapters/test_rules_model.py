"""The default model classifies turns by rules: the same words, the same intent, offline."""

from __future__ import annotations

import pytest

from app.adapters.rules_model import RulesModel, find_order_id
from app.ports.model import Intent


@pytest.mark.parametrize(
    ("text", "intent", "order_id", "reason"),
    [
        ("Where is my order A1003?", Intent.ORDER_STATUS, "A1003", None),
        ("Where is my order?", Intent.ORDER_STATUS, None, None),
        ("a1003", Intent.ORDER_STATUS, "A1003", None),
        ("I want a refund for A1007, it arrived broken", Intent.REFUND, "A1007", "damaged"),
        ("I want my money back", Intent.REFUND, None, None),
        ("How long does a refund take?", Intent.QUESTION, None, None),
        ("I'd like to return something", Intent.RETURN, None, None),
        ("Can I return A1005? It doesn't fit", Intent.RETURN, "A1005", "does_not_fit"),
        ("How do I return an item?", Intent.QUESTION, None, None),
        ("Please export my account data", Intent.ACCOUNT_EXPORT, None, None),
        ("How can I get a copy of my personal data?", Intent.QUESTION, None, None),
        ("How can I track my order?", Intent.QUESTION, None, None),
        ("yes please", Intent.CONFIRM, None, None),
        ("no", Intent.DENY, None, None),
        ("never mind", Intent.CANCEL, None, None),
        ("Hello!", Intent.GREETING, None, None),
        ("Do you ship to Norway?", Intent.QUESTION, None, None),
    ],
)
def test_intents(model, text, intent, order_id, reason):
    understood = model.understand(text)
    assert (understood.intent, understood.order_id, understood.reason) == (intent, order_id, reason)


@pytest.fixture(scope="module")
def model() -> RulesModel:
    return RulesModel()


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        # small talk is answered as such, not with the FAQ
        ("thanks!", Intent.THANKS),
        ("thank you so much, that was helpful", Intent.THANKS),
        ("bye", Intent.GOODBYE),
        ("ok thanks, have a nice day", Intent.THANKS),
        ("how are you?", Intent.SMALL_TALK),
        ("are you a bot?", Intent.SMALL_TALK),
        # asking for a person, not asking about one
        ("can I talk to a human?", Intent.HUMAN),
        ("agent!", Intent.HUMAN),
        ("get me a real person please", Intent.HUMAN),
        ("why does a staff member check big refunds?", Intent.QUESTION),
        ("How can I contact customer service?", Intent.QUESTION),
        # telling what a person said is not asking for one
        ("your staff member said I'd get a refund for A1001", Intent.REFUND),
        ("the manager promised me free shipping", Intent.QUESTION),
        ("last time the agent was great, can I talk to one", Intent.HUMAN),
        # typos and missing words
        ("wher is my ordr A1017", Intent.ORDER_STATUS),
        ("refnd A1002 pls", Intent.REFUND),
        ("retrun A1001", Intent.RETURN),
        ("what about order A1017", Intent.ORDER_STATUS),
        ("can i tlak to a human", Intent.HUMAN),
        # rules versus actions
        ("what are your return rules?", Intent.QUESTION),
        ("I want to send A1001 back", Intent.RETURN),
        ("A1005 is too big", Intent.RETURN),  # only a return answers that
        ("I changed my mind about A1005", Intent.RETURN),
        ("can you cancel A1017? I don't need it anymore", Intent.ORDER_STATUS),
        ("what data do you have about me? download it for me", Intent.ACCOUNT_EXPORT),
        ("can you send me a copy of my data", Intent.ACCOUNT_EXPORT),
        ("can I get a data export?", Intent.ACCOUNT_EXPORT),  # a request, asked as a question
        ("can I get a refund?", Intent.QUESTION),  # ...but this one asks how it works
        ("I want a list of all my orders", Intent.ACCOUNT_EXPORT),
        # where one's own order stands is a lookup, even when asked like a question
        ("what's the status of my order?", Intent.ORDER_STATUS),
        ("when will I get my parcel", Intent.ORDER_STATUS),
        # ...but "delivered, yet not here" and "when is my money back" are the FAQ's
        ("my package says delivered but it's not here", Intent.QUESTION),
        ("when will I see my money back", Intent.QUESTION),
        ("still no refund after a week", Intent.QUESTION),
        ("my refund is under review why", Intent.QUESTION),
        ("can I pay later", Intent.QUESTION),  # not a goodbye
        ("stop sending me newsletters", Intent.QUESTION),  # not cancelling a flow
        ("stop", Intent.CANCEL),
        ("hw long do refnds take", Intent.QUESTION),
        ("wen will my refnd arrive", Intent.QUESTION),
        ("wheres my oder", Intent.ORDER_STATUS),
        ("invoice for my order", Intent.QUESTION),  # the FAQ's, not a lookup
        ("my order please", Intent.ORDER_STATUS),
        ("has my headphones order shipped", Intent.ORDER_STATUS),
        ("I ordered something last week and it hasn't come", Intent.ORDER_STATUS),
        ("yesss", Intent.CONFIRM),
        # German, French, Spanish
        ("Wo ist meine Bestellung A1017?", Intent.ORDER_STATUS),
        ("Wo bleibt meine Lieferung?", Intent.ORDER_STATUS),
        ("Rückgabe A1007", Intent.RETURN),
        ("Je veux rendre la commande A1007", Intent.RETURN),
        ("Ich hätte gerne mein Geld für A1007 zurück", Intent.REFUND),
        ("Devuélvanme el dinero de A1007", Intent.REFUND),
        ("Je voudrais un remboursement pour A1007", Intent.REFUND),
        ("Quiero devolver el pedido A1001", Intent.RETURN),
        ("Ich möchte mit einem Menschen sprechen", Intent.HUMAN),
    ],
)
def test_everyday_phrasings(model, text, intent):
    assert model.understand(text).intent is intent


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Wo ist meine Bestellung A1017?", "de"),
        ("Où est ma commande A1017 ?", "fr"),
        ("¿Dónde está mi pedido A1017?", "es"),
        ("Where is my order A1017?", "en"),
        ("Wie lange dauert die Lieferung?", "de"),
        ("Combien de temps pour la livraison ?", "fr"),
        ("¿Cuánto tarda el envío?", "es"),
        ("Can I pay with PayPal?", "en"),
        ("Ist A1003 schon unterwegs?", "de"),  # one marker is not enough; two are
        ("Quand vais-je recevoir A1003 ?", "fr"),
        ("¿Cuándo me llega A1003?", "es"),
        ("Can you tell me where my order A1017 is?", "en"),
        ("Is it on sale?", "en"),
    ],
)
def test_the_language_of_a_turn(model, text, language):
    assert model.understand(text).language == language


@pytest.mark.parametrize(
    ("text", "latest"),
    [
        ("where is my last order", True),
        ("I want to return my latest order", True),
        ("wo ist meine letzte Bestellung", True),
        ("where is my order", False),
        ("my last order, A1017", False),  # a number given wins
    ],
)
def test_the_latest_order_named_without_its_number(model, text, latest):
    assert model.understand(text).latest_order is latest


@pytest.mark.parametrize(
    ("text", "cancel_order"),
    [
        ("cancel order A1004 please", True),
        ("Ich möchte A1017 stornieren", True),
        ("annuler la commande A1004", True),
        ("where is A1004", False),
        ("cancel", False),  # the conversation's flow, not an order
    ],
)
def test_asking_to_cancel_an_order(model, text, cancel_order):
    assert model.understand(text).cancel_order is cancel_order


@pytest.mark.parametrize(
    ("text", "intent", "capabilities"),
    [
        ("what can you do?", Intent.SMALL_TALK, True),
        ("help", Intent.SMALL_TALK, True),
        ("am I talking to a bot?", Intent.SMALL_TALK, True),  # not a request for a person
        ("are you a real person?", Intent.SMALL_TALK, True),
        ("how are you?", Intent.SMALL_TALK, False),
        ("can you help me with a return", Intent.RETURN, False),  # help with something named
        ("I need help with my order", Intent.ORDER_STATUS, False),
        ("am I talking to a human? I want to talk to one", Intent.HUMAN, False),
        ("cool", Intent.CONFIRM, False),
        ("lol", Intent.SMALL_TALK, True),  # a bare reaction: what it can do, not an apology
    ],
)
def test_what_the_assistant_is_and_can_do(model, text, intent, capabilities):
    understood = model.understand(text)
    assert (understood.intent, understood.asks_capabilities) == (intent, capabilities)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("it never showed up", "not_delivered"),
        ("il est arrivé cassé", "damaged"),
        ("too small for me", "does_not_fit"),
        ("you sent the wrong colour", "wrong_item"),
        ("don't want it anymore", "changed_mind"),
        ("blue", None),
    ],
)
def test_reasons(model, text, reason):
    assert model.understand(text).reason == reason


@pytest.mark.parametrize(
    ("text", "order_id"),
    [
        ("order a-1004 please", "A1004"),
        ("A 1017", "A1017"),
        ("a1O17", "A1017"),
        ("#1017", "A1017"),
        ("what about order 1017", "A1017"),
        ("1017", "A1017"),
        ("A10045", None),
        ("no number here", None),
        ("what is 2+2", None),
        ("I ordered in 2024", None),
        ("call me at 1015 tomorrow", None),
    ],
)
def test_order_numbers_are_normalized(text, order_id):
    assert find_order_id(text) == order_id


def test_phrase_keeps_the_draft():
    assert RulesModel().phrase("Order A1003 has shipped.", {"order": "A1003"}) == (
        "Order A1003 has shipped."
    )


def test_every_reason_the_rules_find_has_a_wording():
    from app.adapters.rules_model import REASONS
    from app.agents.reviews import REASON_LABELS

    assert {code for code, _ in REASONS} | {"other"} == set(REASON_LABELS)
