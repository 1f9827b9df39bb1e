"""Who may process an inquiry: the claim and lease rules every store applies in its transaction.

A worker claims an inquiry before processing it. The store reads the inquiry's lease fields,
asks `decide_claim` what the claim is, writes the returned `LeaseGrant` (when there is one) in
the same transaction, and answers a `Claim`. Finishing and releasing likewise ask
`holds_lease` first. Times are whatever the store keeps (epoch seconds for SQLite, datetimes
for Firestore), compared as stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Generic, TypeVar

from app.domain.records import Inquiry, InquiryStatus

Moment = TypeVar("Moment", float, datetime)


class LeaseLost(Exception):
    """Another worker took over the inquiry (this one's lease expired)."""


class ClaimState(StrEnum):
    ACQUIRED = "acquired"  # this worker holds the lease now
    BUSY = "busy"  # another worker holds a live lease
    SETTLED = "settled"  # final and every side effect done: nothing left to do
    MISSING = "missing"


@dataclass(frozen=True)
class Claim:
    state: ClaimState
    inquiry: Inquiry | None = None
    # The side effects recorded as of the claim: the lease holder needs no `effect_done` reads.
    effects: frozenset[str] = frozenset()


@dataclass(frozen=True)
class LeaseFields(Generic[Moment]):
    """What a store reads of an inquiry to decide a claim."""

    settled: bool
    lease_holder: str | None
    lease_until: Moment | None
    status: str
    attempts: int
    updated_at: Moment


@dataclass(frozen=True)
class LeaseGrant(Generic[Moment]):
    """What a store writes when the claim is granted: the lease, and the inquiry's new state."""

    lease_holder: str
    lease_until: Moment
    status: str
    attempts: int
    updated_at: Moment


def decide_claim(
    fields: LeaseFields[Moment] | None, holder: str, now: Moment, lease_until: Moment
) -> ClaimState | LeaseGrant[Moment]:
    """MISSING (no inquiry), SETTLED, BUSY (another holder's lease is live at `now`), or the
    grant to write: the lease to `holder` until `lease_until`; an inquiry not yet final is
    marked running with one more attempt, a final one keeps its status and time (callbacks
    resend it)."""
    if fields is None:
        return ClaimState.MISSING
    if fields.settled:
        return ClaimState.SETTLED
    held = fields.lease_holder is not None and (
        fields.lease_until is not None and fields.lease_until > now
    )
    if held and fields.lease_holder != holder:
        return ClaimState.BUSY
    status, attempts, updated = fields.status, fields.attempts, fields.updated_at
    if not InquiryStatus(status).is_final:
        status, attempts, updated = InquiryStatus.RUNNING.value, attempts + 1, now
    return LeaseGrant(holder, lease_until, status, attempts, updated)


def holds_lease(lease_holder: str | None, holder: str) -> bool:
    """Whether `holder` still holds the inquiry's lease (finish and release check it first)."""
    return lease_holder is not None and lease_holder == holder


def settled_after_release(was_settled: bool, settled: bool) -> bool:
    """A release records `settled`; an inquiry once settled stays settled."""
    return was_settled or settled
