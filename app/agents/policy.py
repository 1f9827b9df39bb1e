"""The store's rules for returns and refunds, in one place for the chat and the refund review.

Both the support agent (answering at once what is certain) and the worker's refund review
(deciding amounts) ask these functions, so a customer never hears one rule in the chat and gets
another in the review. Every refusal is a sentence the customer understands, built only from
the order's data and the claim it may already have.

- Returns: within `return_window_days` of delivery, never gift cards, final-sale items or
  cancelled orders, once per order.
- Refunds: at most one per order, never for an order already refunded or returned. "It never
  arrived" is refundable once the order is `not_delivered_grace_days` past its expected
  delivery, and is a carrier investigation before that.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from app.agents.orders import Order, long_date, money
from app.ports.store import OrderClaim

MANUAL_REVIEW_ABOVE_CENTS = 20_000  # refunds above 200 EUR are checked by a person (FAQ)
FULL_REFUND_REASONS = frozenset({"damaged", "wrong_item", "not_delivered"})


@dataclass(frozen=True)
class StorePolicy:
    return_window_days: int = 30
    not_delivered_grace_days: int = 5


def refundable(order: Order, reason: str) -> tuple[int, bool, list[str]]:
    """(amount in cents, whether shipping is included, names of items that stay excluded).

    Final-sale items and gift cards are never refunded; shipping is, when the customer is not
    at fault (damaged, wrong item, never arrived)."""
    excluded = [i.name for i in order.items if not i.returnable]
    cents = sum(i.total_cents for i in order.items if i.returnable)
    with_shipping = reason in FULL_REFUND_REASONS and cents > 0
    if with_shipping:
        cents += order.shipping_cents
    return cents, with_shipping, excluded


def existing_claim(order: Order, claim: OrderClaim | None) -> str | None:
    """The return or refund the order already has, as what the order did ("already has a
    return, RMA-A1001 ..."); None when it has none."""
    if claim is not None:
        amount = money(claim.amount_cents, order.currency)
        if claim.kind == "return":
            return f"already has a return, {claim.claim_id} ({amount} to refund)"
        state = "waiting for our team's check" if claim.status == "manual_review" else "approved"
        return f"has already been refunded: {claim.claim_id}, {amount}, {state}"
    past = order.past_claim
    if past is not None:
        amount = money(past.amount_cents, order.currency)
        if past.kind == "return":
            return f"was already returned ({past.claim_id}) and {amount} refunded"
        return (
            f"has already been refunded: {past.claim_id}, {amount}, {past.status} on "
            f"{long_date(past.on)}"
        )
    return None


def return_refusal(
    order: Order, today: date, claim: OrderClaim | None, policy: StorePolicy
) -> str | None:
    """Why the order cannot be returned ("it ..."), or None when it can."""
    existing = existing_claim(order, claim)
    if existing is not None:
        return f"it {existing}"
    if order.status == "cancelled":
        return "it was cancelled, so nothing was charged"
    if order.delivered_on is None:
        return "it has not been delivered yet"
    if all(i.gift_card for i in order.items):
        return "gift cards cannot be returned"
    if all(not i.returnable for i in order.items):
        return "every item in it is final sale"
    last_day = order.delivered_on + timedelta(days=policy.return_window_days)
    if today > last_day:
        return (
            f"it was delivered on {long_date(order.delivered_on)}, and returns are possible "
            f"within {policy.return_window_days} days of delivery"
        )
    return None


def refund_refusal(
    order: Order, reason: str, today: date, claim: OrderClaim | None, policy: StorePolicy
) -> str | None:
    """What to answer at once instead of a refund review, or None when a review should run."""
    existing = existing_claim(order, claim)
    if existing is not None:
        return f"Order {order.id} {existing}."
    if order.status == "cancelled":
        return f"Order {order.id} was cancelled, so nothing was charged and nothing is due."
    if order.status == "processing":
        return (
            f"Order {order.id} has not shipped yet, so nothing is due yet; you can still cancel "
            "it while it is processing."
        )
    if order.delivered_on is None:
        return _not_arrived_yet(order, reason, today, policy)
    if reason == "not_delivered":
        return (
            f"Our records show order {order.id} was delivered on "
            f"{long_date(order.delivered_on)}. Please check with neighbours and your mailroom; "
            "if it does not turn up within 48 hours, tell us and we will open an investigation "
            "with the carrier."
        )
    if all(i.gift_card for i in order.items):
        return f"Order {order.id} cannot be refunded: gift cards are not refundable."
    if all(not i.returnable for i in order.items):
        return f"Order {order.id} cannot be refunded: every item in it is final sale."
    return None


def _not_arrived_yet(order: Order, reason: str, today: date, policy: StorePolicy) -> str | None:
    expected = order.expected_on or today
    due = expected + timedelta(days=policy.not_delivered_grace_days)
    if reason == "not_delivered" and today > due:
        return None  # late beyond the grace period: the review refunds it
    if expected >= today:
        return (
            f"Order {order.id} is on its way with {order.carrier} and should arrive by "
            f"{long_date(expected)}. If it has not arrived {policy.not_delivered_grace_days} days "
            "after that, ask me again and I will start a refund review."
        )
    if reason == "not_delivered":
        return (
            f"Order {order.id} was expected by {long_date(expected)}. Parcels are sometimes a "
            f"few days late, so we have asked {order.carrier} to open an investigation; if it "
            f"has not arrived by {long_date(due)}, ask me again and I will start a refund review."
        )
    return f"Order {order.id} has not been delivered yet; it was expected by {long_date(expected)}."
