"""The hybrid router: sends each customer turn to the FAQ agent, the support flow, an inquiry or
a person, and says which answered and from what (`Reply.route` and `Reply.source`).

A flow in progress keeps the turn when the turn is for it: an order number, a reason, yes or
no. A question in the middle of a flow is answered and the flow's pending question repeated;
small talk is met briefly, with the question repeated; an answer the flow cannot use is met by
asking again with the options, never by guessing. "Cancel" stops the flow (with none, the
reply says nothing is in progress), and so does "no" to its open question; asking for a person
or for another action (a refund during a return) leaves it. Without a flow, the model's intent
picks the agent; a question the FAQ has no relevant entry for gets a short answer naming what
the assistant can help with. Turns in German, French or Spanish are answered in English, with
a note that says so.

Asking for a person puts the session in the handoff queue (`Reply.handoff`, "waiting"; see
app/agents/handoffs.py); from then on the conversation service stores the customer's turns
without asking the router, until a team member hands the conversation back.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from app.agents.faq import FaqAgent
from app.agents.replies import InquiryRequest, Reply
from app.agents.support import SupportAgent
from app.domain.flows import CLEAR, SupportFlow
from app.domain.records import FaqHit, HandoffState, Route, Session
from app.ports.model import Intent, Understanding

OFF_TOPIC = (
    "I'm sorry, I can't help with that. I can answer questions about shipping, returns, "
    "refunds, payments and your account, look up your orders, start a return or a refund "
    "review, or export your data."
)
HANDOFF = (
    "I have asked a member of our support team to join this conversation; they will reply "
    "here as soon as they can. You can keep writing in the meantime."
)
SMALL_TALK = {
    Intent.THANKS: "You're welcome! Is there anything else I can help you with?",
    Intent.GOODBYE: "Goodbye, and thank you for shopping with us. Have a lovely day!",
    Intent.SMALL_TALK: "I'm doing well, thank you! I'm the store's assistant. How can I help?",
    Intent.CONFIRM: "Alright. What can I do for you?",
    Intent.DENY: "Alright. Is there anything else I can help you with?",
}
CAPABILITIES = (
    "I'm the store's assistant, a program rather than a person: I can look up your orders, "
    "start a return or a refund review, answer questions about delivery, payments and your "
    "account, send you a copy of your data, or bring in a member of our team. How can I help?"
)
NO_MATCH_IN_ANOTHER_LANGUAGE = (
    "I could not match your question: the store's questions and answers are in English, so "
    "please ask it in English. In German, French or Spanish I can look up an order, start a "
    "return or a refund review, or bring in a member of our team."
)
NOTHING_TO_CANCEL = "Alright, nothing is in progress. What can I do for you?"
LANGUAGE_NAMES = {"de": "German", "fr": "French", "es": "Spanish"}
ACTIONS = (Intent.REFUND, Intent.RETURN, Intent.ACCOUNT_EXPORT)
FLOW_OF = {Intent.REFUND: "refund", Intent.RETURN: "return", Intent.ORDER_STATUS: "order_status"}


class HybridRouter:
    def __init__(self, faq: FaqAgent, support: SupportAgent) -> None:
        self.faq = faq
        self.support = support

    def decide(self, session: Session, text: str, u: Understanding) -> Reply:
        if u.order_id is None and u.latest_order:  # "my last order"
            u = replace(u, order_id=self.support.latest_order_of(session.customer_id))
        flow = session.support_flow()
        reply = self._in_flow(session, flow, text, u) if flow is not None else None
        if reply is None:
            if u.order_id is None and flow is not None and flow.order_id:
                u = replace(u, order_id=flow.order_id)  # the order the flow was about
            reply = self._fresh(session, text, u)
            if flow is not None and reply.flow is None:
                reply = replace(reply, flow=CLEAR)  # a new subject ends the old flow
        if u.language != "en" and reply.source == "no_match":
            reply = replace(reply, text=NO_MATCH_IN_ANOTHER_LANGUAGE)
        if u.language != "en":
            name = LANGUAGE_NAMES.get(u.language, u.language)
            reply = replace(
                reply, text=f"I read your message in {name}; I answer in English. {reply.text}"
            )
        return reply

    def _in_flow(
        self, session: Session, flow: SupportFlow, text: str, u: Understanding
    ) -> Reply | None:
        """The reply within the flow, or None when the turn leaves it for something else."""
        if u.intent is Intent.CANCEL:
            return self.support.cancel(flow)
        if u.intent is Intent.HUMAN:
            return None
        other_action = u.intent in ACTIONS and FLOW_OF.get(u.intent) != flow.name
        if other_action and u.order_id not in (None, flow.order_id):
            return None  # another action on another order: it starts afresh
        reply = self.support.continue_flow(session.customer_id, flow, u)
        if reply is not None:
            return reply  # "I want a refund, it arrived broken" answers a return's "why?"
        if other_action:
            return None
        if u.intent is Intent.DENY:
            return self.support.cancel(flow)  # "no" to "which order?" or "why?": let it go
        if u.intent is Intent.CONFIRM:
            return self.support.ask_again(flow)  # "ok" to a question wanting a reason or number
        pending = self.support.pending_question(flow)
        if u.intent in SMALL_TALK or u.intent is Intent.GREETING:
            brief = self._small_talk(session, u).text
            return Reply(f"{brief} {pending}", Route.SESSION, None, source="flow:small_talk")
        hit = self.faq.relevant(text)
        if hit is not None:
            answer = f"{hit.answer}\n\n{pending}"
            return Reply(answer, Route.FAQ, None, data=_faq_data(hit), source=hit.id)
        return self.support.ask_again(flow)

    def _fresh(self, session: Session, text: str, u: Understanding) -> Reply:
        customer = session.customer_id
        if u.intent is Intent.REFUND:
            return self.support.start_refund(customer, u)
        if u.intent is Intent.ACCOUNT_EXPORT:
            return _account_export(customer)
        if u.intent is Intent.ORDER_STATUS or (u.intent is Intent.CANCEL and u.cancel_order):
            return self.support.order_status(customer, u)
        if u.intent is Intent.RETURN:
            return self.support.start_return(customer, u)
        if u.intent is Intent.HUMAN:
            data = {"handoff": HandoffState.WAITING.value}
            return Reply(
                HANDOFF, Route.HANDOFF, CLEAR, data, source="human", handoff=HandoffState.WAITING
            )
        if u.intent in SMALL_TALK or u.intent is Intent.GREETING:
            return self._small_talk(session, u)
        hit = self.faq.relevant(text)
        if hit is None and u.intent is Intent.CANCEL:
            # "stop" with nothing in progress: nothing to stop, and nothing off-topic either
            return Reply(NOTHING_TO_CANCEL, Route.SESSION, None, source="small_talk:cancel")
        return _faq_answer(hit)

    def _small_talk(self, session: Session, u: Understanding) -> Reply:
        if u.intent is Intent.GREETING:
            name = session.preferences.get("name")
            hello = f"Hello {name}!" if isinstance(name, str) and name.strip() else "Hello!"
            text = f"{hello} How can I help you today?"
        elif u.intent is Intent.SMALL_TALK and u.asks_capabilities:
            return Reply(CAPABILITIES, Route.SESSION, None, source="small_talk:capabilities")
        else:
            text = SMALL_TALK[u.intent]
        return Reply(text, Route.SESSION, None, source=f"small_talk:{u.intent.value}")


def _faq_answer(hit: FaqHit | None) -> Reply:
    """The FAQ entry's answer, or what the assistant can help with when none is relevant."""
    if hit is None:
        return Reply(OFF_TOPIC, Route.FAQ, None, data={"faq_id": None}, source="no_match")
    return Reply(hit.answer, Route.FAQ, None, data=_faq_data(hit), source=hit.id)


def _faq_data(hit: FaqHit) -> dict[str, Any]:
    return {"faq_id": hit.id, "question": hit.question, "score": hit.score}


def _account_export(customer: str) -> Reply:
    return Reply(
        text=(
            "I have started an export of your account data. I will post it here when it is ready."
        ),
        route=Route.INQUIRY,
        flow=None,
        inquiry=InquiryRequest("account_export", {"customer_id": customer}),
        source="account_export",
    )
