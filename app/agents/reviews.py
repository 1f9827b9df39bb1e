"""The work behind each inquiry kind, in named steps with a structured result.

Functions of the shipped orders, the inquiry's details and its owner: running one twice gives
the same result, which is what lets the worker retry safely; the one write, a refund's claim
on its order, is idempotent per inquiry (`settle_refund`). Each sees only the owner's orders:
another customer's order reads as one that does not exist.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from app.agents.orders import OrderBook, money
from app.agents.policy import MANUAL_REVIEW_ABOVE_CENTS, StorePolicy, refund_refusal, refundable
from app.domain.records import Inquiry
from app.ports.store import OrderClaim, OrderClaimStore

REASON_LABELS = {
    "damaged": "it arrived damaged",
    "wrong_item": "it was the wrong item",
    "does_not_fit": "it does not fit",
    "not_delivered": "it never arrived",
    "changed_mind": "you changed your mind",
    "other": "another reason",
}


class InquiryFailed(Exception):
    """The inquiry cannot succeed however often it is retried (for example an unknown order)."""


def refund_review(
    orders: OrderBook,
    details: dict[str, Any],
    customer_id: str,
    policy: StorePolicy,
    claim: OrderClaim | None = None,
) -> dict[str, Any]:
    """The decision on a refund: the store's rules (app.agents.policy) on the owner's order,
    given the claim the order may already have. An approval is not final until the worker has
    recorded it as the order's one claim (`settle_refund`)."""
    order_id = details["order_id"]
    reason = details.get("reason") or "other"
    steps: list[dict[str, Any]] = []

    order = orders.owned(customer_id, order_id)
    if order is None:
        raise InquiryFailed(f"order {order_id} does not exist")
    steps.append({"step": "lookup", "outcome": "found", "status": order.status})

    why_not = refund_refusal(order, reason, orders.today, claim, policy)
    steps.append(
        {"step": "eligibility", "outcome": "eligible" if why_not is None else "ineligible"}
    )

    cents, with_shipping, excluded = (
        refundable(order, reason) if why_not is None else (0, False, [])
    )
    steps.append({"step": "amount", "outcome": money(cents, order.currency)})

    if why_not is not None:
        decision = "rejected"
    elif cents > MANUAL_REVIEW_ABOVE_CENTS:
        decision = "manual_review"
    else:
        decision = "approved"
    steps.append({"step": "decision", "outcome": decision})

    result: dict[str, Any] = {
        "order_id": order.id,
        "reason": reason,
        "eligible": why_not is None,
        "decision": decision,
        "refund": {
            "amount_cents": cents,
            "amount": money(cents, order.currency),
            "currency": order.currency,
            "includes_shipping": with_shipping,
            "excluded_final_sale_items": excluded,
        },
        "steps": steps,
    }
    if why_not is not None:
        result["ineligible_reason"] = why_not
    return result


def settle_refund(
    result: dict[str, Any], store: OrderClaimStore, inquiry: Inquiry, now: datetime
) -> dict[str, Any]:
    """Record an approved (or manual-review) refund as the order's one claim, in the store's
    transaction; when another request got there first, the decision becomes a refusal naming
    that claim. Two concurrent reviews of one order therefore approve at most one."""
    if result["decision"] not in ("approved", "manual_review") or inquiry.customer_id is None:
        return result
    order_id = result["order_id"]
    mine = OrderClaim(
        order_id=order_id,
        kind="refund",
        claim_id=f"RF-{order_id}",
        customer_id=inquiry.customer_id,
        status=result["decision"],
        amount_cents=result["refund"]["amount_cents"],
        created_at=now,
        inquiry_id=inquiry.id,
    )
    stored = store.create_claim(mine)
    if stored.inquiry_id == inquiry.id:
        result["refund"]["claim_id"] = stored.claim_id
        return result
    refused = {**result, "eligible": False, "decision": "rejected"}
    refused["refund"] = {**result["refund"], "amount_cents": 0, "amount": money(0)}
    refused["ineligible_reason"] = f"Order {order_id} already has a refund, {stored.claim_id}."
    refused["steps"] = [*result["steps"], {"step": "claim", "outcome": "already_claimed"}]
    return refused


def account_export(orders: OrderBook, details: dict[str, Any], customer_id: str) -> dict[str, Any]:
    """The owner's account; `details.customer_id` was checked to be the owner when accepted."""
    if details.get("customer_id", customer_id) != customer_id:
        raise InquiryFailed("an account export is of its owner's account only")
    found = orders.for_customer(customer_id)
    steps: list[dict[str, Any]] = [{"step": "orders", "outcome": f"{len(found)} found"}]

    kept = [o for o in found if o.status not in ("cancelled", "refunded", "returned")]
    spent = sum(o.total_cents for o in kept)
    refunded = sum(o.total_cents for o in found if o.status in ("refunded", "returned"))
    currency = found[0].currency if found else "EUR"
    steps.append({"step": "totals", "outcome": money(spent, currency)})

    by_status = dict(sorted(Counter(o.status for o in found).items()))
    steps.append({"step": "statuses", "outcome": by_status})
    steps.append({"step": "export", "outcome": "ready"})
    return {
        "customer_id": customer_id,
        "order_count": len(found),
        "orders": [o.summary() for o in found],
        "totals": {
            "spent_cents": spent,
            "spent": money(spent, currency),
            "refunded_cents": refunded,
            "refunded": money(refunded, currency),
            "by_status": by_status,
        },
        "steps": steps,
    }


def summarize(kind: str, result: dict[str, Any] | None, error: str | None) -> str:
    """The sentence that lands in the customer's session when the inquiry is done."""
    label = kind.replace("_", " ")
    if result is None:
        return f"Your {label} could not be completed: {error}."
    if kind == "refund_review":
        order, amount = result["order_id"], result["refund"]["amount"]
        if result["decision"] == "approved":
            return (
                f"Refund review for order {order}: approved. {amount} will be refunded to your "
                "original payment method within 3 business days."
            )
        if result["decision"] == "manual_review":
            return (
                f"Refund review for order {order}: the refund of {amount} needs a check by our "
                "team; you will hear from us within 2 business days."
            )
        return f"Refund review for order {order}: not eligible. {result['ineligible_reason']}"
    if kind == "account_export":
        totals = result["totals"]
        return (
            f"Your account export is ready: {result['order_count']} orders"
            f"{_order_list(result['orders'])}, {totals['spent']} spent, "
            f"{totals['refunded']} refunded."
        )
    return f"Your {label} is done."


MAX_LISTED_ORDERS = 10  # a longer history is in the export itself, not in the sentence


def _order_list(orders: list[dict[str, Any]]) -> str:
    """' (A1007 delivered, A1008 shipped)': what a customer asking for their orders wants to
    read in the conversation, in the export's order."""
    if not orders:
        return ""
    shown = [f"{o['order_id']} {o['status']}" for o in orders[:MAX_LISTED_ORDERS]]
    more = len(orders) - len(shown)
    if more:
        shown.append(f"and {more} more")
    return f" ({', '.join(shown)})"
