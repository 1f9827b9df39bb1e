"""The `Store` port on one SQLite file: sessions, messages, inquiries, idempotency, side effects
and order claims.

Every method that changes more than one row is one BEGIN IMMEDIATE transaction, so a turn's
two messages, its flow state and its idempotency record land together or not at all, and the
seq of a message is assigned under the write lock (gap-free, one order for every reader).
The file outlives the process: a new store on the same `DATA_DIR` sees everything, including
a file an earlier version wrote (the store adds the columns it lacks, `ADDED_COLUMNS`).
A session's reads and writes touch its row and the few messages they name or return, through
the (session_id, seq) key, so their cost does not grow with the session.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import Any

from app.adapters.sqlite_db import Database, from_ts, to_ts
from app.domain import HandoffState, Inquiry, InquiryStatus, Message, Session
from app.errors import NotFound
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

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL,
    preferences TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    flow TEXT NOT NULL DEFAULT '{}',
    flow_version INTEGER NOT NULL DEFAULT 0,
    next_seq INTEGER NOT NULL DEFAULT 1,
    handoff_state TEXT NOT NULL DEFAULT 'none',
    handoff_since REAL
);
CREATE INDEX IF NOT EXISTS sessions_by_expiry ON sessions (expires_at);
CREATE TABLE IF NOT EXISTS messages (
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    id TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    text TEXT NOT NULL,
    route TEXT,
    data TEXT NOT NULL,
    created_at REAL NOT NULL,
    dedupe_key TEXT,
    PRIMARY KEY (session_id, seq)
);
CREATE UNIQUE INDEX IF NOT EXISTS messages_by_dedupe_key
    ON messages (session_id, dedupe_key) WHERE dedupe_key IS NOT NULL;
CREATE TABLE IF NOT EXISTS inquiries (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    details TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    session_id TEXT,
    callback_url TEXT,
    result TEXT,
    error TEXT,
    customer_id TEXT,
    published INTEGER NOT NULL DEFAULT 0,
    lease_holder TEXT,
    lease_until REAL,
    settled INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS inquiries_by_session ON inquiries (session_id, created_at);
CREATE INDEX IF NOT EXISTS inquiries_unpublished ON inquiries (published, created_at);
CREATE TABLE IF NOT EXISTS idempotency (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    response TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE TABLE IF NOT EXISTS side_effects (
    inquiry_id TEXT NOT NULL,
    effect TEXT NOT NULL,
    outcome TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (inquiry_id, effect)
);
CREATE TABLE IF NOT EXISTS order_claims (
    order_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    claim_id TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    status TEXT NOT NULL,
    amount_cents INTEGER NOT NULL,
    created_at REAL NOT NULL,
    inquiry_id TEXT
);
"""

# Columns added after the first release: (table, column, declaration). A file written before
# then gets them when a store opens it; rows stored before read as NULL (None).
ADDED_COLUMNS = (
    ("inquiries", "customer_id", "TEXT"),
    ("sessions", "handoff_state", "TEXT NOT NULL DEFAULT 'none'"),
    ("sessions", "handoff_since", "REAL"),
)

# The lookups of a customer's erasure and of the staff's handoff queue; created after
# `ADDED_COLUMNS`, which they index.
OWNER_INDEXES = """
CREATE INDEX IF NOT EXISTS sessions_by_customer ON sessions (customer_id);
CREATE INDEX IF NOT EXISTS inquiries_by_customer ON inquiries (customer_id);
CREATE INDEX IF NOT EXISTS sessions_by_handoff ON sessions (handoff_state, handoff_since);
"""

# The inquiries a customer owns, but the one to keep (`id IS NOT NULL` when none is kept).
_OWNED_INQUIRIES = "FROM inquiries WHERE customer_id = ? AND id IS NOT ?"


def _session(row: sqlite3.Row) -> Session:
    return Session(
        id=row["id"],
        customer_id=row["customer_id"],
        preferences=json.loads(row["preferences"]),
        created_at=from_ts(row["created_at"]),
        expires_at=from_ts(row["expires_at"]),
        flow=json.loads(row["flow"]),
        flow_version=row["flow_version"],
        message_count=row["next_seq"] - 1,
        handoff=HandoffState(row["handoff_state"]),
        handoff_since=None if row["handoff_since"] is None else from_ts(row["handoff_since"]),
    )


def _message(row: sqlite3.Row) -> Message:
    return Message(
        id=row["id"],
        session_id=row["session_id"],
        seq=row["seq"],
        role=row["role"],
        text=row["text"],
        created_at=from_ts(row["created_at"]),
        route=row["route"],
        data=json.loads(row["data"]),
    )


def _inquiry(row: sqlite3.Row) -> Inquiry:
    return Inquiry(
        id=row["id"],
        kind=row["kind"],
        details=json.loads(row["details"]),
        status=InquiryStatus(row["status"]),
        attempts=row["attempts"],
        created_at=from_ts(row["created_at"]),
        updated_at=from_ts(row["updated_at"]),
        expires_at=from_ts(row["expires_at"]),
        session_id=row["session_id"],
        callback_url=row["callback_url"],
        result=json.loads(row["result"]) if row["result"] is not None else None,
        error=row["error"],
        customer_id=row["customer_id"],
    )


def _record(row: sqlite3.Row) -> IdempotencyRecord:
    return IdempotencyRecord(
        scope=row["scope"],
        key=row["key"],
        fingerprint=row["fingerprint"],
        response=json.loads(row["response"]),
        created_at=from_ts(row["created_at"]),
        expires_at=from_ts(row["expires_at"]),
    )


def _order_claim(row: sqlite3.Row) -> OrderClaim:
    return OrderClaim(
        order_id=row["order_id"],
        kind=row["kind"],
        claim_id=row["claim_id"],
        customer_id=row["customer_id"],
        status=row["status"],
        amount_cents=row["amount_cents"],
        created_at=from_ts(row["created_at"]),
        inquiry_id=row["inquiry_id"],
    )


class SqliteStore:
    """Implements `app.ports.Store` on `Database`."""

    def __init__(self, db: Database) -> None:
        self.db = db
        db.add_schema(SCHEMA)
        for table, column, declaration in ADDED_COLUMNS:
            db.add_column(table, column, declaration)
        db.add_schema(OWNER_INDEXES)

    # --- sessions and messages ---

    def create_session(self, session: Session) -> None:
        with self.db.write() as conn:
            conn.execute(
                "INSERT INTO sessions (id, customer_id, preferences, created_at, expires_at, flow,"
                " flow_version, handoff_state, handoff_since) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    session.id,
                    session.customer_id,
                    json.dumps(session.preferences),
                    to_ts(session.created_at),
                    to_ts(session.expires_at),
                    json.dumps(session.flow),
                    session.flow_version,
                    session.handoff.value,
                    None if session.handoff_since is None else to_ts(session.handoff_since),
                ),
            )

    def get_session(self, session_id: str, now: datetime) -> Session | None:
        with self.db.read() as conn:
            row = conn.execute(
                "SELECT * FROM sessions WHERE id = ? AND expires_at > ?", (session_id, to_ts(now))
            ).fetchone()
        return _session(row) if row else None

    def get_turn_state(
        self, session_id: str, scope: str, key: str, now: datetime
    ) -> tuple[Session | None, IdempotencyRecord | None]:
        with self.db.read() as conn:
            row = conn.execute(
                "SELECT * FROM sessions WHERE id = ? AND expires_at > ?", (session_id, to_ts(now))
            ).fetchone()
            record = conn.execute(
                "SELECT * FROM idempotency WHERE scope = ? AND key = ? AND expires_at > ?",
                (scope, key, to_ts(now)),
            ).fetchone()
        return (_session(row) if row else None), (_record(record) if record else None)

    def latest_messages(
        self, session_id: str, limit: int, before: int | None = None
    ) -> list[Message]:
        """Walks the primary key (session_id, seq) backwards from `before`: `limit` rows."""
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT * FROM messages WHERE session_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?",
                (session_id, before if before is not None else 2**62, limit),
            ).fetchall()
        return [_message(r) for r in reversed(rows)]

    def get_message(self, session_id: str, message_id: str) -> Message | None:
        with self.db.read() as conn:
            row = conn.execute(
                "SELECT * FROM messages WHERE session_id = ? AND id = ?", (session_id, message_id)
            ).fetchone()
        return _message(row) if row else None

    def append_turn(self, turn: Turn) -> list[Message]:
        now = to_ts(turn.now)
        with self.db.write() as conn:
            if turn.idempotency is not None:
                self._refuse_duplicate(conn, turn.idempotency, now)
            row = conn.execute(
                "SELECT * FROM sessions WHERE id = ? AND expires_at > ?", (turn.session_id, now)
            ).fetchone()
            if row is None:
                raise NotFound(f"session {turn.session_id!r} does not exist or has expired")
            if row["flow_version"] != turn.expected_flow_version:
                raise StaleFlow(turn.session_id)
            if turn.order_claim is not None:
                self._refuse_claimed(conn, turn.order_claim.order_id)
            seq = row["next_seq"]
            check_room(turn.session_id, seq - 1, len(turn.messages), turn.max_messages)
            stored = []
            for message in turn.messages:
                stored.append(self._insert_message(conn, turn.session_id, seq, message, now, None))
                seq += 1
            flow, changed = row["flow"], False
            if turn.new_flow is not None and turn.new_flow != json.loads(flow):
                flow, changed = json.dumps(turn.new_flow), True
            state, since = row["handoff_state"], row["handoff_since"]
            if turn.handoff is not None and turn.handoff.value != state:
                state, changed = turn.handoff.value, True
                since = None if turn.handoff is HandoffState.NONE else now
            conn.execute(
                "UPDATE sessions SET next_seq = ?, expires_at = ?, flow = ?, flow_version = ?,"
                " handoff_state = ?, handoff_since = ? WHERE id = ?",
                (
                    seq,
                    to_ts(turn.expires_at),
                    flow,
                    row["flow_version"] + (1 if changed else 0),
                    state,
                    since,
                    turn.session_id,
                ),
            )
            if turn.inquiry is not None:
                self._insert_inquiry(conn, turn.inquiry)
            if turn.order_claim is not None:
                self._insert_claim(conn, turn.order_claim)
            if turn.idempotency is not None:
                self._insert_record(conn, turn.idempotency)
        return stored

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
        ts = to_ts(now)
        with self.db.write() as conn:
            row = conn.execute(
                "SELECT next_seq FROM sessions WHERE id = ? AND expires_at > ?", (session_id, ts)
            ).fetchone()
            if row is None:
                self._mark(conn, mark, SESSION_GONE, ts)
                return None
            existing = conn.execute(
                "SELECT * FROM messages WHERE session_id = ? AND dedupe_key = ?",
                (session_id, dedupe_key),
            ).fetchone()
            if existing is not None:
                self._mark(conn, mark, APPENDED, ts)
                return _message(existing)
            seq = row["next_seq"]
            check_room(session_id, seq - 1, 1, max_messages)
            stored = self._insert_message(conn, session_id, seq, message, ts, dedupe_key)
            conn.execute("UPDATE sessions SET next_seq = ? WHERE id = ?", (seq + 1, session_id))
            self._mark(conn, mark, APPENDED, ts)
        return stored

    @staticmethod
    def _mark(conn: sqlite3.Connection, mark: EffectMark | None, outcome: str, ts: float) -> None:
        if mark is not None:
            conn.execute(
                "INSERT OR IGNORE INTO side_effects (inquiry_id, effect, outcome, created_at)"
                " VALUES (?, ?, ?, ?)",
                (mark.inquiry_id, mark.effect, outcome, ts),
            )

    def _insert_message(
        self,
        conn: sqlite3.Connection,
        session_id: str,
        seq: int,
        message: NewMessage,
        now: float,
        dedupe_key: str | None,
    ) -> Message:
        message_id = message.id
        conn.execute(
            "INSERT INTO messages (session_id, seq, id, role, text, route, data, created_at,"
            " dedupe_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                session_id,
                seq,
                message_id,
                message.role,
                message.text,
                message.route,
                json.dumps(message.data),
                now,
                dedupe_key,
            ),
        )
        return message.stored(session_id, seq, from_ts(now))

    # --- idempotency ---

    def get_idempotency(self, scope: str, key: str, now: datetime) -> IdempotencyRecord | None:
        with self.db.read() as conn:
            row = conn.execute(
                "SELECT * FROM idempotency WHERE scope = ? AND key = ? AND expires_at > ?",
                (scope, key, to_ts(now)),
            ).fetchone()
        return _record(row) if row else None

    def _refuse_duplicate(
        self, conn: sqlite3.Connection, record: IdempotencyRecord, now: float
    ) -> None:
        row = conn.execute(
            "SELECT * FROM idempotency WHERE scope = ? AND key = ? AND expires_at > ?",
            (record.scope, record.key, now),
        ).fetchone()
        if row is not None:
            raise DuplicateKey(_record(row))

    def _insert_record(self, conn: sqlite3.Connection, record: IdempotencyRecord) -> None:
        conn.execute(
            "INSERT OR REPLACE INTO idempotency (scope, key, fingerprint, response, created_at,"
            " expires_at) VALUES (?, ?, ?, ?, ?, ?)",
            (
                record.scope,
                record.key,
                record.fingerprint,
                json.dumps(record.response),
                to_ts(record.created_at),
                to_ts(record.expires_at),
            ),
        )

    # --- handoffs ---

    def handoff_sessions(self, state: HandoffState, now: datetime, limit: int) -> list[Session]:
        """Walks the (handoff_state, handoff_since) index: `limit` live rows at most."""
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT * FROM sessions WHERE handoff_state = ? AND expires_at > ?"
                " ORDER BY handoff_since, id LIMIT ?",
                (state.value, to_ts(now), limit),
            ).fetchall()
        return [_session(r) for r in rows]

    def count_waiting_handoffs(self, since_before: datetime, now: datetime, limit: int) -> int:
        with self.db.read() as conn:
            row = conn.execute(
                "SELECT COUNT(*) AS n FROM (SELECT 1 FROM sessions WHERE handoff_state = ?"
                " AND handoff_since < ? AND expires_at > ? LIMIT ?)",
                (HandoffState.WAITING.value, to_ts(since_before), to_ts(now), limit),
            ).fetchone()
        return int(row["n"])

    # --- inquiries ---

    def create_inquiry(self, inquiry: Inquiry, idempotency: IdempotencyRecord | None) -> None:
        with self.db.write() as conn:
            if idempotency is not None:
                self._refuse_duplicate(conn, idempotency, to_ts(idempotency.created_at))
            self._insert_inquiry(conn, inquiry)
            if idempotency is not None:
                self._insert_record(conn, idempotency)

    def _insert_inquiry(self, conn: sqlite3.Connection, inquiry: Inquiry) -> None:
        conn.execute(
            "INSERT INTO inquiries (id, kind, details, status, attempts, created_at, updated_at,"
            " expires_at, session_id, callback_url, result, error, customer_id)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                inquiry.id,
                inquiry.kind,
                json.dumps(inquiry.details),
                inquiry.status.value,
                inquiry.attempts,
                to_ts(inquiry.created_at),
                to_ts(inquiry.updated_at),
                to_ts(inquiry.expires_at),
                inquiry.session_id,
                inquiry.callback_url,
                json.dumps(inquiry.result) if inquiry.result is not None else None,
                inquiry.error,
                inquiry.customer_id,
            ),
        )

    def get_inquiry(self, inquiry_id: str) -> Inquiry | None:
        with self.db.read() as conn:
            row = conn.execute("SELECT * FROM inquiries WHERE id = ?", (inquiry_id,)).fetchone()
        return _inquiry(row) if row else None

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
        ts = to_ts(now)
        with self.db.write() as conn:
            row = conn.execute("SELECT * FROM inquiries WHERE id = ?", (inquiry_id,)).fetchone()
            if row is None:
                return Claim(ClaimState.MISSING)
            if row["settled"]:
                return Claim(ClaimState.SETTLED, _inquiry(row))
            held = row["lease_holder"] is not None and row["lease_until"] > ts
            if held and row["lease_holder"] != holder:
                return Claim(ClaimState.BUSY, _inquiry(row))
            status, attempts, updated = row["status"], row["attempts"], row["updated_at"]
            if not InquiryStatus(
                status
            ).is_final:  # a final one keeps its time: callbacks resend it
                status, attempts, updated = InquiryStatus.RUNNING.value, attempts + 1, ts
            conn.execute(
                "UPDATE inquiries SET lease_holder = ?, lease_until = ?, status = ?, attempts = ?,"
                " updated_at = ? WHERE id = ?",
                (holder, to_ts(lease_until), status, attempts, updated, inquiry_id),
            )
            row = conn.execute("SELECT * FROM inquiries WHERE id = ?", (inquiry_id,)).fetchone()
            effects = conn.execute(
                "SELECT effect FROM side_effects WHERE inquiry_id = ?", (inquiry_id,)
            ).fetchall()
        return Claim(ClaimState.ACQUIRED, _inquiry(row), frozenset(r["effect"] for r in effects))

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
            if row is None or row["lease_holder"] != holder:
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
        return _inquiry(row)

    def release_inquiry(self, inquiry_id: str, holder: str, settled: bool, now: datetime) -> None:
        with self.db.write() as conn:
            conn.execute(
                "UPDATE inquiries SET lease_holder = NULL, lease_until = NULL,"
                " settled = MAX(settled, ?) WHERE id = ? AND lease_holder = ?",
                (int(settled), inquiry_id, holder),
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

    # --- order claims ---

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

    @staticmethod
    def _claim_of(conn: sqlite3.Connection, order_id: str) -> OrderClaim | None:
        row = conn.execute("SELECT * FROM order_claims WHERE order_id = ?", (order_id,)).fetchone()
        return _order_claim(row) if row else None

    def _refuse_claimed(self, conn: sqlite3.Connection, order_id: str) -> None:
        existing = self._claim_of(conn, order_id)
        if existing is not None:
            raise ClaimExists(existing)

    @staticmethod
    def _insert_claim(conn: sqlite3.Connection, claim: OrderClaim) -> None:
        conn.execute(
            "INSERT INTO order_claims (order_id, kind, claim_id, customer_id, status,"
            " amount_cents, created_at, inquiry_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                claim.order_id,
                claim.kind,
                claim.claim_id,
                claim.customer_id,
                claim.status,
                claim.amount_cents,
                to_ts(claim.created_at),
                claim.inquiry_id,
            ),
        )

    # --- erasure ---

    def erase_customer(self, customer_id: str, keep_inquiry_id: str | None = None) -> Erasure:
        """One transaction: a customer is erased whole or not at all, expired rows included.
        Order claims stay: they are order records, kept by law like the orders."""
        with self.db.write() as conn:
            session_ids, messages, records = self._erase_sessions(conn, customer_id)
            records += conn.execute(
                "DELETE FROM idempotency WHERE scope = ?", (inquiry_scope(customer_id),)
            ).rowcount
            inquiries = self._erase_inquiries(conn, customer_id, keep_inquiry_id)
        return Erasure(session_ids, messages, inquiries, records)

    @staticmethod
    def _erase_sessions(
        conn: sqlite3.Connection, customer_id: str
    ) -> tuple[tuple[str, ...], int, int]:
        """(session ids, messages, turn records) deleted; messages (with their dedupe keys) go
        with their session through the foreign key's cascade, so they are counted first."""
        rows = conn.execute(
            "SELECT id FROM sessions WHERE customer_id = ? ORDER BY id", (customer_id,)
        ).fetchall()
        session_ids = tuple(r["id"] for r in rows)
        messages = conn.execute(
            "SELECT COUNT(*) FROM messages WHERE session_id IN"
            " (SELECT id FROM sessions WHERE customer_id = ?)",
            (customer_id,),
        ).fetchone()[0]
        records = sum(
            conn.execute("DELETE FROM idempotency WHERE scope = ?", (session_scope(s),)).rowcount
            for s in session_ids
        )
        conn.execute("DELETE FROM sessions WHERE customer_id = ?", (customer_id,))
        return session_ids, messages, records

    @staticmethod
    def _erase_inquiries(
        conn: sqlite3.Connection, customer_id: str, keep_inquiry_id: str | None
    ) -> int:
        """Deletes the customer's inquiries but the kept one, with their side-effect markers."""
        owned = (customer_id, keep_inquiry_id)
        conn.execute(
            f"DELETE FROM side_effects WHERE inquiry_id IN (SELECT id {_OWNED_INQUIRIES})", owned
        )
        return conn.execute(f"DELETE {_OWNED_INQUIRIES}", owned).rowcount

    # --- housekeeping ---

    def purge_expired(self, now: datetime) -> int:
        ts = to_ts(now)
        with self.db.write() as conn:
            count = conn.execute("DELETE FROM sessions WHERE expires_at <= ?", (ts,)).rowcount
            count += conn.execute(
                "DELETE FROM inquiries WHERE expires_at <= ? AND lease_holder IS NULL", (ts,)
            ).rowcount
            count += conn.execute("DELETE FROM idempotency WHERE expires_at <= ?", (ts,)).rowcount
            conn.execute(
                "DELETE FROM side_effects WHERE inquiry_id NOT IN (SELECT id FROM inquiries)"
            )
        return count

    def ping(self) -> bool:
        return self.db.ping()

    def close(self) -> None:
        self.db.close()
