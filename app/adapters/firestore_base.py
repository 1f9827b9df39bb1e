"""What the Firestore store's parts share: the client, document references, batched reads and
the guarded write of a session's documents (see app/adapters/firestore_store.py for the
layout and why)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, TypeVar

from google.api_core import exceptions as gexc
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from app.adapters.firestore_codec import (
    layout1_order,
    to_json,
)
from app.adapters.firestore_layout import (
    IDEMPOTENCY,
    INQUIRIES,
    MESSAGE_RETENTION,
    MESSAGES,
    ORDER_CLAIMS,
    SESSIONS,
    CompositeQuery,
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
from app.domain.errors import Unavailable
from app.ports.store import (
    EffectMark,
    NewMessage,
)

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


class Layout1(Exception):
    """The session was stored by layout 1 (no `next_seq`): number it, then try again."""


class NoProgress(Exception):
    """A guarded write failed, and reading again found nothing changed."""


def read_doc(transaction: Any, ref: Any, call: dict[str, Any]) -> Any:
    return next(iter(transaction.get(ref, **call)))


def live_doc(snap: Any, now: datetime) -> dict[str, Any] | None:
    """The session document when it exists and is live at `now`; Layout1 for an old one."""
    if not snap.exists:
        return None
    doc = snap.to_dict()
    if "next_seq" not in doc:
        raise Layout1
    return doc if doc["active_until"] > now else None


def require_ids(ids: Iterable[str]) -> None:
    for value in ids:
        if not valid_doc_id(value):
            raise ValueError(f"{value!r} cannot be a Firestore document id")


class FirestoreBase:
    """The client and the helpers every part of `FirestoreStore` uses."""

    def __init__(self, client: firestore.Client, call_timeout: float = CALL_TIMEOUT) -> None:
        self.client = client
        self._call = call_options(call_timeout)
        bound_transaction_calls(client, self._call)

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
        query: Any = self.client.collection(shape.collection)  # a query once filtered
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
        except Layout1:
            self._number_layout1(session_id)
        try:
            return work()
        except Layout1:
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
            snap = read_doc(transaction, session_ref, self._call)
            if not snap.exists or "next_seq" in snap.to_dict():
                return
            doc = snap.to_dict()
            until = doc["active_until"] if latest is None else max(doc["active_until"], latest)
            changes = {"next_seq": len(snaps) + 1, "active_until": until}
            changes["expires_at"] = max(doc["expires_at"], until)
            transaction.update(session_ref, changes)

        run_transaction(self.client, body)

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
        raises `NoProgress` when it finds nothing changed since the failed one (a conflict
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
            except NoProgress:
                raise Unavailable(f"Firestore {action} failed: {failure}") from failure
            time.sleep(random.uniform(0, 0.004 * (tries + 1)))
        raise Unavailable(
            "the state store is busy with concurrent writes; retry shortly",
            retry_after=CONTENTION_RETRY_AFTER,
        )

    def _last_read(self, snap: Any) -> Any:
        """The precondition that a document is still as `snap` read it."""
        return self.client.write_option(last_update_time=snap.update_time)

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

    def record_effect(self, inquiry_id: str, effect: str, outcome: str, now: datetime) -> None:
        if not valid_doc_id(inquiry_id):
            return
        ref = self._inquiry(inquiry_id)

        def body(transaction: Any) -> None:
            snap = read_doc(transaction, ref, self._call)
            if not snap.exists:
                return
            effects = dict(snap.get("effects") or {})
            if effect in effects:
                return  # the first outcome stands
            effects[effect] = {"outcome": outcome, "recorded_at": now}
            transaction.update(ref, {"effects": effects})

        run_transaction(self.client, body)
