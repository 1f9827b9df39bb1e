"""Identifiers are checked as whole values: a trailing newline is not part of an allowed form.

`re.match` with `^...$` accepts "A1007\\n" (`$` matches before a final newline); every check
of an identifier that comes from a request, a token or the environment uses `fullmatch`.
"""

from __future__ import annotations

import pytest

from app.agents.inquiries import check_refund_review
from app.agents.orders import OrderBook
from app.agents.sessions import check_customer_id, cursor_before, seq_of_cursor
from app.config.settings import SettingsError, check_topic_path
from app.domain.errors import InvalidInput

TOPIC = "projects/demo-agents/topics/inquiries"


def test_a_customer_id_with_a_trailing_newline_is_refused() -> None:
    assert check_customer_id("C001") == "C001"
    with pytest.raises(InvalidInput) as refused:
        check_customer_id("C001\n")
    assert refused.value.field == "customer_id"


def test_a_cursor_with_a_trailing_newline_is_refused() -> None:
    cursor = cursor_before(7)
    assert seq_of_cursor(cursor) == 7
    with pytest.raises(InvalidInput) as refused:
        seq_of_cursor(cursor + "\n")
    assert refused.value.field == "before"


def test_an_order_number_with_a_trailing_newline_is_refused() -> None:
    orders = OrderBook()
    owner = next(c for c in orders.customer_ids() if orders.owned(c, "A1007") is not None)
    assert check_refund_review({"order_id": "A1007"}, orders, owner)["order_id"] == "A1007"
    with pytest.raises(InvalidInput) as refused:
        check_refund_review({"order_id": "A1007\n"}, orders, owner)
    assert refused.value.field == "details.order_id"


def test_a_topic_path_with_a_trailing_newline_is_refused() -> None:
    check_topic_path("INQUIRIES_TOPIC", TOPIC)
    with pytest.raises(SettingsError, match="INQUIRIES_TOPIC"):
        check_topic_path("INQUIRIES_TOPIC", TOPIC + "\n")
