"""Sessions, their messages, idempotency records and the staff's handoff queue on SQLite: the
`SessionStore`, `IdempotencyStore` and `HandoffStore` part of `SqliteStore`."""

from __future__ import annotations

import json
from datetime import datetime

from app.adapters.sqlite_db import to_ts
from app.adapters.sqlite_schema import (
    SqliteBase,
    message_of,
    record_of,
    session_of,
)
from app.domain.errors import NotFound
from app.domain.records import HandoffState, Message, Session
from app.ports.store import (
    APPENDED,
    SESSION_GONE,
    EffectMark,
    IdempotencyRecord,
    NewMessage,
    StaleFlow,
    Turn,
    check_room,
)


class SqliteSessions(SqliteBase):
    """Sessions and messages, idempotency records, the handoff queue."""

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
        return session_of(row) if row else None

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
        return (session_of(row) if row else None), (record_of(record) if record else None)

    def latest_messages(
        self, session_id: str, limit: int, before: int | None = None
    ) -> list[Message]:
        """Walks the primary key (session_id, seq) backwards from `before`: `limit` rows."""
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT * FROM messages WHERE session_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?",
                (session_id, before if before is not None else 2**62, limit),
            ).fetchall()
        return [message_of(r) for r in reversed(rows)]

    def get_message(self, session_id: str, message_id: str) -> Message | None:
        with self.db.read() as conn:
            row = conn.execute(
                "SELECT * FROM messages WHERE session_id = ? AND id = ?", (session_id, message_id)
            ).fetchone()
        return message_of(row) if row else None

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
                return message_of(existing)
            seq = row["next_seq"]
            check_room(session_id, seq - 1, 1, max_messages)
            stored = self._insert_message(conn, session_id, seq, message, ts, dedupe_key)
            conn.execute("UPDATE sessions SET next_seq = ? WHERE id = ?", (seq + 1, session_id))
            self._mark(conn, mark, APPENDED, ts)
        return stored

    def get_idempotency(self, scope: str, key: str, now: datetime) -> IdempotencyRecord | None:
        with self.db.read() as conn:
            row = conn.execute(
                "SELECT * FROM idempotency WHERE scope = ? AND key = ? AND expires_at > ?",
                (scope, key, to_ts(now)),
            ).fetchone()
        return record_of(row) if row else None

    def handoff_sessions(self, state: HandoffState, now: datetime, limit: int) -> list[Session]:
        """Walks the (handoff_state, handoff_since) index: `limit` live rows at most."""
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT * FROM sessions WHERE handoff_state = ? AND expires_at > ?"
                " ORDER BY handoff_since, id LIMIT ?",
                (state.value, to_ts(now), limit),
            ).fetchall()
        return [session_of(r) for r in rows]

    def count_waiting_handoffs(self, since_before: datetime, now: datetime, limit: int) -> int:
        with self.db.read() as conn:
            row = conn.execute(
                "SELECT COUNT(*) AS n FROM (SELECT 1 FROM sessions WHERE handoff_state = ?"
                " AND handoff_since < ? AND expires_at > ? LIMIT ?)",
                (HandoffState.WAITING.value, to_ts(since_before), to_ts(now), limit),
            ).fetchone()
        return int(row["n"])
