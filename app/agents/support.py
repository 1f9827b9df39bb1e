"""The stateful support agent: multi-turn flows over the shipped orders.

A flow's state lives in the session (`Session.flow`), so any instance can take the next turn:
- order status: answers at once when the order number is given, else asks for it;
- return: collects the order, the reason and a confirmation, then creates the return;
- refund: collects a missing order number, then opens a refund review inquiry.

Every flow acts on the session customer's own orders: another customer's order is answered
exactly like one that does not exist (no status, carrier, tracking, item or amount), and no
inquiry is opened for an order the customer does not have.
"""

from __future__ import annotations

from typing import Any

from app.agents.orders import OrderBook, describe_status, money
from app.agents.replies import InquiryRequest, Reply
from app.agents.reviews import REASON_LABELS, ineligibility, refundable
from app.domain import Route
from app.ports import Intent, Understanding

MAX_ASKS = 3  # after this many unanswered questions a flow gives up
CLEAR: dict[str, Any] = {}

ASK_ORDER = "Which order do you mean? Order numbers look like A1003."
ASK_REASON = (
    "Why are you returning order {order}? For example: it doesn't fit, it arrived damaged, "
    "it was the wrong item, or you changed your mind."
)


def _session_reply(text: str, flow: dict[str, Any] | None, **data: Any) -> Reply:
    return Reply(text=text, route=Route.SESSION, flow=flow, data=data)


class SupportAgent:
    def __init__(self, orders: OrderBook) -> None:
        self.orders = orders

    # --- starting a flow ---

    def order_status(self, customer: str, u: Understanding) -> Reply:
        flow = {"name": "order_status", "step": "order_id", "asks": 1}
        if u.order_id is None:
            return _session_reply(f"I can look that up. {ASK_ORDER}", flow)
        return self._status_of(customer, u.order_id, flow)

    def start_return(self, customer: str, u: Understanding) -> Reply:
        flow = {"name": "return", "step": "order_id", "asks": 1}
        if u.order_id is None:
            return _session_reply(f"I can help with a return. {ASK_ORDER}", flow)
        return self._return_order(customer, u.order_id, u.reason, flow)

    def start_refund(self, customer: str, u: Understanding) -> Reply:
        flow = {"name": "refund", "step": "order_id", "asks": 1, "reason": u.reason or "other"}
        if u.order_id is None:
            return _session_reply(f"I can start a refund review. {ASK_ORDER}", flow)
        return self._refund_order(customer, u.order_id, u.reason or "other", flow)

    def cancel(self, flow: dict[str, Any]) -> Reply:
        names = {"order_status": "order lookup", "return": "return", "refund": "refund request"}
        what = names.get(flow.get("name", ""), "request")
        return _session_reply(
            f"Okay, I have stopped the {what}. What else can I do for you?", CLEAR
        )

    # --- continuing a flow ---

    def continue_flow(self, customer: str, flow: dict[str, Any], u: Understanding) -> Reply:
        name, step = flow.get("name"), flow.get("step")
        if step == "order_id" and u.order_id is None:
            return self._ask_again(flow, ASK_ORDER)
        if name == "order_status":
            return self._status_of(customer, u.order_id or "", flow)
        if name == "refund":
            reason = flow.get("reason") or u.reason or "other"
            return self._refund_order(customer, u.order_id or "", reason, flow)
        if name == "return":
            if step == "order_id":
                return self._return_order(customer, u.order_id or "", u.reason, flow)
            if step == "reason":
                return self._confirm_return(flow, u.reason or "other")
            if step == "confirm":
                return self._finish_return(flow, u)
        return _session_reply("Let's start over. What can I do for you?", CLEAR)

    def _ask_again(self, flow: dict[str, Any], question: str) -> Reply:
        asks = int(flow.get("asks", 1)) + 1
        if asks > MAX_ASKS:
            return _session_reply(
                "Let's leave it there for now. Ask me again whenever you have the details.", CLEAR
            )
        return _session_reply(question, {**flow, "asks": asks})

    # --- order status ---

    def _status_of(self, customer: str, order_id: str, flow: dict[str, Any]) -> Reply:
        order = self.orders.owned(customer, order_id)
        if order is None:
            return self._not_found(order_id, flow)
        return _session_reply(describe_status(order), CLEAR, order=order.summary())

    def _not_found(self, order_id: str, flow: dict[str, Any]) -> Reply:
        """The answer for an order the customer does not have, whoever else might."""
        return self._ask_again(flow, f"I cannot find order {order_id.upper()}. {ASK_ORDER}")

    # --- refund ---

    def _refund_order(
        self, customer: str, order_id: str, reason: str, flow: dict[str, Any]
    ) -> Reply:
        order = self.orders.owned(customer, order_id)
        if order is None:
            return self._not_found(order_id, flow)
        return self._refund_inquiry(order.id, reason)

    def _refund_inquiry(self, order_id: str, reason: str) -> Reply:
        return Reply(
            text=(
                f"I have opened a refund review for order {order_id}. It takes a moment; "
                "I will post the result here when it is done."
            ),
            route=Route.INQUIRY,
            flow=CLEAR,
            data={"order_id": order_id},
            inquiry=InquiryRequest("refund_review", {"order_id": order_id, "reason": reason}),
        )

    # --- return ---

    def _return_order(
        self, customer: str, order_id: str, reason: str | None, flow: dict[str, Any]
    ) -> Reply:
        order = self.orders.owned(customer, order_id)
        if order is None:
            return self._not_found(order_id, flow)
        why_not = ineligibility(order)
        if why_not is not None:
            return _session_reply(f"Order {order.id} cannot be returned: {why_not}.", CLEAR)
        flow = {"name": "return", "step": "reason", "asks": 1, "order_id": order.id}
        if reason is None:
            return _session_reply(ASK_REASON.format(order=order.id), flow)
        return self._confirm_return(flow, reason)

    def _confirm_return(self, flow: dict[str, Any], reason: str) -> Reply:
        order = self.orders.get(flow["order_id"])
        assert order is not None  # checked when the order was chosen
        cents, _, excluded = refundable(order, reason)
        items = ", ".join(i.name for i in order.items if not i.final_sale)
        note = f" ({', '.join(excluded)} is final sale and stays with you)" if excluded else ""
        text = (
            f"To confirm: you return {items} from order {order.id} because "
            f"{REASON_LABELS.get(reason, REASON_LABELS['other'])}{note}. We refund "
            f"{money(cents, order.currency)} once it reaches us. Shall I create the return? "
            "(yes or no)"
        )
        return _session_reply(
            text, {**flow, "step": "confirm", "asks": 1, "reason": reason, "amount_cents": cents}
        )

    def _finish_return(self, flow: dict[str, Any], u: Understanding) -> Reply:
        order_id = flow["order_id"]
        if u.intent is Intent.DENY:
            return _session_reply(f"Okay, I have not created a return for order {order_id}.", CLEAR)
        if u.intent is not Intent.CONFIRM:
            return self._ask_again(
                flow, f"Please answer yes or no: shall I create the return for order {order_id}?"
            )
        rma = f"RMA-{order_id}"
        return _session_reply(
            f"Return {rma} is created. We have e-mailed you a prepaid return label; drop the "
            "parcel at any carrier point within 14 days.",
            CLEAR,
            **{
                "return": {
                    "id": rma,
                    "order_id": order_id,
                    "reason": flow.get("reason", "other"),
                    "refund_cents": flow.get("amount_cents", 0),
                }
            },
        )
