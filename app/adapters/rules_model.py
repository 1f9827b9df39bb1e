"""The default `Model`: deterministic keyword rules, offline, the same answer every time.

It is what the tests and `make run` use, so routing and replies never depend on a network
or on sampling. The Gemini adapter implements the same port for production wording.
"""

from __future__ import annotations

import re
from typing import Any

from app.ports import Intent, Understanding

ORDER_ID = re.compile(r"\b[Aa][- ]?(\d{4})\b")

_CANCEL = re.compile(r"\b(cancel|never ?mind|forget it|stop|abort)\b")
_CONFIRM = re.compile(r"^\s*(yes|y|yeah|yep|sure|confirm|confirmed|correct|ok|okay|please do)\b")
_DENY = re.compile(r"^\s*(no|n|nope|nah|don't|do not)\b")
_GREETING = re.compile(r"^\s*(hi|hello|hey|good (morning|afternoon|evening))\b[\s!.,]*$")
_GENERAL_QUESTION = re.compile(
    r"^\s*(how|what|what's|why|which|who|do you|does|is there|are there|can i|can you|could i"
    r"|is it|are you)\b"
)
_REFUND = re.compile(r"\b(refund|money back|reimburse|reimbursement|chargeback)\b")
_RETURN = re.compile(r"\b(return|send (it|this|them) back|give (it|this) back)\b")
_EXPORT = re.compile(
    r"\b(export|(copy|download|dump) of (my|all my) (data|account|orders|information)"
    r"|my (personal )?data)\b"
)
_STATUS = re.compile(
    r"\b(where is|where's|status|track|tracking|shipped|arrive|arriving|delivered|delivery|"
    r"when will)\b"
)
_MY_ORDER = re.compile(r"\bmy (order|package|parcel|delivery|purchase|shipment)\b")

REASONS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("damaged", re.compile(r"\b(broken|broke|damaged|cracked|smashed|defective|faulty|torn)\b")),
    ("wrong_item", re.compile(r"\b(wrong (item|size|colou?r|product)|not what i ordered)\b")),
    ("does_not_fit", re.compile(r"\b(does ?n[o']t fit|too (small|big|large|tight|loose))\b")),
    ("not_delivered", re.compile(r"\b(never (arrived|came)|not (arrived|delivered)|lost)\b")),
    (
        "changed_mind",
        re.compile(r"\b(changed my mind|don't (want|need|like)|no longer|not needed)\b"),
    ),
)


def find_order_id(text: str) -> str | None:
    match = ORDER_ID.search(text)
    return f"A{match.group(1)}" if match else None


def find_reason(text: str) -> str | None:
    lowered = text.lower()
    for code, pattern in REASONS:
        if pattern.search(lowered):
            return code
    return None


class RulesModel:
    """Implements `app.ports.Model` with regular expressions."""

    name = "rules"

    def understand(self, text: str) -> Understanding:
        lowered = text.lower()
        order_id = find_order_id(text)
        reason = find_reason(text)
        general = bool(_GENERAL_QUESTION.search(lowered))
        wants = order_id is not None or not general

        if _CANCEL.search(lowered) and not _REFUND.search(lowered) and order_id is None:
            intent = Intent.CANCEL
        elif _CONFIRM.search(lowered) and len(lowered.split()) <= 4:
            intent = Intent.CONFIRM
        elif _DENY.search(lowered) and len(lowered.split()) <= 4:
            intent = Intent.DENY
        elif _GREETING.search(lowered):
            intent = Intent.GREETING
        elif _REFUND.search(lowered) and wants:
            intent = Intent.REFUND
        elif _RETURN.search(lowered) and wants:
            intent = Intent.RETURN
        elif _EXPORT.search(lowered) and not general:
            intent = Intent.ACCOUNT_EXPORT
        elif _STATUS.search(lowered) and (order_id or (_MY_ORDER.search(lowered) and not general)):
            intent = Intent.ORDER_STATUS
        elif order_id is not None and len(lowered.split()) <= 3:
            intent = Intent.ORDER_STATUS  # a bare order number
        else:
            intent = Intent.QUESTION
        return Understanding(intent=intent, order_id=order_id, reason=reason)

    def phrase(self, draft: str, facts: dict[str, Any]) -> str:
        """The draft is already the answer; the rules model adds no wording of its own."""
        return draft
