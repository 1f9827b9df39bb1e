"""What the reference app keeps in Firestore: the collections that expire, the indexes it needs.

Why here: `modules/storage.py` serves any app, so it knows none of this one's collections. The
app's Firestore adapter (`app/adapters/firestore_layout.py`) stamps `expires_at` on every
document of the collections below and runs exactly the composite queries these indexes serve;
tests/app/adapters/contract/test_firestore_indexes.py holds the two in step. The stack passes
`APP_TTL_POLICY` and `APP_INDEXES` to `FirestoreDatabaseProps`.
"""

from __future__ import annotations

from modules.storage import CompositeIndex, TtlPolicy

# Sessions, their messages, inquiries and idempotency records expire; order claims never do
# (they are order records, kept by law).
APP_TTL_POLICY = TtlPolicy(
    collections=("sessions", "messages", "inquiries", "idempotency"), field="expires_at"
)

# The sweep for inquiries still queued (status == "queued", updated_at < cutoff), and the
# staff's queue of conversations handed to a person (handoff_state == "waiting", oldest
# handoff_since first; also counted with handoff_since < cutoff). Every index slows each write
# of its collection a little.
APP_INDEXES: tuple[CompositeIndex, ...] = (
    CompositeIndex(
        collection="inquiries", fields=(("status", "ASCENDING"), ("updated_at", "ASCENDING"))
    ),
    CompositeIndex(
        collection="sessions",
        fields=(("handoff_state", "ASCENDING"), ("handoff_since", "ASCENDING")),
    ),
)
