"""What an agent decides for one customer turn, before anything is stored."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.domain.flows import FlowChange
from app.domain.records import HandoffState, Route


@dataclass(frozen=True)
class InquiryRequest:
    kind: str
    details: dict[str, Any]


@dataclass(frozen=True)
class ClaimRequest:
    """A return the turn creates: stored as the order's one claim, with the turn."""

    order_id: str
    kind: str
    claim_id: str
    status: str
    amount_cents: int


@dataclass(frozen=True)
class Reply:
    text: str
    route: Route
    flow: FlowChange = None  # the session's new flow, or CLEAR; None leaves it as it is
    data: dict[str, Any] = field(default_factory=dict)
    inquiry: InquiryRequest | None = None  # an inquiry to open with this turn
    source: str = ""  # what answered: an FAQ entry id, a flow step, an inquiry kind
    order_claim: ClaimRequest | None = None
    # The session's handoff state after this turn (None: as it is): WAITING when the customer
    # asks for a person, stored with the turn.
    handoff: HandoffState | None = None
