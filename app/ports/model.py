"""The language model port: what a customer turn asks for, and the wording of replies."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol


class Intent(StrEnum):
    """What a customer turn asks for, as far as routing needs to know."""

    GREETING = "greeting"
    THANKS = "thanks"
    GOODBYE = "goodbye"
    SMALL_TALK = "small_talk"  # how are you, who are you
    HUMAN = "human"  # asks for a person
    ORDER_STATUS = "order_status"
    RETURN = "return"
    REFUND = "refund"
    ACCOUNT_EXPORT = "account_export"
    CONFIRM = "confirm"
    DENY = "deny"
    CANCEL = "cancel"
    QUESTION = "question"  # anything else: the FAQ agent answers, or says what it can do


@dataclass(frozen=True)
class Understanding:
    intent: Intent
    order_id: str | None = None  # normalized, e.g. "A1007"
    reason: str | None = None  # a reason code: damaged, wrong_item, does_not_fit, changed_mind, ...
    language: str = "en"  # en, de, fr or es: the replies are in English, saying so
    # The turn asks to cancel the order it names: the assistant cannot, so it answers with the
    # order's status and what can still be done (cancelled by the team, or returned).
    cancel_order: bool = False
    # Small talk that asks who the assistant is or what it can do ("help", "are you a bot?"):
    # answered with what it can do rather than pleasantries.
    asks_capabilities: bool = False
    # "my last order": the customer's most recent order stands for the number they left out.
    latest_order: bool = False


class Model(Protocol):
    """Language understanding and wording. The agents decide; the model never invents facts."""

    @property
    def name(self) -> str:
        """The model's name, as logs and answers show it."""

    def understand(self, text: str) -> Understanding:
        """Classify one customer turn. Raises Unavailable when the model does not answer."""

    def phrase(self, draft: str, facts: dict[str, Any]) -> str:
        """Word a reply whose content is `draft` (already correct) for the customer."""

    def phrase_stream(self, draft: str, facts: dict[str, Any]) -> Iterator[str]:
        """`phrase`, piece by piece as the model produces it (the pieces joined are the
        wording; none: keep the draft), for replies streamed to the customer. Raises
        Unavailable, possibly after some pieces."""
