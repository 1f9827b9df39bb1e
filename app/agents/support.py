"""The stateful support agent: multi-turn flows over the customer's own orders.

A flow's state lives in the session (`Session.flow`), so any instance can take the next turn:
- order status: answers at once when the order number is given, else asks for it; a request to
  cancel gets what can still be done, and a delivered order said to be damaged or wrong gets a
  refund review offered (the refund flow, waiting for yes or no);
- return: collects the order, the reason and a confirmation, then creates the return (the
  order's one claim, stored with the turn);
- refund: collects a missing order number (or a yes to the review offered), then answers at
  once what the store's rules decide with certainty (app.agents.policy) or opens a refund
  review inquiry.

`continue_flow` answers a turn the flow can use and returns None for one it cannot (a
question, small talk, nonsense): the router then answers that and repeats the pending question
(`pending_question`), or asks again with the options (`ask_again`), never guessing.

Every flow acts on the session customer's own orders: another customer's order is answered
exactly like one that does not exist (no status, carrier, tracking, item or amount), and no
inquiry is opened for an order the customer does not have.
"""

from __future__ import annotations

from typing import Any, Protocol

from app.agents.orders import Order, OrderBook, cancellation_note, describe_status, money
from app.agents.policy import StorePolicy, refund_refusal, refundable, return_refusal
from app.agents.replies import ClaimRequest, InquiryRequest, Reply
from app.agents.reviews import REASON_LABELS
from app.domain.flows import CLEAR, FlowChange, FlowName, FlowStep, SupportFlow
from app.domain.records import Route
from app.ports.model import Intent, Understanding
from app.ports.store import OrderClaim

MAX_ASKS = 3  # after this many unanswered questions a flow gives up

ASK_ORDER = "Which order do you mean? Order numbers look like A1234."
REASON_OPTIONS = (
    "it doesn't fit, it arrived damaged, it was the wrong item, or you changed your mind"
)
ASK_REASON = "Why are you returning order {order}? For example: " + REASON_OPTIONS + "."


class ClaimReader(Protocol):
    def get_claim(self, order_id: str) -> OrderClaim | None: ...


# A delivered order the customer says is damaged or wrong, before a refund review is offered.
PROBLEMS = {
    "damaged": "I'm sorry it arrived damaged: damaged items are refunded in full, shipping "
    "included.",
    "wrong_item": "I'm sorry you received the wrong item: wrong items are refunded in full, "
    "shipping included.",
}
ASK_REFUND = "Shall I start a refund review for order {order}? (yes or no)"


def _session_reply(text: str, flow: FlowChange, source: str, **data: Any) -> Reply:
    return Reply(text=text, route=Route.SESSION, flow=flow, data=data, source=source)


class SupportAgent:
    def __init__(
        self, orders: OrderBook, claims: ClaimReader, policy: StorePolicy | None = None
    ) -> None:
        self.orders = orders
        self.claims = claims
        self.policy = policy or StorePolicy()

    def latest_order_of(self, customer: str) -> str | None:
        """The number of the customer's most recently placed order, if they have one."""
        orders = self.orders.for_customer(customer)
        return max(orders, key=lambda o: (o.placed_on, o.id)).id if orders else None

    # --- starting a flow ---

    def order_status(self, customer: str, u: Understanding) -> Reply:
        flow = SupportFlow(FlowName.ORDER_STATUS)
        if u.order_id is None:
            return _session_reply(f"I can look that up. {ASK_ORDER}", flow, "order_status:ask")
        return self._status_of(customer, u.order_id, flow, cancel=u.cancel_order, problem=u.reason)

    def start_return(self, customer: str, u: Understanding) -> Reply:
        flow = SupportFlow(FlowName.RETURN)
        if u.order_id is None:
            return _session_reply(f"I can help with a return. {ASK_ORDER}", flow, "return:ask")
        return self._return_order(customer, u.order_id, u.reason, flow)

    def start_refund(self, customer: str, u: Understanding) -> Reply:
        flow = SupportFlow(FlowName.REFUND, reason=u.reason or "other")
        if u.order_id is None:
            text = f"I can start a refund review. {ASK_ORDER}"
            return _session_reply(text, flow, "refund:ask")
        return self._refund_order(customer, u.order_id, u.reason or "other", flow)

    def cancel(self, flow: SupportFlow) -> Reply:
        names = {"order_status": "order lookup", "return": "return", "refund": "refund request"}
        what = names.get(flow.name, "request")
        return _session_reply(
            f"Okay, I have stopped the {what}. What else can I do for you?", CLEAR, "flow:cancelled"
        )

    # --- continuing a flow ---

    def continue_flow(self, customer: str, flow: SupportFlow, u: Understanding) -> Reply | None:
        """The flow's next reply, or None when this turn gives the flow nothing it can use."""
        name, step = flow.name, flow.step
        if name == FlowName.ORDER_STATUS:
            return self._status_of(customer, u.order_id, flow) if u.order_id else None
        if name == FlowName.REFUND:
            if step == FlowStep.CONFIRM and flow.order_id is not None:
                if u.order_id is None:
                    return self._confirm_refund(customer, flow, flow.order_id, u)
                if u.intent is not Intent.REFUND:  # "where is A1020?": the offer lapses
                    return self._status_of(customer, u.order_id, flow, problem=u.reason)
            if u.order_id is None or u.intent is Intent.RETURN:
                return None  # "return A1007" while a refund is offered starts the return
            reason = u.reason or flow.reason or "other"
            return self._refund_order(customer, u.order_id, reason, flow)
        if name == FlowName.RETURN:
            if u.order_id is not None and u.order_id != flow.order_id:
                return self._return_order(customer, u.order_id, u.reason, flow)  # a new order
            if step == FlowStep.REASON and u.reason is not None:
                return self._confirm_return(flow, u.reason)
            if step == FlowStep.CONFIRM and u.intent is Intent.CONFIRM:
                return self._finish_return(customer, flow)
            if step == FlowStep.CONFIRM and u.intent is Intent.DENY:
                order_id = flow.order_id
                text = f"Okay, I have not created a return for order {order_id}."
                return _session_reply(text, CLEAR, "return:declined")
            return None
        return _session_reply("Let's start over. What can I do for you?", CLEAR, "flow:reset")

    def pending_question(self, flow: SupportFlow) -> str:
        """What the flow is waiting for, asked again after an answer to something else."""
        if flow.step == FlowStep.REASON:
            return ASK_REASON.format(order=flow.order_id)
        if flow.step == FlowStep.CONFIRM and flow.name == FlowName.REFUND:
            return ASK_REFUND.format(order=flow.order_id)
        if flow.step == FlowStep.CONFIRM:
            return f"Shall I create the return for order {flow.order_id}? (yes or no)"
        return ASK_ORDER

    def ask_again(self, flow: SupportFlow) -> Reply:
        """The pending question once more, with its options; the flow gives up after a few."""
        step = flow.step
        if step == FlowStep.REASON:
            question = f"I did not catch the reason. {self.pending_question(flow)}"
        elif step == FlowStep.CONFIRM:
            question = f"Please answer yes or no: {self.pending_question(flow)}"
        else:
            question = f"I need the order number to go on. {ASK_ORDER}"
        return self._ask_again(flow, question, f"{flow.name}:{step}")

    def _ask_again(self, flow: SupportFlow, question: str, source: str) -> Reply:
        asks = flow.asks + 1
        if asks > MAX_ASKS:
            return _session_reply(
                "Let's leave it there for now. Ask me again whenever you have the details.",
                CLEAR,
                "flow:gave_up",
            )
        return _session_reply(question, flow.but(asks=asks), source)

    def _unknown_order(self, order_id: str, flow: SupportFlow) -> Reply:
        """The answer for an order the customer does not have, whoever else might."""
        text = f"I cannot find order {order_id.upper()}. {ASK_ORDER}"
        return self._ask_again(flow.but(step=FlowStep.ORDER_ID), text, "order:not_found")

    # --- order status ---

    def _status_of(
        self,
        customer: str,
        order_id: str,
        flow: SupportFlow,
        cancel: bool = False,
        problem: str | None = None,
    ) -> Reply:
        """The order's status; with what can still be done when the customer asked to cancel
        it, or what to ask for when they say it arrived damaged or wrong."""
        order = self.orders.owned(customer, order_id)
        if order is None:
            return self._unknown_order(order_id, flow)
        text = describe_status(order, self.orders.today)
        if cancel:
            text = f"{text} {cancellation_note(order, self.policy.return_window_days)}"
            return _session_reply(text, CLEAR, "order_status:cancel", order=order.summary())
        if problem in PROBLEMS and order.status == "delivered":
            return self._offer_refund(order, problem, text)
        return _session_reply(text, CLEAR, "order_status", order=order.summary())

    def _offer_refund(self, order: Order, problem: str, status: str) -> Reply:
        """ "A1007 arrived broken": the refund review it calls for, offered rather than
        assumed; or why there can be none (refunded already, final sale)."""
        refusal = refund_refusal(
            order, problem, self.orders.today, self.claims.get_claim(order.id), self.policy
        )
        if refusal is not None:
            text = f"{status} {refusal}"
            return _session_reply(text, CLEAR, "refund:answered", order=order.summary())
        offer = SupportFlow(
            FlowName.REFUND, step=FlowStep.CONFIRM, order_id=order.id, reason=problem
        )
        text = f"{status} {PROBLEMS[problem]} {self.pending_question(offer)}"
        return _session_reply(text, offer, "refund:offer", order=order.summary())

    # --- refund ---

    def _confirm_refund(
        self, customer: str, flow: SupportFlow, order_id: str, u: Understanding
    ) -> Reply | None:
        """The answer to an offered refund review: yes opens it, no leaves it."""
        if u.intent is Intent.CONFIRM:
            return self._refund_order(customer, order_id, flow.reason or "other", flow)
        if u.intent is Intent.DENY:
            text = f"Okay, I have not started a refund review for order {order_id}."
            return _session_reply(text, CLEAR, "refund:declined")
        return None

    def _refund_order(self, customer: str, order_id: str, reason: str, flow: SupportFlow) -> Reply:
        order = self.orders.owned(customer, order_id)
        if order is None:
            return self._unknown_order(order_id, flow)
        refusal = refund_refusal(
            order, reason, self.orders.today, self.claims.get_claim(order.id), self.policy
        )
        if refusal is not None:
            return _session_reply(refusal, CLEAR, "refund:answered", order_id=order.id)
        return Reply(
            text=(
                f"I have opened a refund review for order {order.id}. It takes a moment; "
                "I will post the result here when it is done."
            ),
            route=Route.INQUIRY,
            flow=CLEAR,
            data={"order_id": order.id},
            inquiry=InquiryRequest("refund_review", {"order_id": order.id, "reason": reason}),
            source="refund_review",
        )

    # --- return ---

    def _return_order(
        self, customer: str, order_id: str, reason: str | None, flow: SupportFlow
    ) -> Reply:
        order = self.orders.owned(customer, order_id)
        if order is None:
            return self._unknown_order(order_id, flow.but(name=FlowName.RETURN))
        refusal = self._return_refusal(order)
        if refusal is not None:
            text = f"Order {order.id} cannot be returned: {refusal}."
            return _session_reply(text, CLEAR, "return:refused", order_id=order.id)
        flow = SupportFlow(FlowName.RETURN, FlowStep.REASON, order_id=order.id)
        if reason is None:
            return _session_reply(ASK_REASON.format(order=order.id), flow, "return:reason")
        return self._confirm_return(flow, reason)

    def _return_refusal(self, order: Order) -> str | None:
        claim = self.claims.get_claim(order.id)
        return return_refusal(order, self.orders.today, claim, self.policy)

    def _confirm_return(self, flow: SupportFlow, reason: str) -> Reply:
        assert flow.order_id is not None  # a return asks for its reason once it has its order
        order = self.orders.get(flow.order_id)
        assert order is not None  # checked when the order was chosen
        cents, _, excluded = refundable(order, reason)
        items = ", ".join(i.name for i in order.items if i.returnable)
        note = f" ({', '.join(excluded)} is final sale and stays with you)" if excluded else ""
        text = (
            f"To confirm: you return {items} from order {order.id} because "
            f"{REASON_LABELS.get(reason, REASON_LABELS['other'])}{note}. We refund "
            f"{money(cents, order.currency)} once it reaches us. Shall I create the return? "
            "(yes or no)"
        )
        confirm = flow.but(step=FlowStep.CONFIRM, asks=1, reason=reason, amount_cents=cents)
        return _session_reply(text, confirm, "return:confirm")

    def _finish_return(self, customer: str, flow: SupportFlow) -> Reply:
        assert flow.order_id is not None  # a return asks for confirmation once it has its order
        order = self.orders.owned(customer, flow.order_id)
        assert order is not None  # checked when the order was chosen
        refusal = self._return_refusal(order)
        if refusal is not None:  # another turn created one meanwhile
            text = f"Order {order.id} cannot be returned again: {refusal}."
            return _session_reply(text, CLEAR, "return:refused", order_id=order.id)
        rma = f"RMA-{order.id}"
        amount = flow.amount_cents or 0
        return Reply(
            text=(
                f"Return {rma} is created. We have e-mailed you a prepaid return label; drop the "
                f"parcel at any carrier point within 14 days, and we refund "
                f"{money(amount, order.currency)} once it reaches us."
            ),
            route=Route.SESSION,
            flow=CLEAR,
            data={
                "return": {
                    "id": rma,
                    "order_id": order.id,
                    "reason": "other" if flow.reason is None else flow.reason,
                    "refund_cents": amount,
                }
            },
            source="return:created",
            order_claim=ClaimRequest(order.id, "return", rma, "label_sent", amount),
        )
