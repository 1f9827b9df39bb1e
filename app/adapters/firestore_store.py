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

import contextlib
import random
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from itertools import chain
from typing import Any, TypeVar

from google.api_core import exceptions as gexc
from google.auth import exceptions as auth_exceptions
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from app.adapters.firestore_codec import (
    claim_doc,
    claim_from,
    from_json,
    inquiry_doc,
    inquiry_from,
    layout1_order,
    message_from,
    record_doc,
    record_from,
    session_doc,
    session_from,
    to_json,
)
from app.adapters.firestore_layout import (
    HANDOFF_QUEUE,
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
    CONTENTION_RETRY_AFTER,
    bound_transaction_calls,
    call_options,
    run_transaction,
    translated_errors,
)
from app.domain import HandoffState, Inquiry, InquiryStatus, Message, Session
from app.errors import NotFound, Unavailable
from app.ports import (
    APPENDED,
    SESSION_GONE,
    Claim,
    ClaimExists,
    ClaimState,
    DuplicateKey,
    EffectMark,
    Erasure,
    IdempotencyRecord,
    LeaseLost,
    NewMessage,
    OrderClaim,
    StaleFlow,
    Turn,
    check_room,
    inquiry_scope,
    session_scope,
)
from app.settings import Settings, SettingsError

PING_TIMEOUT = 3.0
# A query of the staff's queue reads past at most this many expired sessions (which the TTL
# policy has not removed yet) to find the live ones after them.
HANDOFF_EXPIRED_SKIPPED = 500
BATCH_WRITE_LIMIT = 500  # writes per batched write, Firestore's limit

T = TypeVar("T")


# A write of a session's documents reads again and retries this often when a concurrent
# write changed what it read (`_guarded_write`), then answers Unavailable.
WRITE_ATTEMPTS = 30


# What a guarded commit answers when another write got there first: an update time that moved,
# a document created meanwhile, or one deleted meanwhile.
_RACED = (gexc.FailedPrecondition, gexc.AlreadyExists, gexc.NotFound)


class _Layout1(Exception):
    """The session was stored by layout 1 (no `next_seq`): number it, then try again."""


class _NoProgress(Exception):
    """A guarded write failed, and reading again found nothing changed."""


def _read(transaction: Any, ref: Any, call: dict[str, Any]) -> Any:
    return next(iter(transaction.get(ref, **call)))


def _live(snap: Any, now: datetime) -> dict[str, Any] | None:
    """The session document when it exists and is live at `now`; _Layout1 for an old one."""
    if not snap.exists:
        return None
    doc = snap.to_dict()
    if "next_seq" not in doc:
        raise _Layout1
    return doc if doc["active_until"] > now else None


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

    def _composite(
        self,
        shape: CompositeQuery,
        equals: dict[str, Any],
        op: str | None = None,
        bound: Any = None,
    ) -> Any:
        """The query `shape` describes, so that it is served by the index declared for it (with
        a range on its order field when `op` is given)."""
        query = self.client.collection(shape.collection)
        for name in shape.equals:
            query = query.where(filter=FieldFilter(name, "==", equals[name]))
        name, direction = shape.order_by
        if op is not None:
            query = query.where(filter=FieldFilter(name, op, bound))
        return query.order_by(name, direction=direction)

    # --- sessions and messages ---

    def _read_all(self, refs: list[Any]) -> list[Any]:
        """The documents of `refs`, in their order, read in one BatchGetDocuments call."""
        with translated_errors("read"):
            snaps = self.client.get_all(refs, **self._call)
            found = {snap.reference.path: snap for snap in snaps}
        return [found[ref.path] for ref in refs]

    def _numbered(self, session_id: str, work: Callable[[], T]) -> T:
        """`work()`, after numbering the session's messages if it meets a layout-1 session.

        Meeting layout 1 again after that means an instance of the version before wrote to
        the session meanwhile (a rollout not yet complete): Unavailable, and a retry later.
        """
        try:
            return work()
        except _Layout1:
            self._number_layout1(session_id)
        try:
            return work()
        except _Layout1:
            raise Unavailable(
                f"session {session_id!r} is being written by an older version of the app;"
                " retry once the rollout is complete"
            ) from None

    def _number_layout1(self, session_id: str) -> None:
        """Give a layout-1 session's messages the seqs layout 1 computed for them (their
        commit order), in batched writes, then its document `next_seq`, the expiry the latest
        turn gave it, and a TTL field no earlier than that. Idempotent: two instances that meet
        the session together write the same seqs, and the last step checks `next_seq` again."""
        session_ref = self._session(session_id)
        (current,) = self._read_all([session_ref])
        if not current.exists or "next_seq" in current.to_dict():
            return  # numbered already (or gone): nothing here may renumber a message
        messages = self._messages(session_id)
        with translated_errors("layout upgrade"):
            snaps = sorted(messages.stream(**self._call), key=layout1_order)
        seqs = [(snap, n) for n, snap in enumerate(snaps, start=1)]
        changed = [(snap.reference, n) for snap, n in seqs if snap.to_dict().get("seq") != n]
        for start in range(0, len(changed), BATCH_WRITE_LIMIT):
            batch = self.client.batch()
            for ref, n in changed[start : start + BATCH_WRITE_LIMIT]:
                batch.update(ref, {"seq": n})
            with translated_errors("layout upgrade"):
                batch.commit(**self._call)
        expiries = [snap.to_dict().get("session_expires_at") for snap in snaps]
        latest = max((e for e in expiries if e is not None), default=None)

        def body(transaction: Any) -> None:
            snap = _read(transaction, session_ref, self._call)
            if not snap.exists or "next_seq" in snap.to_dict():
                return
            doc = snap.to_dict()
            until = doc["active_until"] if latest is None else max(doc["active_until"], latest)
            changes = {"next_seq": len(snaps) + 1, "active_until": until}
            changes["expires_at"] = max(doc["expires_at"], until)
            transaction.update(session_ref, changes)

        run_transaction(self.client, body)

    def create_session(self, session: Session) -> None:
        _require_ids([session.id])
        with translated_errors("session create"):
            self._session(session.id).create(session_doc(session), **self._call)

    def get_session(self, session_id: str, now: datetime) -> Session | None:
        if not valid_doc_id(session_id):
            return None

        def read() -> Session | None:
            (snap,) = self._read_all([self._session(session_id)])
            doc = _live(snap, now)
            return None if doc is None else session_from(doc)

        return self._numbered(session_id, read)

    def get_turn_state(
        self, session_id: str, scope: str, key: str, now: datetime
    ) -> tuple[Session | None, IdempotencyRecord | None]:
        """The session's and the record's documents in one read."""
        if not valid_doc_id(session_id):
            return None, None

        def read() -> tuple[Session | None, IdempotencyRecord | None]:
            snap, earlier = self._read_all([self._session(session_id), self._record(scope, key)])
            doc = _live(snap, now)
            record = None
            if earlier.exists and earlier.get("expires_at") > now:
                record = record_from(earlier.to_dict())
            return (None if doc is None else session_from(doc)), record

        return self._numbered(session_id, read)

    def latest_messages(
        self, session_id: str, limit: int, before: int | None = None
    ) -> list[Message]:
        """One query: at most `limit` documents, newest first from `before`."""
        if not valid_doc_id(session_id):
            return []
        query = self._messages(session_id)
        if before is not None:
            query = query.where(filter=FieldFilter("seq", "<", before))
        query = query.order_by("seq", direction=firestore.Query.DESCENDING).limit(limit)
        with translated_errors("messages read"):
            snaps = list(query.stream(**self._call))
        return [message_from(snap.to_dict(), session_id) for snap in reversed(snaps)]

    def get_message(self, session_id: str, message_id: str) -> Message | None:
        if not (valid_doc_id(session_id) and valid_doc_id(message_id)):
            return None

        def read() -> Message | None:
            (snap,) = self._read_all([self._messages(session_id).document(message_id)])
            if not snap.exists:
                return None
            doc = snap.to_dict()
            if "seq" not in doc:
                raise _Layout1
            return message_from(doc, session_id)

        return self._numbered(session_id, read)

    @staticmethod
    def _message_doc(
        message: NewMessage, seq: int, now: datetime, session_expires_at: datetime
    ) -> dict[str, Any]:
        return {
            "id": message.id,
            "seq": seq,
            "role": message.role,
            "text": message.text,
            "route": message.route,
            "data": to_json(message.data),
            "created_at": now,
            "expires_at": session_expires_at + MESSAGE_RETENTION,
        }

    def _guarded_write(self, action: str, attempt: Callable[[bool], T]) -> T:
        """Run `attempt(retrying)` until its commit goes through.

        An attempt reads what it checks in one batched read and commits its writes in one
        batch whose preconditions hold those documents as read: the session's document at the
        update time read, the documents it creates absent. No lock is held between the two
        calls, so writers of one session do not queue on each other's locks (which the
        emulator resolves only after long lock timeouts); the one whose precondition fails
        reads again and decides again, which may end the write (DuplicateKey, StaleFlow,
        ClaimExists, NotFound, SessionFull). `retrying` tells an attempt to look for its own
        documents first: a commit whose answer was lost may have gone through. An attempt
        raises `_NoProgress` when it finds nothing changed since the failed one (a conflict
        that no retry resolves, such as an inquiry id that exists).
        """
        failure: Exception | None = None
        retrying = False
        for tries in range(WRITE_ATTEMPTS):
            try:
                with translated_errors(action):
                    try:
                        return attempt(retrying)
                    except gexc.Aborted:  # contention: nothing was written; read again
                        retrying = False
                    except _RACED as exc:  # a precondition failed: another write got there
                        failure, retrying = exc, True
            except _NoProgress:
                raise Unavailable(f"Firestore {action} failed: {failure}") from failure
            time.sleep(random.uniform(0, 0.004 * (tries + 1)))
        raise Unavailable(
            "the state store is busy with concurrent writes; retry shortly",
            retry_after=CONTENTION_RETRY_AFTER,
        )

    def _last_read(self, snap: Any) -> Any:
        """The precondition that a document is still as `snap` read it."""
        return self.client.write_option(last_update_time=snap.update_time)

    def append_turn(self, turn: Turn) -> list[Message]:
        """One batched read of the session, the key's record and the order's claim (those the
        turn names), then one batched commit guarded by preconditions (`_guarded_write`).
        Nothing is read back: the seqs come from the session's `next_seq`."""
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
        mine = messages.document(turn.messages[0].id) if turn.messages else None
        checked = [ref for ref in (session_ref, record_ref, claim_ref) if ref is not None]
        seen: list[Any] = []

        def attempt(retrying: bool) -> int:
            refs = checked + ([mine] if retrying and mine is not None else [])
            snaps = dict(zip(map(id, refs), self._read_all(refs), strict=True))
            if retrying and mine is not None and snaps[id(mine)].exists:
                return snaps[id(mine)].get("seq")  # the lost answer's commit went through
            state = [(snaps[id(ref)].exists, snaps[id(ref)].update_time) for ref in checked]
            if retrying and state == seen:
                raise _NoProgress
            seen[:] = state
            earlier = snaps[id(record_ref)] if record_ref is not None else None
            if earlier is not None and earlier.exists and earlier.get("expires_at") > turn.now:
                raise DuplicateKey(record_from(earlier.to_dict()))
            session_snap = snaps[id(session_ref)]
            doc = _live(session_snap, turn.now)
            if doc is None:
                raise NotFound(f"session {turn.session_id!r} does not exist or has expired")
            if doc["flow_version"] != turn.expected_flow_version:
                raise StaleFlow(turn.session_id)
            if claim_ref is not None and snaps[id(claim_ref)].exists:
                raise ClaimExists(claim_from(snaps[id(claim_ref)].to_dict()))
            first = doc["next_seq"]
            check_room(turn.session_id, first - 1, len(turn.messages), turn.max_messages)
            batch = self.client.batch()
            batch.update(
                session_ref,
                self._session_changes(doc, turn, first),
                option=self._last_read(session_snap),
            )
            for n, message in enumerate(turn.messages):
                stored = self._message_doc(message, first + n, turn.now, turn.expires_at)
                batch.create(messages.document(message.id), stored)
            if turn.inquiry is not None:
                batch.create(self._inquiry(turn.inquiry.id), inquiry_doc(turn.inquiry))
            if claim_ref is not None and order_claim is not None:
                batch.create(claim_ref, claim_doc(order_claim))
            if record_ref is not None and record is not None:
                if earlier is not None and earlier.exists:  # expired, not yet removed
                    option = self._last_read(earlier)
                    batch.update(record_ref, record_doc(record), option=option)
                else:
                    batch.create(record_ref, record_doc(record))
            batch.commit(**self._call)
            return first

        first = self._numbered(turn.session_id, lambda: self._guarded_write("turn", attempt))
        return [m.stored(turn.session_id, first + n, turn.now) for n, m in enumerate(turn.messages)]

    @staticmethod
    def _session_changes(doc: dict[str, Any], turn: Turn, first: int) -> dict[str, Any]:
        """What the turn writes on the session document: the next seq and the expiry, and the
        flow and the handoff state when they change (with one bump of the flow version)."""
        changes: dict[str, Any] = {
            "next_seq": first + len(turn.messages),
            "active_until": turn.expires_at,
            "expires_at": turn.expires_at,
        }
        if turn.new_flow is not None and turn.new_flow != from_json(doc["flow"]):
            changes["flow"] = to_json(turn.new_flow)
        state = doc.get("handoff_state", HandoffState.NONE.value)
        if turn.handoff is not None and turn.handoff.value != state:
            changes["handoff_state"] = turn.handoff.value
            changes["handoff_since"] = None if turn.handoff is HandoffState.NONE else turn.now
        if "flow" in changes or "handoff_state" in changes:
            changes["flow_version"] = doc["flow_version"] + 1
        return changes

    def append_once(
        self,
        session_id: str,
        message: NewMessage,
        dedupe_key: str,
        now: datetime,
        *,
        mark: EffectMark | None = None,
        max_messages: int | None = None,
    ) -> Message | None:
        """One batched read of the session, the dedupe marker and the marked inquiry, then one
        guarded commit (`_guarded_write`) of the message, `next_seq`, the marker and the
        effect marker."""
        if mark is not None:
            _require_ids([mark.inquiry_id])
        if not valid_doc_id(session_id):
            if mark is not None:
                self.record_effect(mark.inquiry_id, mark.effect, SESSION_GONE, now)
            return None
        _require_ids([message.id])
        session_ref = self._session(session_id)
        scope = append_once_scope(session_id)
        marker_ref = self._record(scope, dedupe_key)
        mine = self._messages(session_id).document(message.id)
        owner = [self._inquiry(mark.inquiry_id)] if mark else []
        seen: list[Any] = []

        def attempt(retrying: bool) -> tuple[str, int | None] | None:
            checked = [session_ref, marker_ref, *owner]
            snaps = self._read_all(checked + ([mine] if retrying else []))
            if retrying and snaps[-1].exists:
                return message.id, snaps[-1].get("seq")  # the lost answer's commit went through
            session_snap, marker = snaps[:2]
            inquiry_snap = snaps[2] if mark else None
            state = [(snap.exists, snap.update_time) for snap in snaps[: len(checked)]]
            if retrying and state == seen:
                raise _NoProgress
            seen[:] = state
            batch = self.client.batch()
            doc = _live(session_snap, now)
            if doc is None:
                self._mark(batch, inquiry_snap, mark, SESSION_GONE, now)
                return None
            if marker.exists:
                self._mark(batch, inquiry_snap, mark, APPENDED, now)
                return from_json(marker.get("response"))["message_id"], None
            seq = doc["next_seq"]
            check_room(session_id, seq - 1, 1, max_messages)
            option = self._last_read(session_snap)
            batch.update(session_ref, {"next_seq": seq + 1}, option=option)
            stored = self._message_doc(message, seq, now, doc["active_until"])
            stored["dedupe_key"] = dedupe_key
            batch.create(mine, stored)
            kept_until = doc["active_until"] + MESSAGE_RETENTION
            marker_record = IdempotencyRecord(
                scope, dedupe_key, "", {"message_id": message.id}, now, kept_until
            )
            batch.create(marker_ref, record_doc(marker_record))
            self._mark(batch, inquiry_snap, mark, APPENDED, now, commit=False)
            batch.commit(**self._call)
            return message.id, seq

        done = self._numbered(session_id, lambda: self._guarded_write("append", attempt))
        if done is None:
            return None
        message_id, seq = done
        if seq is None:  # appended before: read it
            return self.get_message(session_id, message_id)
        return message.stored(session_id, seq, now)

    def _mark(
        self,
        batch: Any,
        inquiry_snap: Any,
        mark: EffectMark | None,
        outcome: str,
        now: datetime,
        *,
        commit: bool = True,
    ) -> None:
        """Add the write of `mark` on its inquiry (as read) to `batch`, unless the inquiry is
        gone or records the effect already (the first outcome stands); commit it when asked."""
        if mark is None or inquiry_snap is None or not inquiry_snap.exists:
            return
        effects = dict(inquiry_snap.get("effects") or {})
        if mark.effect in effects:
            return
        effects[mark.effect] = {"outcome": outcome, "recorded_at": now}
        ref = inquiry_snap.reference
        batch.update(ref, {"effects": effects}, option=self._last_read(inquiry_snap))
        if commit:
            batch.commit(**self._call)

    # --- idempotency ---

    def get_idempotency(self, scope: str, key: str, now: datetime) -> IdempotencyRecord | None:
        with translated_errors("idempotency read"):
            snap = self._record(scope, key).get(**self._call)
        if not snap.exists or snap.get("expires_at") <= now:
            return None
        return record_from(snap.to_dict())

    # --- handoffs ---

    def handoff_sessions(self, state: HandoffState, now: datetime, limit: int) -> list[Session]:
        """The queue's indexed query, past expired sessions (`_live_in_queue`)."""
        query = self._composite(HANDOFF_QUEUE, {"handoff_state": state.value})
        return [session_from(doc) for doc in self._live_in_queue(query, now, limit, None)]

    def count_waiting_handoffs(self, since_before: datetime, now: datetime, limit: int) -> int:
        """The queue's indexed query bounded on `handoff_since`, reading each match's expiry
        and its place in the queue only: a pass reads the sessions it counts (usually none),
        and the expired ones before them."""
        waiting = {"handoff_state": HandoffState.WAITING.value}
        query = self._composite(HANDOFF_QUEUE, waiting, "<", since_before)
        return len(self._live_in_queue(query, now, limit, ["active_until", "handoff_since"]))

    def _live_in_queue(
        self, query: Any, now: datetime, limit: int, fields: list[str] | None
    ) -> list[dict[str, Any]]:
        """The first `limit` live sessions the query finds, read page by page: an expired
        session stays until the TTL policy removes it (within a day), and skipping it must not
        leave a live one out. At most HANDOFF_EXPIRED_SKIPPED expired ones are read past."""
        if fields is not None:
            query = query.select(fields)
        found: list[dict[str, Any]] = []
        skipped, last = 0, None
        while len(found) < limit and skipped < HANDOFF_EXPIRED_SKIPPED:
            size = limit - len(found)
            page = query.limit(size) if last is None else query.start_after(last).limit(size)
            with translated_errors("handoff queue"):
                snaps = list(page.stream(**self._call))
            for snap in snaps:
                doc = snap.to_dict()
                if doc["active_until"] > now:
                    found.append(doc)
                else:
                    skipped += 1
            if len(snaps) < size:
                break
            last = snaps[-1]
        return found

    # --- inquiries ---

    def create_inquiry(self, inquiry: Inquiry, idempotency: IdempotencyRecord | None) -> None:
        """Without a key, one create (a commit); with one, a transaction that reads the key's
        record first."""
        _require_ids([inquiry.id])
        if idempotency is None:
            with translated_errors("inquiry create"):
                self._inquiry(inquiry.id).create(inquiry_doc(inquiry), **self._call)
            return
        record_ref = self._record(idempotency.scope, idempotency.key)

        def body(transaction: Any) -> None:
            earlier = _read(transaction, record_ref, self._call)
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
