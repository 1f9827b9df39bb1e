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

import sqlite3
from datetime import datetime

from app.adapters.sqlite_db import to_ts
from app.adapters.sqlite_inquiries import SqliteInquiries
from app.adapters.sqlite_schema import OWNED_INQUIRIES
from app.adapters.sqlite_sessions import SqliteSessions
from app.ports.store import (
    Erasure,
    inquiry_scope,
    session_scope,
)


class SqliteStore(SqliteSessions, SqliteInquiries):
    """Implements `app.ports.store.Store` on `Database`."""

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
            f"DELETE FROM side_effects WHERE inquiry_id IN (SELECT id {OWNED_INQUIRIES})", owned
        )
        return conn.execute(f"DELETE {OWNED_INQUIRIES}", owned).rowcount

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
