"""The default model classifies turns by rules: the same words, the same intent, offline."""

from __future__ import annotations

import pytest

from app.adapters.rules_model import RulesModel, find_order_id
from app.ports import Intent


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
def test_intents(text, intent, order_id, reason):
    understood = RulesModel().understand(text)
    assert (understood.intent, understood.order_id, understood.reason) == (intent, order_id, reason)


def test_order_numbers_are_normalized():
    assert find_order_id("order a-1004 please") == "A1004"
    assert find_order_id("A10045") is None
    assert find_order_id("no number here") is None


def test_phrase_keeps_the_draft():
    assert RulesModel().phrase("Order A1003 has shipped.", {"order": "A1003"}) == (
        "Order A1003 has shipped."
    )


def test_every_reason_the_rules_find_has_a_wording():
    from app.adapters.rules_model import REASONS
    from app.agents.reviews import REASON_LABELS

    assert {code for code, _ in REASONS} | {"other"} == set(REASON_LABELS)
