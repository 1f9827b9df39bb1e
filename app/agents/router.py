"""The hybrid router: sends each customer turn to the FAQ agent, the support flow, or an inquiry.

Rule one: a flow in progress keeps the turn (only "cancel" leaves it), so "A1005" or "yes"
mean what the flow asked for. Otherwise the model's intent picks the agent: refunds and
account exports open an inquiry (asynchronous work), order status and returns go to the
support flow, and everything else is a question for the FAQ.
"""

from __future__ import annotations

from typing import Any

from app.agents.faq import FaqAgent
from app.agents.replies import InquiryRequest, Reply
from app.agents.support import SupportAgent
from app.domain import Route, Session
from app.ports import Intent, Understanding

FAQ_MIN_SCORE = 1.0  # below this the best FAQ hit is a guess, not an answer

FALLBACK = (
    "I am not sure I understood. I can answer questions about shipping, returns, refunds and "
    'payments, look up an order (for example "Where is my order A1003?"), start a return, '
    "review a refund, or export your account data."
)


class HybridRouter:
    def __init__(self, faq: FaqAgent, support: SupportAgent) -> None:
        self.faq = faq
        self.support = support

    def decide(self, session: Session, text: str, u: Understanding) -> Reply:
        flow = session.flow
        if flow.get("name"):
            if u.intent is Intent.CANCEL:
                return self.support.cancel(flow)
            return self.support.continue_flow(session.customer_id, flow, u)

        if u.intent is Intent.REFUND:
            return self.support.start_refund(session.customer_id, u)
        if u.intent is Intent.ACCOUNT_EXPORT:
            return self._account_export(session)
        if u.intent is Intent.ORDER_STATUS:
            return self.support.order_status(session.customer_id, u)
        if u.intent is Intent.RETURN:
            return self.support.start_return(session.customer_id, u)
        if u.intent is Intent.GREETING:
            return self._greeting(session)
        return self._faq(text)

    def _account_export(self, session: Session) -> Reply:
        return Reply(
            text=(
                "I have started an export of your account data. I will post it here when it "
                "is ready."
            ),
            route=Route.INQUIRY,
            flow=None,
            inquiry=InquiryRequest("account_export", {"customer_id": session.customer_id}),
        )

    def _greeting(self, session: Session) -> Reply:
        name = session.preferences.get("name")
        hello = f"Hello {name}!" if isinstance(name, str) and name.strip() else "Hello!"
        return Reply(
            text=f"{hello} How can I help you today?", route=Route.SESSION, flow=None, data={}
        )

    def _faq(self, text: str) -> Reply:
        query = text[:500]
        hits = self.faq.search(query, 3) if query.strip() else []
        if hits and hits[0].score >= FAQ_MIN_SCORE:
            best = hits[0]
            data: dict[str, Any] = {
                "faq_id": best.id,
                "question": best.question,
                "score": best.score,
            }
            return Reply(text=best.answer, route=Route.FAQ, flow=None, data=data)
        return Reply(text=FALLBACK, route=Route.FAQ, flow=None, data={"faq_id": None})
