"""The `Store` port on Firestore (native mode), for `STATE_BACKEND=firestore`.

Data layout (collection names in `firestore_layout`):

- `sessions/{id}`: customer, preferences, flow and `flow_version`. A turn reads it (for the
  flow version and the expiry) but writes it only when the flow changes or when the session's
  TTL bound runs out, so the FAQ turns of a busy session never contend on this document:
  readers share its lock. `expires_at` (the TTL field) is an upper bound of the session's
  life, pushed one session TTL ahead whenever it is rewritten; `active_until` is the expiry as
  of that write. The session's real expiry is the later of `active_until` and the newest
  `session_expires_at` among its messages, so a session expires exactly `SESSION_TTL_SECONDS`
  after its last turn, as on SQLite, while its document is rewritten about once per TTL.
- `sessions/{id}/messages/{message_id}`: one document per message, created, never updated.
  Each turn writes its own documents, so concurrent turns touch disjoint documents. The order
  is (commit time, `turn`, `index`): the document's create time, which is its transaction's
  commit time, then the turn's first message id, then the place in the turn. A read at a time
  sees every commit before it, so a message committed later never sorts before one already
  seen: `seq`, the 1-based position in that order, is computed when read and never changes.
  The server timestamp `committed_at` (taken when the commit request is processed, so at most
  one transaction lifetime before the commit time) is the queryable stand-in: a position is
  a count of the messages whose `committed_at` is older than `COMMIT_SKEW`, plus the rank
  among the few newer ones read whole. (Ordering by `committed_at` itself is not stable: two
  transactions can commit in the opposite order of their request times; the emulator shows
  it.) Their `expires_at` is the session's expiry as of the turn plus `MESSAGE_RETENTION`, so
  the TTL policy removes them after their session, and from a live session only those older
  than that (positions then count from the oldest message kept).
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

Every write that can meet another writer is one transaction over the documents it names: the
turn (idempotency record, session, messages, inquiry, order claim), `append_once`, inquiry
creation, claim, finish, release and effect markers, and `create_claim`. Expired documents are
deleted by the TTL policies that `modules/storage.py` declares (Firestore deletes within about
a day), and every read checks the expiry itself, so `purge_expired` has nothing to do. Queries
are served by the storage module's composite indexes (`COMPOSITE_QUERIES`) or by single-field
indexes on fields other than the TTL field.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from datetime import datetime, timedelta
from itertools import chain
from typing import Any

from google.api_core import exceptions as gexc
from google.auth import exceptions as auth_exceptions
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from app.adapters.firestore_codec import (
    claim_doc,
    claim_from,
    commit_key,
    from_json,
    inquiry_doc,
    inquiry_from,
    message_from,
    message_order,
    record_doc,
    record_from,
    session_doc,
    session_from,
    to_json,
)
from app.adapters.firestore_layout import (
    IDEMPOTENCY,
    INQUIRIES,
    INQUIRIES_BY_CUSTOMER,
    MESSAGE_RETENTION,
    MESSAGES,
    ORDER_CLAIMS,
    RECORDS_BY_SCOPE,
    SESSIONS,
    SESSIONS_BY_CUSTOMER,
    SWEEP_SCAN_LIMIT,
    UNPUBLISHED_INQUIRIES,
    CompositeQuery,
    append_once_scope,
    keyed_doc_id,
    valid_doc_id,
)
from app.adapters.firestore_tx import (
    CALL_TIMEOUT,
    bound_transaction_calls,
    call_options,
    run_transaction,
    translated_errors,
)
from app.domain import Inquiry, InquiryStatus, Message, Session
from app.errors import NotFound, Unavailable
from app.ports import (
    Claim,
    ClaimExists,
    ClaimState,
    DuplicateKey,
    Erasure,
    IdempotencyRecord,
    LeaseLost,
    NewMessage,
    OrderClaim,
    StaleFlow,
    Turn,
    inquiry_scope,
    session_scope,
)
from app.settings import Settings, SettingsError

PING_TIMEOUT = 3.0
BATCH_WRITE_LIMIT = 500  # writes per batched write, Firestore's limit
# `committed_at` (the server time of the commit request) precedes the commit time by less
# than a transaction lives (270 s at most), so a message whose `committed_at` is this much
# older than another's commit time was committed before it.
COMMIT_SKEW = timedelta(seconds=300)


def _ttl_bound(expires_at: datetime, now: datetime) -> datetime:
    """The session document's TTL field: its expiry plus one more session lifetime."""
    return expires_at + max(expires_at - now, timedelta(0))


def _read(transaction: Any, ref: Any, call: dict[str, Any]) -> Any:
    return next(iter(transaction.get(ref, **call)))


def _require_ids(ids: Iterable[str]) -> None:
    for value in ids:
        if not valid_doc_id(value):
            raise ValueError(f"{value!r} cannot be a Firestore document id")


class FirestoreStore:
    """Implements `app.ports.Store` on one Firestore database."""

    def __init__(self, client: firestore.Client, call_timeout: float = CALL_TIMEOUT) -> None:
        self.client = client
        self._call = call_options(call_timeout)
        bound_transaction_calls(client, self._call)

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

    # --- references ---

    def _session(self, session_id: str) -> Any:
        return self.client.collection(SESSIONS).document(session_id)

    def _messages(self, session_id: str) -> Any:
        return self._session(session_id).collection(MESSAGES)

    def _inquiry(self, inquiry_id: str) -> Any:
        return self.client.collection(INQUIRIES).document(inquiry_id)

    def _record(self, scope: str, key: str) -> Any:
        return self.client.collection(IDEMPOTENCY).document(keyed_doc_id(scope, key))

    def _order_claim(self, order_id: str) -> Any:
        return self.client.collection(ORDER_CLAIMS).document(order_id)

    def _composite(self, shape: CompositeQuery, equals: dict[str, Any], op: str, bound: Any) -> Any:
        """The query `shape` describes, so that it is served by the index declared for it."""
        query = self.client.collection(shape.collection)
        for name in shape.equals:
            query = query.where(filter=FieldFilter(name, "==", equals[name]))
        name, direction = shape.order_by
        return query.where(filter=FieldFilter(name, op, bound)).order_by(name, direction=direction)

    # --- sessions and messages ---

    def create_session(self, session: Session) -> None:
        _require_ids([session.id])
        doc = session_doc(session, _ttl_bound(session.expires_at, session.created_at))
        with translated_errors("session create"):
            self._session(session.id).create(doc, **self._call)

    def _live_until(self, session_id: str, doc: dict[str, Any], transaction: Any = None) -> Any:
        """The session's real expiry: its own, or a later one a turn gave it."""
        latest = (
            self._messages(session_id)
            .order_by("session_expires_at", direction=firestore.Query.DESCENDING)
            .limit(1)
        )
        snaps = (
            transaction.get(latest, **self._call) if transaction else latest.stream(**self._call)
        )
        until = doc["active_until"]
        for snap in snaps:
            until = max(until, snap.get("session_expires_at"))
        return until

    def get_session(self, session_id: str, now: datetime) -> Session | None:
        if not valid_doc_id(session_id):
            return None
        with translated_errors("session read"):
            snap = self._session(session_id).get(**self._call)
            if not snap.exists:
                return None
            doc = snap.to_dict()
            until = self._live_until(session_id, doc)
        return session_from(doc, until) if until > now else None

    def list_messages(self, session_id: str) -> list[Message]:
        if not valid_doc_id(session_id):
            return []
        with translated_errors("messages read"):
            snaps = sorted(self._messages(session_id).stream(**self._call), key=message_order)
        return [message_from(s.to_dict(), session_id, n) for n, s in enumerate(snaps, start=1)]

    def _positions(self, session_id: str, created: Any) -> dict[str, int]:
        """The seq of every message committed at `created` (a create time, i.e. commit time).

        Messages whose `committed_at` lies more than COMMIT_SKEW before it were committed
        earlier, so they are only counted; the few in the window are read and ranked.
        """
        messages = self._messages(session_id)
        horizon = created - COMMIT_SKEW
        old = messages.where(filter=FieldFilter("committed_at", "<", horizon))
        earlier = int(old.count(alias="n").get(**self._call)[0][0].value)
        recent = messages.where(filter=FieldFilter("committed_at", ">=", horizon))
        ranked = sorted(recent.stream(**self._call), key=message_order)
        mine = commit_key(created)
        return {
            snap.id: earlier + n
            for n, snap in enumerate(ranked, start=1)
            if message_order(snap)[0] == mine
        }

    def get_message(self, session_id: str, message_id: str) -> Message | None:
        if not (valid_doc_id(session_id) and valid_doc_id(message_id)):
            return None
        with translated_errors("message read"):
            snap = self._messages(session_id).document(message_id).get(**self._call)
            if not snap.exists:
                return None
            seq = self._positions(session_id, snap.create_time)[message_id]
        return message_from(snap.to_dict(), session_id, seq)

    def _message_doc(
        self, message: NewMessage, turn_key: str, index: int, now: datetime, expires_at: Any
    ) -> dict[str, Any]:
        return {
            "id": message.id,
            "role": message.role,
            "text": message.text,
            "route": message.route,
            "data": to_json(message.data),
            "created_at": now,
            "committed_at": firestore.SERVER_TIMESTAMP,
            "turn": turn_key,
            "index": index,
            "expires_at": expires_at + MESSAGE_RETENTION,
        }

    def append_turn(self, turn: Turn) -> list[Message]:
        if not valid_doc_id(turn.session_id):
            raise NotFound(f"session {turn.session_id!r} does not exist or has expired")
        order_claim = turn.order_claim
        _require_ids(
            [m.id for m in turn.messages]
            + ([turn.inquiry.id] if turn.inquiry else [])
            + ([order_claim.order_id] if order_claim else [])
        )
        session_ref = self._session(turn.session_id)
        messages = self._messages(turn.session_id)
        record = turn.idempotency
        record_ref = self._record(record.scope, record.key) if record else None
        claim_ref = self._order_claim(order_claim.order_id) if order_claim else None

        def body(transaction: Any) -> None:
            if record_ref is not None:
                earlier = _read(transaction, record_ref, self._call)
                if earlier.exists and earlier.get("expires_at") > turn.now:
                    raise DuplicateKey(record_from(earlier.to_dict()))
            snap = _read(transaction, session_ref, self._call)
            if not snap.exists or (
                snap.get("active_until") <= turn.now
                and self._live_until(turn.session_id, snap.to_dict(), transaction) <= turn.now
            ):
                raise NotFound(f"session {turn.session_id!r} does not exist or has expired")
            doc = snap.to_dict()
            if doc["flow_version"] != turn.expected_flow_version:
                raise StaleFlow(turn.session_id)
            if claim_ref is not None:  # read in the transaction: a concurrent create aborts it
                existing = _read(transaction, claim_ref, self._call)
                if existing.exists:
                    raise ClaimExists(claim_from(existing.to_dict()))
            changes = self._session_changes(doc, turn)
            turn_key = turn.messages[0].id if turn.messages else ""
            for index, message in enumerate(turn.messages):
                stored = self._message_doc(message, turn_key, index, turn.now, turn.expires_at)
                stored["session_expires_at"] = turn.expires_at
                transaction.create(messages.document(message.id), stored)
            if changes:
                transaction.update(session_ref, changes)
            if turn.inquiry is not None:
                transaction.create(self._inquiry(turn.inquiry.id), inquiry_doc(turn.inquiry))
            if claim_ref is not None and order_claim is not None:
                transaction.create(claim_ref, claim_doc(order_claim))
            if record is not None:
                transaction.set(record_ref, record_doc(record))

        run_transaction(self.client, body)
        if not turn.messages:
            return []
        with translated_errors("turn read-back"):
            first = messages.document(turn.messages[0].id).get(**self._call)
            seqs = self._positions(turn.session_id, first.create_time)
        return [
            Message(
                id=m.id,
                session_id=turn.session_id,
                seq=seqs[m.id],
                role=m.role,
                text=m.text,
                created_at=turn.now,
                route=m.route,
                data=m.data,
            )
            for m in turn.messages
        ]

    @staticmethod
    def _session_changes(doc: dict[str, Any], turn: Turn) -> dict[str, Any]:
        """What the turn must write on the session document; empty for most turns."""
        changes: dict[str, Any] = {}
        if turn.new_flow is not None and turn.new_flow != from_json(doc["flow"]):
            changes["flow"] = to_json(turn.new_flow)
            changes["flow_version"] = doc["flow_version"] + 1
        if turn.expires_at > doc["expires_at"]:  # the TTL bound would run out before the session
            changes["expires_at"] = _ttl_bound(turn.expires_at, turn.now)
        # Messages carry the turn's expiry; the document takes it when written anyway, or when
        # no message could carry it.
        if turn.expires_at > doc["active_until"] and (changes or not turn.messages):
            changes["active_until"] = turn.expires_at
        return changes

    def append_once(
        self, session_id: str, message: NewMessage, dedupe_key: str, now: datetime
    ) -> Message | None:
        if not valid_doc_id(session_id):
            return None
        _require_ids([message.id])
        session_ref = self._session(session_id)
        scope = append_once_scope(session_id)
        marker_ref = self._record(scope, dedupe_key)

        def body(transaction: Any) -> str | None:
            snap = _read(transaction, session_ref, self._call)
            if not snap.exists:
                return None
            until = self._live_until(session_id, snap.to_dict(), transaction)
            if until <= now:
                return None
            marker = _read(transaction, marker_ref, self._call)
            if marker.exists:
                return from_json(marker.get("response"))["message_id"]
            stored = self._message_doc(message, message.id, 0, now, until)
            stored["dedupe_key"] = dedupe_key
            transaction.create(self._messages(session_id).document(message.id), stored)
            kept_until = until + MESSAGE_RETENTION
            marker_record = IdempotencyRecord(
                scope, dedupe_key, "", {"message_id": message.id}, now, kept_until
            )
            transaction.set(marker_ref, record_doc(marker_record))
            return message.id

        message_id = run_transaction(self.client, body)
        return None if message_id is None else self.get_message(session_id, message_id)

    # --- idempotency ---

    def get_idempotency(self, scope: str, key: str, now: datetime) -> IdempotencyRecord | None:
        with translated_errors("idempotency read"):
            snap = self._record(scope, key).get(**self._call)
        if not snap.exists or snap.get("expires_at") <= now:
            return None
        return record_from(snap.to_dict())

    # --- inquiries ---

    def create_inquiry(self, inquiry: Inquiry, idempotency: IdempotencyRecord | None) -> None:
        _require_ids([inquiry.id])
        record_ref = self._record(idempotency.scope, idempotency.key) if idempotency else None

        def body(transaction: Any) -> None:
            if record_ref is not None and idempotency is not None:
                earlier = _read(transaction, record_ref, self._call)
                if earlier.exists and earlier.get("expires_at") > idempotency.created_at:
                    raise DuplicateKey(record_from(earlier.to_dict()))
            transaction.create(self._inquiry(inquiry.id), inquiry_doc(inquiry))
            if record_ref is not None and idempotency is not None:
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
            snap = _read(transaction, ref, self._call)
            if not snap.exists:
                return Claim(ClaimState.MISSING)
            doc = snap.to_dict()
            if doc.get("settled"):
                return Claim(ClaimState.SETTLED, inquiry_from(doc))
            held = doc.get("lease_holder") is not None and doc["lease_until"] > now
            if held and doc["lease_holder"] != holder:
                return Claim(ClaimState.BUSY, inquiry_from(doc))
            status, attempts, updated = doc["status"], doc["attempts"], doc["updated_at"]
            if not InquiryStatus(
                status
            ).is_final:  # a final one keeps its time: callbacks resend it
                status, attempts, updated = InquiryStatus.RUNNING.value, attempts + 1, now
            changes = {
                "lease_holder": holder,
                "lease_until": lease_until,
                "status": status,
                "attempts": attempts,
                "updated_at": updated,
            }
            transaction.update(ref, changes)
            return Claim(ClaimState.ACQUIRED, inquiry_from({**doc, **changes}))

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
            snap = _read(transaction, ref, self._call)
            if not snap.exists or snap.get("lease_holder") != holder:
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
            snap = _read(transaction, ref, self._call)
            if snap.exists and snap.get("lease_holder") == holder:
                transaction.update(
                    ref,
                    {
                        "lease_holder": None,
                        "lease_until": None,
                        "settled": bool(snap.get("settled")) or settled,
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

    def record_effect(self, inquiry_id: str, effect: str, outcome: str, now: datetime) -> None:
        if not valid_doc_id(inquiry_id):
            return
        ref = self._inquiry(inquiry_id)

        def body(transaction: Any) -> None:
            snap = _read(transaction, ref, self._call)
            if not snap.exists:
                return
            effects = dict(snap.get("effects") or {})
            if effect in effects:
                return  # the first outcome stands
            effects[effect] = {"outcome": outcome, "recorded_at": now}
            transaction.update(ref, {"effects": effects})

        run_transaction(self.client, body)

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
        _require_ids([claim.order_id])
        ref = self._order_claim(claim.order_id)

        def body(transaction: Any) -> OrderClaim:
            snap = _read(transaction, ref, self._call)
            if snap.exists:
                return claim_from(snap.to_dict())
            transaction.create(ref, claim_doc(claim))
            return claim

        return run_transaction(self.client, body)

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
        self.client.close()
