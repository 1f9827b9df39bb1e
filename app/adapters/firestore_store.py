"""The `Store` port on Firestore (native mode), for `STATE_BACKEND=firestore`.

Data layout (collection names in `firestore_layout`):

- `sessions/{id}`: customer, preferences, flow and `flow_version`, the expiry (`active_until`,
  and the TTL field `expires_at` equal to it), `next_seq`, the seq the next message gets, and
  the handoff state (`handoff_state`, `handoff_since`), which the staff's queue queries
  through the composite index `HANDOFF_QUEUE` declares; a state change is part of a turn.
  Every write of a message goes through this document: the turn reads it (flow version,
  expiry, `next_seq`) and writes it back with the new `next_seq` and expiry, on the condition
  that it is still as read, so seqs are assigned at write time, gap-free, in one order, and a
  turn costs the same whether the session holds 2 messages or 1000 (`SESSION_MAX_MESSAGES`
  bounds it). The price is that two turns of one session serialize on its document (the later
  reads again and writes again), which a conversation, one customer turn after turn, hardly
  ever meets.
- `sessions/{id}/messages/{message_id}`: one document per message, named by its id (chosen up
  front, so the answer to an idempotent retry is one document read), with its `seq`. A page of
  messages is one query on `seq` (below a cursor, newest first, `limit` documents), which the
  automatic single-field index serves. Their `expires_at` is the session's expiry as of the
  write plus `MESSAGE_RETENTION`, so the TTL policy removes them after their session.
  Layout 1 (before seqs were stored) computed each message's position at read time from
  commit order; a session stored that way has no `next_seq`, and the first read or write that
  meets it numbers its messages in that order once (`_number_layout1`), in batches, then
  carries on. Its messages keep their layout-1 fields, which nothing reads any more.
- `inquiries/{id}`: the inquiry with its owner (`customer_id`), its publish flag, its
  processing lease (`lease_holder`, `lease_until`), `settled`, and the side effects done
  (`effects`, a map of effect to outcome), so that the TTL policy (and an erasure) removes an
  inquiry with its effect markers. Recording an effect of an inquiry that does not exist
  stores nothing.
- `idempotency/{sha256(scope, key)}`: idempotency records, and the dedupe keys of
  `append_once` (scope `append-once:<session>`, response `{"message_id": ...}`).
- `order_claims/{order_id}`: an order's one return or refund. The order id names the document,
  so "at most one per order" is a read and a create of one document in a transaction (a turn's
  return, or `create_claim`), and a lookup needs no index. No `expires_at`: claims are order
  records, which no TTL policy removes.

A customer's erasure finds their sessions and inquiries by `customer_id` and the idempotency
records and markers by `scope`, and deletes them in batches (see `erase_customer`). It leaves
their order claims, as it leaves the orders.

Every write that can meet another writer is atomic over the documents it names. The writes of
a session's messages, the turn (idempotency record, session, messages, inquiry, order claim)
and `append_once` (with its effect marker), are one batched read and one commit whose
preconditions say the documents are still as read (`_guarded_write`): two calls, no locks
held in between. Inquiry creation under a key, claim, finish, release and effect markers, and
`create_claim` are transactions (begin, read, commit). Expired documents are
deleted by the TTL policies that `modules/storage.py` declares (Firestore deletes within about
a day), and every read checks the expiry itself, so `purge_expired` has nothing to do. Queries
are served by the storage module's composite indexes (`COMPOSITE_QUERIES`) or by single-field
indexes on fields other than the TTL field.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from itertools import chain
from typing import Any

from google.api_core import exceptions as gexc
from google.auth import exceptions as auth_exceptions
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from app.adapters.firestore_base import BATCH_WRITE_LIMIT, PING_TIMEOUT
from app.adapters.firestore_inquiries import FirestoreInquiries
from app.adapters.firestore_layout import (
    INQUIRIES_BY_CUSTOMER,
    RECORDS_BY_SCOPE,
    SESSIONS,
    SESSIONS_BY_CUSTOMER,
    append_once_scope,
)
from app.adapters.firestore_sessions import FirestoreSessions
from app.adapters.firestore_tx import (
    translated_errors,
)
from app.config.settings import Settings, SettingsError
from app.domain.errors import Unavailable
from app.ports.store import (
    Erasure,
    inquiry_scope,
    session_scope,
)


class FirestoreStore(FirestoreSessions, FirestoreInquiries):
    """Implements `app.ports.store.Store` on one Firestore database."""

    @classmethod
    def from_settings(cls, settings: Settings) -> FirestoreStore:
        """The store on `GOOGLE_CLOUD_PROJECT` / `FIRESTORE_DATABASE`; the client library
        itself honours `FIRESTORE_EMULATOR_HOST`."""
        if not settings.google_cloud_project:
            raise SettingsError("GOOGLE_CLOUD_PROJECT: required when STATE_BACKEND=firestore")
        try:
            client = firestore.Client(
                project=settings.google_cloud_project, database=settings.firestore_database
            )
        except auth_exceptions.DefaultCredentialsError as exc:
            raise Unavailable(f"Firestore credentials are not available: {exc}") from exc
        return cls(client)

    # --- erasure ---

    def erase_customer(self, customer_id: str, keep_inquiry_id: str | None = None) -> Erasure:
        """Batched deletes, not one transaction (a customer can own more documents than one
        commit takes). Each session's document goes after everything found through it, so an
        erasure cut off half-way leaves the rest findable and running it again finishes it.
        Dedupe markers are deleted but not counted: SQLite keeps them on the messages. Order
        claims are not looked at: they are order records, kept by law like the orders."""
        session_ids: list[str] = []
        messages = records = 0
        for ref in self._matching(SESSIONS_BY_CUSTOMER, customer_id):
            erased_messages, erased_records = self._erase_session(ref.id)
            session_ids.append(ref.id)
            messages += erased_messages
            records += erased_records
        inquiries = [
            ref
            for ref in self._matching(INQUIRIES_BY_CUSTOMER, customer_id)
            if ref.id != keep_inquiry_id
        ]
        owned_records = self._matching(RECORDS_BY_SCOPE, inquiry_scope(customer_id))
        self._delete_all([*inquiries, *owned_records])  # effect markers live in the inquiry
        return Erasure(tuple(session_ids), messages, len(inquiries), records + len(owned_records))

    def _erase_session(self, session_id: str) -> tuple[int, int]:
        """(messages, turn records) deleted with the session. Once its document is gone no turn
        or `append_once` can add to it, so a second look finds what one added meanwhile."""
        first = self._session_parts(session_id)
        self._delete_all([*chain(*first), self._session(session_id)])
        late = self._session_parts(session_id)
        self._delete_all(list(chain(*late)))
        return len(first[0]) + len(late[0]), len(first[1]) + len(late[1])

    def _session_parts(self, session_id: str) -> tuple[list[Any], list[Any], list[Any]]:
        """References to the session's messages, turn records and dedupe markers."""
        return (
            self._references(self._messages(session_id)),
            self._matching(RECORDS_BY_SCOPE, session_scope(session_id)),
            self._matching(RECORDS_BY_SCOPE, append_once_scope(session_id)),
        )

    def _matching(self, query: tuple[str, str], value: Any) -> list[Any]:
        """References to the documents whose field equals `value` (a `SINGLE_FIELD_QUERIES`
        shape: the automatic single-field index serves it)."""
        collection, name = query
        where = self.client.collection(collection).where(filter=FieldFilter(name, "==", value))
        return self._references(where)

    def _references(self, query: Any) -> list[Any]:
        """The documents' references only: their contents are not read."""
        with translated_errors("erasure read"):
            return [snap.reference for snap in query.select(["__name__"]).stream(**self._call)]

    def _delete_all(self, refs: list[Any]) -> None:
        """In order, in batched writes of at most BATCH_WRITE_LIMIT deletes each."""
        for start in range(0, len(refs), BATCH_WRITE_LIMIT):
            batch = self.client.batch()
            for ref in refs[start : start + BATCH_WRITE_LIMIT]:
                batch.delete(ref)
            with translated_errors("erasure"):
                batch.commit(**self._call)

    # --- housekeeping ---

    def purge_expired(self, now: datetime) -> int:
        """Nothing to do: the TTL policies delete expired documents, and reads skip them."""
        return 0

    def ping(self) -> bool:
        try:
            self.client.collection(SESSIONS).document("ping").get(retry=None, timeout=PING_TIMEOUT)
        except (gexc.GoogleAPIError, gexc.RetryError):
            return False
        return True

    def close(self) -> None:
        close: Callable[[], None] = self.client.close  # the client's method has no annotations
        close()
