"""Inquiries, their leases and side-effect markers, and order claims on SQLite: the
`InquiryStore`, `InquiryLeaseStore` and `OrderClaimStore` part of `SqliteStore`."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from app.adapters.sqlite_db import to_ts
from app.adapters.sqlite_schema import SqliteBase, inquiry_of, lease_fields_of
from app.domain.leases import (
    Claim,
    ClaimState,
    LeaseGrant,
    LeaseLost,
    decide_claim,
    holds_lease,
    settled_after_release,
)
from app.domain.records import Inquiry, InquiryStatus
from app.ports.store import (
    EffectMark,
    IdempotencyRecord,
    OrderClaim,
)


class SqliteInquiries(SqliteBase):
    """Inquiries, leases (rules in `app.domain.leases`), side effects, order claims."""

    def create_inquiry(self, inquiry: Inquiry, idempotency: IdempotencyRecord | None) -> None:
        with self.db.write() as conn:
            if idempotency is not None:
                self._refuse_duplicate(conn, idempotency, to_ts(idempotency.created_at))
            self._insert_inquiry(conn, inquiry)
            if idempotency is not None:
                self._insert_record(conn, idempotency)

    def get_inquiry(self, inquiry_id: str) -> Inquiry | None:
        with self.db.read() as conn:
            row = conn.execute("SELECT * FROM inquiries WHERE id = ?", (inquiry_id,)).fetchone()
        return inquiry_of(row) if row else None

    def mark_published(self, inquiry_id: str) -> None:
        with self.db.write() as conn:
            conn.execute("UPDATE inquiries SET published = 1 WHERE id = ?", (inquiry_id,))

    def unpublished_inquiries(self, created_before: datetime, limit: int) -> list[str]:
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT id FROM inquiries WHERE published = 0 AND status = ? AND created_at < ?"
                " ORDER BY created_at LIMIT ?",
                (InquiryStatus.QUEUED.value, to_ts(created_before), limit),
            ).fetchall()
        return [r["id"] for r in rows]

    def count_queued_inquiries(self, created_before: datetime, limit: int) -> int:
        with self.db.read() as conn:
            row = conn.execute(
                "SELECT COUNT(*) AS n FROM (SELECT 1 FROM inquiries WHERE status = ?"
                " AND created_at < ? LIMIT ?)",
                (InquiryStatus.QUEUED.value, to_ts(created_before), limit),
            ).fetchone()
        return int(row["n"])

    def claim_inquiry(
        self, inquiry_id: str, holder: str, now: datetime, lease_until: datetime
    ) -> Claim:
        with self.db.write() as conn:
            row = conn.execute("SELECT * FROM inquiries WHERE id = ?", (inquiry_id,)).fetchone()
            decision = decide_claim(lease_fields_of(row), holder, to_ts(now), to_ts(lease_until))
            if not isinstance(decision, LeaseGrant):
                return Claim(decision, None if row is None else inquiry_of(row))
            conn.execute(
                "UPDATE inquiries SET lease_holder = ?, lease_until = ?, status = ?, attempts = ?,"
                " updated_at = ? WHERE id = ?",
                (
                    decision.lease_holder,
                    decision.lease_until,
                    decision.status,
                    decision.attempts,
                    decision.updated_at,
                    inquiry_id,
                ),
            )
            row = conn.execute("SELECT * FROM inquiries WHERE id = ?", (inquiry_id,)).fetchone()
            effects = conn.execute(
                "SELECT effect FROM side_effects WHERE inquiry_id = ?", (inquiry_id,)
            ).fetchall()
        return Claim(ClaimState.ACQUIRED, inquiry_of(row), frozenset(r["effect"] for r in effects))

    def finish_inquiry(
        self,
        inquiry_id: str,
        holder: str,
        status: InquiryStatus,
        result: dict[str, Any] | None,
        error: str | None,
        now: datetime,
    ) -> Inquiry:
        with self.db.write() as conn:
            row = conn.execute(
                "SELECT lease_holder FROM inquiries WHERE id = ?", (inquiry_id,)
            ).fetchone()
            if row is None or not holds_lease(row["lease_holder"], holder):
                raise LeaseLost(inquiry_id)
            conn.execute(
                "UPDATE inquiries SET status = ?, result = ?, error = ?, updated_at = ?"
                " WHERE id = ?",
                (
                    status.value,
                    json.dumps(result) if result is not None else None,
                    error,
                    to_ts(now),
                    inquiry_id,
                ),
            )
            row = conn.execute("SELECT * FROM inquiries WHERE id = ?", (inquiry_id,)).fetchone()
        return inquiry_of(row)

    def release_inquiry(self, inquiry_id: str, holder: str, settled: bool, now: datetime) -> None:
        with self.db.write() as conn:
            row = conn.execute(
                "SELECT lease_holder, settled FROM inquiries WHERE id = ?", (inquiry_id,)
            ).fetchone()
            if row is None or not holds_lease(row["lease_holder"], holder):
                return
            conn.execute(
                "UPDATE inquiries SET lease_holder = NULL, lease_until = NULL, settled = ?"
                " WHERE id = ?",
                (int(settled_after_release(bool(row["settled"]), settled)), inquiry_id),
            )

    def effect_done(self, inquiry_id: str, effect: str) -> bool:
        with self.db.read() as conn:
            row = conn.execute(
                "SELECT 1 FROM side_effects WHERE inquiry_id = ? AND effect = ?",
                (inquiry_id, effect),
            ).fetchone()
        return row is not None

    def record_effect(self, inquiry_id: str, effect: str, outcome: str, now: datetime) -> None:
        with self.db.write() as conn:
            self._mark(conn, EffectMark(inquiry_id, effect), outcome, to_ts(now))

    def effect_outcomes(self, inquiry_id: str) -> dict[str, str]:
        """Every recorded side effect of an inquiry (for operators and tests)."""
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT effect, outcome FROM side_effects WHERE inquiry_id = ?", (inquiry_id,)
            ).fetchall()
        return {r["effect"]: r["outcome"] for r in rows}

    def get_claim(self, order_id: str) -> OrderClaim | None:
        with self.db.read() as conn:
            return self._claim_of(conn, order_id)

    def create_claim(self, claim: OrderClaim) -> OrderClaim:
        """Read and insert under one write lock: a concurrent create waits, then finds this one."""
        with self.db.write() as conn:
            existing = self._claim_of(conn, claim.order_id)
            if existing is not None:
                return existing
            self._insert_claim(conn, claim)
        return claim
