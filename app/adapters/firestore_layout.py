"""Where the Firestore adapter keeps its documents, and the queries it runs on them.

The shapes of the queries live here as data so that a test can hold them against the composite
indexes the stacks declare (`APP_INDEXES` in `infra/app_storage.py`): the adapter builds each
composite query from its shape, so the declaration cannot drift from the query it describes.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import timedelta

SESSIONS = "sessions"
MESSAGES = "messages"  # a subcollection of each session: sessions/{session_id}/messages/{id}
INQUIRIES = "inquiries"
IDEMPOTENCY = "idempotency"
# One document per order that has a return or a refund, named by the order id. Not under a TTL
# policy and not erased: claims are order records, kept as long as the orders.
ORDER_CLAIMS = "order_claims"

# The field the storage module's TTL policies watch, on every document of these collections.
TTL_FIELD = "expires_at"
TTL_COLLECTIONS = (SESSIONS, MESSAGES, INQUIRIES, IDEMPOTENCY)

# Messages stay this long after their session's expiry as of their turn: long enough that the
# TTL policy never removes a message of a live session unless that session has been active
# for longer than this, short enough that an abandoned conversation does not linger.
MESSAGE_RETENTION = timedelta(days=30)

# The unpublished-inquiry sweep reads at most this many queued inquiries per call.
SWEEP_SCAN_LIMIT = 500

_DOC_ID = re.compile(r"^(?!\.\.?$)(?!__.*__$)[^/]{1,500}$")


def valid_doc_id(value: object) -> bool:
    """Whether `value` can name a document (no slash, not '.' or '..', not __reserved__)."""
    return isinstance(value, str) and bool(_DOC_ID.fullmatch(value))


def append_once_scope(session_id: str) -> str:
    """The scope of `append_once`'s dedupe markers, kept beside the idempotency records."""
    return f"append-once:{session_id}"


def keyed_doc_id(scope: str, key: str) -> str:
    """A document id for a (scope, key) pair whose parts may hold any character."""
    return hashlib.sha256(f"{scope}\x00{key}".encode()).hexdigest()


@dataclass(frozen=True)
class CompositeQuery:
    """A query with equality filters on `equals`, then a range and an order on `order_by`."""

    name: str
    collection: str
    equals: tuple[str, ...]
    order_by: tuple[str, str]  # (field, "ASCENDING" | "DESCENDING")

    def index_fields(self) -> tuple[tuple[str, str], ...]:
        """The composite index Firestore needs to serve this query."""
        return (*((name, "ASCENDING") for name in self.equals), self.order_by)


# Queued inquiries not updated since before a moment, oldest first: the requeue sweep, and
# housekeeping's count of inquiries queued too long (a queued inquiry's `updated_at` is its
# `created_at`), which one index serves.
UNPUBLISHED_INQUIRIES = CompositeQuery(
    name="unpublished_inquiries",
    collection=INQUIRIES,
    equals=("status",),
    order_by=("updated_at", "ASCENDING"),
)

# Sessions in one handoff state, the longest in it first: the staff's queue (waiting, then
# joined), and housekeeping's count of customers waiting for a person too long (with a bound on
# `handoff_since`), which one index serves.
HANDOFF_QUEUE = CompositeQuery(
    name="handoff_queue",
    collection=SESSIONS,
    equals=("handoff_state",),
    order_by=("handoff_since", "ASCENDING"),
)

COMPOSITE_QUERIES: tuple[CompositeQuery, ...] = (UNPUBLISHED_INQUIRIES, HANDOFF_QUEUE)

# Equality queries of a customer's erasure, each on one field.
SESSIONS_BY_CUSTOMER = (SESSIONS, "customer_id")
INQUIRIES_BY_CUSTOMER = (INQUIRIES, "customer_id")
RECORDS_BY_SCOPE = (IDEMPOTENCY, "scope")  # a session's turn records and dedupe markers

# (collection, field) of every query that filters or orders on one field only: Firestore's
# automatic single-field indexes serve these, so none may use the TTL field, whose
# single-field indexes the storage module turns off.
SINGLE_FIELD_QUERIES: tuple[tuple[str, str], ...] = (
    (MESSAGES, "seq"),  # a page of a session's messages: below a seq, newest first
    SESSIONS_BY_CUSTOMER,
    INQUIRIES_BY_CUSTOMER,
    RECORDS_BY_SCOPE,
)
