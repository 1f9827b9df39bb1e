"""The right to erasure: a customer's sessions, messages and inquiries deleted, orders kept.

`DELETE /v1/customers/me/data` queues an inquiry of kind `ERASURE` owned by the caller; the
worker runs `erase` on it. The erasure inquiry itself is kept, so its owner can read what was
deleted (counts only); it posts nothing anywhere (no session message, event or callback), and
it expires with the other inquiries.
"""

from __future__ import annotations

from typing import Any

from app.ports.store import ErasureStore

ERASURE = "data_erasure"
KEPT_BY_LAW = (
    "Orders are kept: invoices and order records must be retained by law (commercial and tax"
    " record-keeping), so they are not part of an erasure."
)


def erase(store: ErasureStore, inquiry_id: str, customer_id: str) -> dict[str, Any]:
    """Delete what the customer has here (but this inquiry); the result counts it."""
    erased = store.erase_customer(customer_id, keep_inquiry_id=inquiry_id)
    return {
        "deleted": erased.counts(),
        "kept": {"orders": KEPT_BY_LAW},
        "steps": [{"step": "erase", "outcome": "done"}],
    }
