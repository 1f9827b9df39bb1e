"""Sessions, their messages, idempotency records and the staff's handoff queue on Firestore:
the `SessionStore`, `IdempotencyStore` and `HandoffStore` part of `FirestoreStore`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from app.adapters.firestore_base import (
    HANDOFF_EXPIRED_SKIPPED,
    FirestoreBase,
    Layout1,
    NoProgress,
    live_doc,
    require_ids,
)
from app.adapters.firestore_codec import (
    claim_doc,
    claim_from,
    from_json,
    inquiry_doc,
    message_from,
    record_doc,
    record_from,
    session_doc,
    session_from,
    to_json,
)
from app.adapters.firestore_layout import (
    HANDOFF_QUEUE,
    MESSAGE_RETENTION,
    append_once_scope,
    valid_doc_id,
)
from app.adapters.firestore_tx import (
    translated_errors,
)
from app.domain.errors import NotFound
from app.domain.records import HandoffState, Message, Session
from app.ports.store import (
    APPENDED,
    SESSION_GONE,
    ClaimExists,
    DuplicateKey,
    EffectMark,
    IdempotencyRecord,
    NewMessage,
    StaleFlow,
    Turn,
    check_room,
)


class FirestoreSessions(FirestoreBase):
    """Sessions and messages, idempotency records, the handoff queue."""

    def create_session(self, session: Session) -> None:
        require_ids([session.id])
        with translated_errors("session create"):
            self._session(session.id).create(session_doc(session), **self._call)

    def get_session(self, session_id: str, now: datetime) -> Session | None:
        if not valid_doc_id(session_id):
            return None

        def read() -> Session | None:
            (snap,) = self._read_all([self._session(session_id)])
            doc = live_doc(snap, now)
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
            doc = live_doc(snap, now)
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
                raise Layout1
            return message_from(doc, session_id)

        return self._numbered(session_id, read)

    def append_turn(self, turn: Turn) -> list[Message]:
        """One batched read of the session, the key's record and the order's claim (those the
        turn names), then one batched commit guarded by preconditions (`_guarded_write`).
        Nothing is read back: the seqs come from the session's `next_seq`."""
        if not valid_doc_id(turn.session_id):
            raise NotFound(f"session {turn.session_id!r} does not exist or has expired")
        order_claim = turn.order_claim
        require_ids(
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
                seq: int = snaps[id(mine)].get("seq")  # the lost answer's commit went through
                return seq
            state = [(snaps[id(ref)].exists, snaps[id(ref)].update_time) for ref in checked]
            if retrying and state == seen:
                raise NoProgress
            seen[:] = state
            earlier = snaps[id(record_ref)] if record_ref is not None else None
            if earlier is not None and earlier.exists and earlier.get("expires_at") > turn.now:
                raise DuplicateKey(record_from(earlier.to_dict()))
            session_snap = snaps[id(session_ref)]
            doc = live_doc(session_snap, turn.now)
            if doc is None:
                raise NotFound(f"session {turn.session_id!r} does not exist or has expired")
            if doc["flow_version"] != turn.expected_flow_version:
                raise StaleFlow(turn.session_id)
            if claim_ref is not None and snaps[id(claim_ref)].exists:
                raise ClaimExists(claim_from(snaps[id(claim_ref)].to_dict()))
            first: int = doc["next_seq"]
            check_room(turn.session_id, first - 1, len(turn.messages), turn.max_messages)
            batch = self.client.batch()
            batch.update(
                session_ref,
                self._session_changes(doc, turn, first),
                option=self._last_read(session_snap),
            )
            self._write_turn(batch, turn, first, messages, (record_ref, earlier), claim_ref)
            batch.commit(**self._call)
            return first

        first = self._numbered(turn.session_id, lambda: self._guarded_write("turn", attempt))
        return [m.stored(turn.session_id, first + n, turn.now) for n, m in enumerate(turn.messages)]

    def _write_turn(
        self,
        batch: Any,
        turn: Turn,
        first: int,
        messages: Any,
        record: tuple[Any, Any],
        claim_ref: Any,
    ) -> None:
        """Add the turn's messages (seqs from `first`), inquiry, order claim and idempotency
        record (`record`: its reference and the expired one read there, if any) to `batch`."""
        for n, message in enumerate(turn.messages):
            stored = self._message_doc(message, first + n, turn.now, turn.expires_at)
            batch.create(messages.document(message.id), stored)
        if turn.inquiry is not None:
            batch.create(self._inquiry(turn.inquiry.id), inquiry_doc(turn.inquiry))
        if claim_ref is not None and turn.order_claim is not None:
            batch.create(claim_ref, claim_doc(turn.order_claim))
        record_ref, earlier = record
        if record_ref is not None and turn.idempotency is not None:
            if earlier is not None and earlier.exists:  # expired, not yet removed
                option = self._last_read(earlier)
                batch.update(record_ref, record_doc(turn.idempotency), option=option)
            else:
                batch.create(record_ref, record_doc(turn.idempotency))

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
        guarded commit (`_guarded_write`): message, `next_seq`, marker, effect marker."""
        if mark is not None:
            require_ids([mark.inquiry_id])
        if not valid_doc_id(session_id):
            if mark is not None:
                self.record_effect(mark.inquiry_id, mark.effect, SESSION_GONE, now)
            return None
        require_ids([message.id])
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
                raise NoProgress
            seen[:] = state
            batch = self.client.batch()
            doc = live_doc(session_snap, now)
            if doc is None:
                self._mark(batch, inquiry_snap, mark, SESSION_GONE, now)
                return None
            if marker.exists:
                self._mark(batch, inquiry_snap, mark, APPENDED, now)
                return from_json(marker.get("response"))["message_id"], None
            seq: int = doc["next_seq"]
            check_room(session_id, seq - 1, 1, max_messages)
            batch.update(session_ref, {"next_seq": seq + 1}, option=self._last_read(session_snap))
            self._write_once(batch, doc, message, seq, (mine, marker_ref), scope, dedupe_key, now)
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

    def _write_once(
        self,
        batch: Any,
        doc: dict[str, Any],
        message: NewMessage,
        seq: int,
        refs: tuple[Any, Any],
        scope: str,
        dedupe_key: str,
        now: datetime,
    ) -> None:
        """Add `append_once`'s message (`refs[0]`) and its dedupe marker (`refs[1]`, kept as
        long as the session's messages) to `batch`."""
        mine, marker_ref = refs
        stored = self._message_doc(message, seq, now, doc["active_until"])
        stored["dedupe_key"] = dedupe_key
        batch.create(mine, stored)
        kept_until = doc["active_until"] + MESSAGE_RETENTION
        marker_record = IdempotencyRecord(
            scope, dedupe_key, "", {"message_id": message.id}, now, kept_until
        )
        batch.create(marker_ref, record_doc(marker_record))

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
