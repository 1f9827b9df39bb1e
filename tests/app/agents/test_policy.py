"""The store's rules for returns and refunds, on the sample orders at a fixed day."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from app.agents.orders import OrderBook, describe_status
from app.agents.policy import StorePolicy, refund_refusal, refundable, return_refusal
from app.ports.store import OrderClaim

TODAY = date(2025, 3, 12)


@pytest.fixture(scope="module")
def orders() -> OrderBook:
    return OrderBook(today=TODAY)


def claim(order_id: str, kind: str = "return", status: str = "label_sent") -> OrderClaim:
    prefix = "RMA" if kind == "return" else "RF"
    return OrderClaim(
        order_id, kind, f"{prefix}-{order_id}", "C001", status, 8900, datetime.now(UTC)
    )


def test_dates_are_offsets_from_the_day_the_orders_load():
    early, late = OrderBook(today=date(2025, 1, 1)), OrderBook(today=TODAY)
    assert early.get("A1001").delivered_on == date(2024, 12, 22)
    assert late.get("A1001").delivered_on == date(2025, 3, 2)
    assert (late.get("A1001").delivered_on - late.get("A1001").placed_on).days == 4


@pytest.mark.parametrize(
    ("order_id", "sentence"),
    [
        ("A1001", "Order A1001 was delivered on 2 March 2025."),
        ("A1017", "and should arrive by 15 March 2025."),  # shipped, due in 3 days
        ("A1014", "and was expected by 11 March 2025, a day ago."),  # shipped, late
        ("A1004", "Order A1004 is being packed and should arrive by 18 March 2025."),
        ("A1006", "Order A1006 was cancelled; nothing was charged."),
        ("A1010", "Order A1010 was refunded on 10 February 2025 (RF-A1010, 29.90 EUR, paid)."),
    ],
)
def test_status_sentences_are_in_the_tense_of_their_dates(orders, order_id, sentence):
    assert sentence in describe_status(orders.get(order_id), TODAY)


@pytest.mark.parametrize(
    ("order_id", "refusal"),
    [
        ("A1001", None),  # delivered 10 days ago
        ("A1002", "within 30 days of delivery"),  # delivered 48 days ago
        ("A1015", "within 30 days of delivery"),  # 31 days
        ("A1008", "gift cards cannot be returned"),
        ("A1020", "every item in it is final sale"),
        ("A1006", "it was cancelled"),
        ("A1017", "it has not been delivered yet"),
        ("A1016", "it was already returned (RMA-A1016)"),
        ("A1010", "it has already been refunded: RF-A1010"),
    ],
)
def test_return_rules(orders, order_id, refusal):
    found = return_refusal(orders.get(order_id), TODAY, None, StorePolicy())
    assert (found is None) if refusal is None else (refusal in found)


def test_the_return_window_counts_days_from_delivery(orders):
    a1001 = orders.get("A1001")  # delivered 10 days before TODAY
    assert return_refusal(a1001, TODAY, None, StorePolicy(return_window_days=10)) is None
    assert return_refusal(a1001, TODAY, None, StorePolicy(return_window_days=9)) is not None


def test_an_order_returns_once_and_a_refunded_one_not_at_all(orders):
    a1001 = orders.get("A1001")
    assert "already has a return, RMA-A1001" in return_refusal(
        a1001, TODAY, claim("A1001"), StorePolicy()
    )
    refunded = claim("A1001", "refund", "approved")
    assert "has already been refunded: RF-A1001" in return_refusal(
        a1001, TODAY, refunded, StorePolicy()
    )


@pytest.mark.parametrize(
    ("order_id", "reason", "answer"),
    [
        ("A1007", "damaged", None),  # a review decides
        ("A1003", "not_delivered", None),  # 6 days late, past the 5-day grace
        ("A1014", "not_delivered", "investigation"),  # a day late: the carrier looks first
        ("A1017", "not_delivered", "should arrive by 15 March 2025"),
        ("A1017", "damaged", "should arrive by"),
        ("A1004", "other", "has not shipped yet"),
        ("A1006", "other", "nothing was charged"),
        ("A1008", "damaged", "gift cards are not refundable"),
        ("A1020", "damaged", "final sale"),
        ("A1010", "other", "already been refunded: RF-A1010"),
        ("A1016", "other", "already returned (RMA-A1016)"),
        ("A1001", "not_delivered", "was delivered on 2 March 2025"),
    ],
)
def test_refund_rules(orders, order_id, reason, answer):
    found = refund_refusal(orders.get(order_id), reason, TODAY, None, StorePolicy())
    assert (found is None) if answer is None else (answer in found)


def test_the_grace_period_is_a_setting(orders):
    a1003 = orders.get("A1003")  # expected 6 days ago
    assert refund_refusal(a1003, "not_delivered", TODAY, None, StorePolicy()) is None
    late = StorePolicy(not_delivered_grace_days=7)
    assert "investigation" in refund_refusal(a1003, "not_delivered", TODAY, None, late)


def test_a_refund_is_refused_once_the_order_has_a_claim(orders):
    approved = claim("A1007", "refund", "approved")
    answer = refund_refusal(orders.get("A1007"), "damaged", TODAY, approved, StorePolicy())
    assert answer == "Order A1007 has already been refunded: RF-A1007, 89.00 EUR, approved."


@pytest.mark.parametrize(
    ("order_id", "reason", "cents", "shipping"),
    [
        ("A1007", "damaged", 8290, True),
        ("A1007", "changed_mind", 7800, False),
        ("A1013", "damaged", 3390, True),  # the final-sale apron stays out
        ("A1008", "damaged", 0, False),  # a gift card only: nothing, no shipping
    ],
)
def test_refundable_amounts(orders, order_id, reason, cents, shipping):
    amount, with_shipping, _ = refundable(orders.get(order_id), reason)
    assert (amount, with_shipping) == (cents, shipping)


def test_the_policy_comes_from_the_settings(tmp_path):
    from app.config.settings import Settings
    from app.wiring import build_services

    settings = Settings.from_env(
        {"RETURN_WINDOW_DAYS": "60", "NOT_DELIVERED_GRACE_DAYS": "2"}, data_dir=str(tmp_path)
    )
    services = build_services(replace(settings, agent_role="worker"))
    try:
        assert services.worker.policy == StorePolicy(60, 2)
    finally:
        services.close()
