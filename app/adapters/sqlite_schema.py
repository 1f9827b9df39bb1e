"""The SQLite store's tables, how their rows read as records, and the writes its parts share
(see app/adapters/sqlite_store.py)."""

from __future__ import annotations

import json
import sqlite3

from app.adapters.sqlite_db import Database, from_ts, to_ts
from app.domain.leases import (
    LeaseFields,
)
from app.domain.records import HandoffState, Inquiry, InquiryStatus, Message, Session
from app.ports.store import (
    ClaimExists,
    DuplicateKey,
    EffectMark,
    IdempotencyRecord,
    NewMessage,
    OrderClaim,
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
OWNED_INQUIRIES = "FROM inquiries WHERE customer_id = ? AND id IS NOT ?"


def session_of(row: sqlite3.Row) -> Session:
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


def message_of(row: sqlite3.Row) -> Message:
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


def inquiry_of(row: sqlite3.Row) -> Inquiry:
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


def lease_fields_of(row: sqlite3.Row | None) -> LeaseFields[float] | None:
    if row is None:
        return None
    return LeaseFields(
        settled=bool(row["settled"]),
        lease_holder=row["lease_holder"],
        lease_until=row["lease_until"],
        status=row["status"],
        attempts=row["attempts"],
        updated_at=row["updated_at"],
    )


def record_of(row: sqlite3.Row) -> IdempotencyRecord:
    return IdempotencyRecord(
        scope=row["scope"],
        key=row["key"],
        fingerprint=row["fingerprint"],
        response=json.loads(row["response"]),
        created_at=from_ts(row["created_at"]),
        expires_at=from_ts(row["expires_at"]),
    )


def order_claim_of(row: sqlite3.Row) -> OrderClaim:
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


class SqliteBase:
    """The database, its schema, and the inserts and checks every part of `SqliteStore` uses."""

    def __init__(self, db: Database) -> None:
        self.db = db
        db.add_schema(SCHEMA)
        for table, column, declaration in ADDED_COLUMNS:
            db.add_column(table, column, declaration)
        db.add_schema(OWNER_INDEXES)

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

    def _refuse_duplicate(
        self, conn: sqlite3.Connection, record: IdempotencyRecord, now: float
    ) -> None:
        row = conn.execute(
            "SELECT * FROM idempotency WHERE scope = ? AND key = ? AND expires_at > ?",
            (record.scope, record.key, now),
        ).fetchone()
        if row is not None:
            raise DuplicateKey(record_of(row))

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

    @staticmethod
    def _claim_of(conn: sqlite3.Connection, order_id: str) -> OrderClaim | None:
        row = conn.execute("SELECT * FROM order_claims WHERE order_id = ?", (order_id,)).fetchone()
        return order_claim_of(row) if row else None

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
