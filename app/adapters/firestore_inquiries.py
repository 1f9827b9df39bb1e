"""Inquiries, their leases and side-effect markers, and order claims on Firestore: the
`InquiryStore`, `InquiryLeaseStore` and `OrderClaimStore` part of `FirestoreStore`."""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any

from google.api_core import exceptions as gexc

from app.adapters.firestore_base import (
    FirestoreBase,
    read_doc,
    require_ids,
)
from app.adapters.firestore_codec import (
    claim_doc,
    claim_from,
    inquiry_doc,
    inquiry_from,
    record_doc,
    record_from,
    to_json,
)
from app.adapters.firestore_layout import (
    SWEEP_SCAN_LIMIT,
    UNPUBLISHED_INQUIRIES,
    valid_doc_id,
)
from app.adapters.firestore_tx import (
    run_transaction,
    translated_errors,
)
from app.domain.leases import (
    Claim,
    ClaimState,
    LeaseFields,
    LeaseGrant,
    LeaseLost,
    decide_claim,
    holds_lease,
    settled_after_release,
)
from app.domain.records import Inquiry, InquiryStatus
from app.ports.store import (
    DuplicateKey,
    IdempotencyRecord,
    OrderClaim,
)


class FirestoreInquiries(FirestoreBase):
    """Inquiries, leases (rules in `app.domain.leases`), side effects, order claims."""

    # --- inquiries ---

    def create_inquiry(self, inquiry: Inquiry, idempotency: IdempotencyRecord | None) -> None:
        """Without a key, one create (a commit); with one, a transaction that reads the key's
        record first."""
        require_ids([inquiry.id])
        if idempotency is None:
            with translated_errors("inquiry create"):
                self._inquiry(inquiry.id).create(inquiry_doc(inquiry), **self._call)
            return
        record_ref = self._record(idempotency.scope, idempotency.key)

        def body(transaction: Any) -> None:
            earlier = read_doc(transaction, record_ref, self._call)
            if earlier.exists and earlier.get("expires_at") > idempotency.created_at:
                raise DuplicateKey(record_from(earlier.to_dict()))
            transaction.create(self._inquiry(inquiry.id), inquiry_doc(inquiry))
            transaction.set(record_ref, record_doc(idempotency))

        run_transaction(self.client, body)

    def get_inquiry(self, inquiry_id: str) -> Inquiry | None:
        if not valid_doc_id(inquiry_id):
            return None
        with translated_errors("inquiry read"):
            snap = self._inquiry(inquiry_id).get(**self._call)
        return inquiry_from(snap.to_dict()) if snap.exists else None

    def mark_published(self, inquiry_id: str) -> None:
        if not valid_doc_id(inquiry_id):
            return
        # An inquiry gone (expired) has nothing left to publish.
        with translated_errors("inquiry update"), contextlib.suppress(gexc.NotFound):
            self._inquiry(inquiry_id).update({"published": True}, **self._call)

    def unpublished_inquiries(self, created_before: datetime, limit: int) -> list[str]:
        """Reads queued inquiries oldest first (a queued inquiry's `updated_at` is its
        `created_at`) and keeps the unpublished ones: the index serves status and time, and
        the few published ones still queued are skipped here."""
        query = self._composite(
            UNPUBLISHED_INQUIRIES, {"status": InquiryStatus.QUEUED.value}, "<", created_before
        ).limit(SWEEP_SCAN_LIMIT)
        found: list[str] = []
        with translated_errors("inquiry sweep"):
            for snap in query.stream(**self._call):
                doc = snap.to_dict()
                if not doc.get("published") and doc["created_at"] < created_before:
                    found.append(doc["id"])
                    if len(found) >= limit:
                        break
        return found

    def count_queued_inquiries(self, created_before: datetime, limit: int) -> int:
        """A count aggregation over the sweep's query: the same index serves it, and Firestore
        bills one read per batch of up to 1000 index entries counted, not one per inquiry."""
        query = self._composite(
            UNPUBLISHED_INQUIRIES, {"status": InquiryStatus.QUEUED.value}, "<", created_before
        ).limit(limit)
        with translated_errors("inquiry count"):
            (results,) = query.count(alias="queued").get(**self._call)
        return int(results[0].value)

    def claim_inquiry(
        self, inquiry_id: str, holder: str, now: datetime, lease_until: datetime
    ) -> Claim:
        if not valid_doc_id(inquiry_id):
            return Claim(ClaimState.MISSING)
        ref = self._inquiry(inquiry_id)

        def body(transaction: Any) -> Claim:
            snap = read_doc(transaction, ref, self._call)
            if not snap.exists:
                return Claim(ClaimState.MISSING)
            doc = snap.to_dict()
            decision = decide_claim(_lease_fields(doc), holder, now, lease_until)
            if not isinstance(decision, LeaseGrant):
                return Claim(decision, inquiry_from(doc))
            changes = {
                "lease_holder": decision.lease_holder,
                "lease_until": decision.lease_until,
                "status": decision.status,
                "attempts": decision.attempts,
                "updated_at": decision.updated_at,
            }
            transaction.update(ref, changes)
            effects = frozenset(doc.get("effects") or {})
            return Claim(ClaimState.ACQUIRED, inquiry_from({**doc, **changes}), effects)

        return run_transaction(self.client, body)

    def finish_inquiry(
        self,
        inquiry_id: str,
        holder: str,
        status: InquiryStatus,
        result: dict[str, Any] | None,
        error: str | None,
        now: datetime,
    ) -> Inquiry:
        if not valid_doc_id(inquiry_id):
            raise LeaseLost(inquiry_id)
        ref = self._inquiry(inquiry_id)

        def body(transaction: Any) -> Inquiry:
            snap = read_doc(transaction, ref, self._call)
            if not snap.exists or not holds_lease(snap.get("lease_holder"), holder):
                raise LeaseLost(inquiry_id)
            changes = {
                "status": status.value,
                "result": None if result is None else to_json(result),
                "error": error,
                "updated_at": now,
            }
            transaction.update(ref, changes)
            return inquiry_from({**snap.to_dict(), **changes})

        return run_transaction(self.client, body)

    def release_inquiry(self, inquiry_id: str, holder: str, settled: bool, now: datetime) -> None:
        if not valid_doc_id(inquiry_id):
            return
        ref = self._inquiry(inquiry_id)

        def body(transaction: Any) -> None:
            snap = read_doc(transaction, ref, self._call)
            if snap.exists and holds_lease(snap.get("lease_holder"), holder):
                transaction.update(
                    ref,
                    {
                        "lease_holder": None,
                        "lease_until": None,
                        "settled": settled_after_release(bool(snap.get("settled")), settled),
                    },
                )

        run_transaction(self.client, body)

    def _effects(self, inquiry_id: str) -> dict[str, Any]:
        if not valid_doc_id(inquiry_id):
            return {}
        with translated_errors("inquiry read"):
            snap = self._inquiry(inquiry_id).get(["effects"], **self._call)
        if not snap.exists:
            return {}
        return (snap.to_dict() or {}).get("effects") or {}

    def effect_done(self, inquiry_id: str, effect: str) -> bool:
        return effect in self._effects(inquiry_id)

    def effect_outcomes(self, inquiry_id: str) -> dict[str, str]:
        """Every recorded side effect of an inquiry (for operators and tests)."""
        return {name: value["outcome"] for name, value in self._effects(inquiry_id).items()}

    # --- order claims ---

    def get_claim(self, order_id: str) -> OrderClaim | None:
        if not valid_doc_id(order_id):
            return None
        with translated_errors("order claim read"):
            snap = self._order_claim(order_id).get(**self._call)
        return claim_from(snap.to_dict()) if snap.exists else None

    def create_claim(self, claim: OrderClaim) -> OrderClaim:
        """A transaction that reads the order's document, then creates it if absent: of two
        concurrent creates one commits and the other, retried, reads the winner's claim."""
        require_ids([claim.order_id])
        ref = self._order_claim(claim.order_id)

        def body(transaction: Any) -> OrderClaim:
            snap = read_doc(transaction, ref, self._call)
            if snap.exists:
                return claim_from(snap.to_dict())
            transaction.create(ref, claim_doc(claim))
            return claim

        return run_transaction(self.client, body)


def _lease_fields(doc: dict[str, Any]) -> LeaseFields[datetime]:
    return LeaseFields(
        settled=bool(doc.get("settled")),
        lease_holder=doc.get("lease_holder"),
        lease_until=doc.get("lease_until"),
        status=doc["status"],
        attempts=doc["attempts"],
        updated_at=doc["updated_at"],
    )
