"""The shipped sample orders (A1001 to A1020), read-only, and how to describe them.

Both the support agent and the inquiry worker read orders from here, so an order's status
reads the same in a chat reply and in a refund review.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from importlib import resources
from typing import Any


@dataclass(frozen=True)
class OrderItem:
    sku: str
    name: str
    quantity: int
    unit_price_cents: int
    final_sale: bool

    @property
    def total_cents(self) -> int:
        return self.quantity * self.unit_price_cents


@dataclass(frozen=True)
class Order:
    id: str
    customer_id: str
    status: str  # processing, shipped, delivered, cancelled, refunded, returned
    placed_on: str
    currency: str
    items: tuple[OrderItem, ...]
    shipping_cents: int
    total_cents: int
    shipped_on: str | None = None
    delivered_on: str | None = None
    estimated_delivery: str | None = None
    carrier: str | None = None
    tracking_number: str | None = None

    def summary(self) -> dict[str, Any]:
        """A JSON-ready view for results and reply data."""
        body: dict[str, Any] = {
            "order_id": self.id,
            "status": self.status,
            "placed_on": self.placed_on,
            "total": money(self.total_cents, self.currency),
            "items": [{"sku": i.sku, "name": i.name, "quantity": i.quantity} for i in self.items],
        }
        for name in ("shipped_on", "delivered_on", "estimated_delivery", "carrier"):
            if getattr(self, name):
                body[name] = getattr(self, name)
        if self.tracking_number:
            body["tracking_number"] = self.tracking_number
        return body


def money(cents: int, currency: str = "EUR") -> str:
    return f"{cents // 100}.{cents % 100:02d} {currency}"


def long_date(iso: str) -> str:
    day = date.fromisoformat(iso)
    return f"{day.day} {day.strftime('%B %Y')}"


def describe_status(order: Order) -> str:
    """One sentence a customer understands, built only from the order's data."""
    if order.status == "processing":
        return (
            f"Order {order.id} is being packed and should arrive around "
            f"{long_date(order.estimated_delivery or order.placed_on)}."
        )
    if order.status == "shipped":
        return (
            f"Order {order.id} has shipped with {order.carrier} (tracking number "
            f"{order.tracking_number}) and should arrive on "
            f"{long_date(order.estimated_delivery or order.placed_on)}."
        )
    if order.status == "delivered":
        return f"Order {order.id} was delivered on {long_date(order.delivered_on or '')}."
    if order.status == "cancelled":
        return f"Order {order.id} was cancelled; nothing was charged."
    if order.status == "refunded":
        return f"Order {order.id} was delivered and has since been refunded."
    if order.status == "returned":
        return f"Order {order.id} was returned and refunded."
    return f"Order {order.id} has the status {order.status}."


class OrderBook:
    """Looks orders up by id and by customer."""

    def __init__(self, orders: list[Order] | None = None) -> None:
        self._orders = {o.id: o for o in (orders if orders is not None else load_orders())}

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


def load_orders() -> list[Order]:
    """The orders shipped as package data in `app/data/orders.json`."""
    raw = json.loads(resources.files("app.data").joinpath("orders.json").read_text("utf-8"))
    orders = []
    for o in raw["orders"]:
        items = tuple(OrderItem(**item) for item in o["items"])
        orders.append(
            Order(
                id=o["id"],
                customer_id=o["customer_id"],
                status=o["status"],
                placed_on=o["placed_on"],
                currency=o["currency"],
                items=items,
                shipping_cents=o["shipping_cents"],
                total_cents=o["total_cents"],
                shipped_on=o.get("shipped_on"),
                delivered_on=o.get("delivered_on"),
                estimated_delivery=o.get("estimated_delivery"),
                carrier=o.get("carrier"),
                tracking_number=o.get("tracking_number"),
            )
        )
    return orders
