"""The shipped sample orders (A1001 to A1020), read-only, and how to describe them.

Both the support agent and the inquiry worker read orders from here, so an order's status
reads the same in a chat reply and in a refund review. The file stores dates as day offsets
from the day it is loaded (0 today, -10 ten days ago), so the demo behaves the same on any
date; `OrderBook(today=...)` resolves them (tests pass a fixed day).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from importlib import resources
from typing import Any


@dataclass(frozen=True)
class OrderItem:
    sku: str
    name: str
    quantity: int
    unit_price_cents: int
    final_sale: bool
    gift_card: bool = False

    @property
    def total_cents(self) -> int:
        return self.quantity * self.unit_price_cents

    @property
    def returnable(self) -> bool:
        return not (self.final_sale or self.gift_card)


@dataclass(frozen=True)
class PastClaim:
    """A return or refund made before the app's own records (in the sample data)."""

    kind: str  # "return" or "refund"
    claim_id: str
    on: date
    status: str
    amount_cents: int


@dataclass(frozen=True)
class Order:
    id: str
    customer_id: str
    status: str  # processing, shipped, delivered, cancelled, refunded, returned
    placed_on: date
    currency: str
    items: tuple[OrderItem, ...]
    shipping_cents: int
    total_cents: int
    shipped_on: date | None = None
    delivered_on: date | None = None
    expected_on: date | None = None
    carrier: str | None = None
    tracking_number: str | None = None
    past_claim: PastClaim | None = None

    def summary(self) -> dict[str, Any]:
        """A JSON-ready view for results and reply data."""
        body: dict[str, Any] = {
            "order_id": self.id,
            "status": self.status,
            "placed_on": self.placed_on.isoformat(),
            "total": money(self.total_cents, self.currency),
            "items": [{"sku": i.sku, "name": i.name, "quantity": i.quantity} for i in self.items],
        }
        for name in ("shipped_on", "delivered_on", "expected_on"):
            value = getattr(self, name)
            if value is not None:
                body[name] = value.isoformat()
        if self.carrier:
            body["carrier"] = self.carrier
        if self.tracking_number:
            body["tracking_number"] = self.tracking_number
        return body


def money(cents: int, currency: str = "EUR") -> str:
    return f"{cents // 100}.{cents % 100:02d} {currency}"


def long_date(day: date) -> str:
    return f"{day.day} {day.strftime('%B %Y')}"


def describe_status(order: Order, today: date) -> str:
    """One sentence a customer understands, built only from the order's data, in the tense
    its dates call for: "was delivered on", "should arrive by", "was expected by"."""
    if order.status == "processing":
        return f"Order {order.id} is being packed and {_arrival(order, today)}."
    if order.status == "shipped":
        return (
            f"Order {order.id} has shipped with {order.carrier} (tracking number "
            f"{order.tracking_number}) and {_arrival(order, today)}."
        )
    if order.status == "delivered" and order.delivered_on is not None:
        return f"Order {order.id} was delivered on {long_date(order.delivered_on)}."
    if order.status == "cancelled":
        return f"Order {order.id} was cancelled; nothing was charged."
    claim = order.past_claim
    if order.status == "refunded" and claim is not None:
        return (
            f"Order {order.id} was refunded on {long_date(claim.on)} ({claim.claim_id}, "
            f"{money(claim.amount_cents, order.currency)}, {claim.status})."
        )
    if order.status == "returned" and claim is not None:
        return (
            f"Order {order.id} was returned ({claim.claim_id}) and "
            f"{money(claim.amount_cents, order.currency)} refunded."
        )
    return f"Order {order.id} has the status {order.status}."


def cancellation_note(order: Order, return_window_days: int) -> str:
    """What a customer who asks to cancel can do: the assistant cannot cancel an order itself,
    so it says whether the order can still be stopped and how, by its status."""
    if order.status == "processing":
        return (
            "I cannot cancel orders myself, but it has not shipped yet, so our team still can: "
            "ask me for a person and they will take it from here."
        )
    if order.status == "shipped":
        return (
            "It has already shipped, so it can no longer be cancelled; once it arrives you can "
            f"return it within {return_window_days} days of delivery."
        )
    if order.status == "delivered":
        return (
            "It can no longer be cancelled; returns are possible within "
            f"{return_window_days} days of delivery."
        )
    return "There is nothing left to cancel."


def _arrival(order: Order, today: date) -> str:
    expected = order.expected_on
    if expected is None:
        return "will ship soon"
    if expected >= today:
        return f"should arrive by {long_date(expected)}"
    days = (today - expected).days
    late = "a day" if days == 1 else f"{days} days"
    return f"was expected by {long_date(expected)}, {late} ago"


class OrderBook:
    """Looks orders up by id and by customer."""

    def __init__(self, orders: list[Order] | None = None, today: date | None = None) -> None:
        self.today = today or date.today()
        loaded = orders if orders is not None else load_orders(self.today)
        self._orders = {o.id: o for o in loaded}

    def get(self, order_id: str) -> Order | None:
        return self._orders.get(order_id.upper())

    def owned(self, customer_id: str, order_id: str) -> Order | None:
        """The order when it is this customer's; another customer's reads as unknown."""
        order = self.get(order_id)
        return order if order is not None and order.customer_id == customer_id else None

    def customer_ids(self) -> tuple[str, ...]:
        """Every customer with an order, sorted (the demo customers)."""
        return tuple(sorted({o.customer_id for o in self._orders.values()}))

    def for_customer(self, customer_id: str) -> list[Order]:
        return sorted(
            (o for o in self._orders.values() if o.customer_id == customer_id),
            key=lambda o: o.id,
        )


def load_orders(today: date) -> list[Order]:
    """The orders shipped as package data in `app/data/orders.json`, dated from `today`."""
    raw = json.loads(resources.files("app.data").joinpath("orders.json").read_text("utf-8"))

    def day(offset: int | None) -> date | None:
        return None if offset is None else today + timedelta(days=offset)

    orders = []
    for o in raw["orders"]:
        items = tuple(OrderItem(**item) for item in o["items"])
        orders.append(
            Order(
                id=o["id"],
                customer_id=o["customer_id"],
                status=o["status"],
                placed_on=today + timedelta(days=o["placed_day"]),
                currency=o["currency"],
                items=items,
                shipping_cents=o["shipping_cents"],
                total_cents=o["total_cents"],
                shipped_on=day(o.get("shipped_day")),
                delivered_on=day(o.get("delivered_day")),
                expected_on=day(o.get("expected_day")),
                carrier=o.get("carrier"),
                tracking_number=o.get("tracking_number"),
                past_claim=_past_claim(o, today),
            )
        )
    return orders


def _past_claim(raw: dict[str, Any], today: date) -> PastClaim | None:
    for kind in ("refund", "return"):
        claim = raw.get(kind)
        if claim:
            on = today + timedelta(days=claim["day"])
            return PastClaim(kind, claim["id"], on, claim["status"], claim["amount_cents"])
    return None
