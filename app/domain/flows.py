"""The support agent's multi-turn flows as typed values, and their stored form.

A session stores its flow as a JSON object (`Session.flow`): {"name", "step", "asks",
"order_id", "reason", "amount_cents"}, each key present only when set. `SupportFlow` reads and
writes exactly that object, so sessions stored before still load. A reply's flow change is a
`SupportFlow` (the new flow), `CLEAR` (no flow any more) or None (the flow stays as it is).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import Enum, StrEnum
from typing import Any, Final


class FlowName(StrEnum):
    ORDER_STATUS = "order_status"
    RETURN = "return"
    REFUND = "refund"


class FlowStep(StrEnum):
    ORDER_ID = "order_id"  # waiting for an order number
    REASON = "reason"  # a return waiting for its reason
    CONFIRM = "confirm"  # waiting for yes or no: a return to create, a refund review offered


@dataclass(frozen=True)
class SupportFlow:
    """A flow in progress. `name` and `step` are a FlowName and a FlowStep as the agent writes
    them; a stored flow is read as it is, so an unknown name reaches the agent (which starts
    over) instead of failing the turn."""

    name: str
    step: str | None = FlowStep.ORDER_ID
    asks: int = 1  # questions asked for the current step
    order_id: str | None = None
    reason: str | None = None
    amount_cents: int | None = None  # a return's refund, once confirmed

    def but(self, **changes: Any) -> SupportFlow:
        """This flow with `changes`."""
        return replace(self, **changes)

    def to_stored(self) -> dict[str, Any]:
        """The JSON object the session stores."""
        stored: dict[str, Any] = {"name": str(self.name)}
        if self.step is not None:
            stored["step"] = str(self.step)
        stored["asks"] = self.asks
        for key, value in (
            ("order_id", self.order_id),
            ("reason", self.reason),
            ("amount_cents", self.amount_cents),
        ):
            if value is not None:
                stored[key] = value
        return stored

    @classmethod
    def from_stored(cls, stored: Mapping[str, Any]) -> SupportFlow | None:
        """The flow of a stored object; None when the session has none (no name)."""
        name = stored.get("name")
        if not name:
            return None
        amount = stored.get("amount_cents")
        return cls(
            name=str(name),
            step=stored.get("step"),
            asks=int(stored.get("asks", 1)),
            order_id=stored.get("order_id"),
            reason=stored.get("reason"),
            amount_cents=None if amount is None else int(amount),
        )


class FlowCleared(Enum):
    CLEAR = "clear"


CLEAR: Final = FlowCleared.CLEAR  # a reply that ends the session's flow

FlowChange = SupportFlow | FlowCleared | None  # None: the flow stays as it is


def stored_change(change: FlowChange) -> dict[str, Any] | None:
    """A flow change as `Turn.new_flow` takes it: None (as it is), {} (cleared) or the flow."""
    if change is None:
        return None
    if change is CLEAR:
        return {}
    assert isinstance(change, SupportFlow)
    return change.to_stored()
