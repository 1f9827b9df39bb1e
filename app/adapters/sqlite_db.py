"""One SQLite file shared by the store and the local queue, safe across threads and processes.

WAL mode lets readers run beside one writer; every write is a BEGIN IMMEDIATE transaction so
two writers queue on the file lock (up to `busy_timeout`) instead of failing half-way.
Each thread gets its own connection, as sqlite3 connections must not be shared mid-use.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path

from app.domain.errors import Unavailable

BUSY_TIMEOUT_MS = 10_000


def to_ts(moment: datetime) -> float:
    return moment.timestamp()


def from_ts(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


def enable_wal(conn: sqlite3.Connection, timeout_s: float = BUSY_TIMEOUT_MS / 1000) -> None:
    """Switch the file to WAL (a persistent setting), retrying while another opener holds it.

    Two processes opening a fresh file both take a shared lock and then want the exclusive
    one to change the journal mode; SQLite breaks that deadlock by answering one of them
    "database is locked" at once, without waiting out busy_timeout. So retry until it passes.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.02)


def table_columns(conn: sqlite3.Connection, table: str) -> set[str]:
    """The names of `table`'s columns (none when the table does not exist)."""
    return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}


def _rollback(conn: sqlite3.Connection) -> None:
    try:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
    except sqlite3.Error:
        pass


class Database:
    """Per-thread connections to `<data_dir>/app.db`; closes them all on `close()`."""

    def __init__(self, data_dir: str | Path, schema: str = "") -> None:
        directory = Path(data_dir)
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise Unavailable(f"DATA_DIR {str(directory)!r} cannot be created: {exc}") from exc
        self.path = directory / "app.db"
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False
        if schema:
            self._apply_schema(schema)

    def _apply_schema(self, schema: str) -> None:
        conn = self.connection()
        try:
            conn.executescript(schema)
        except sqlite3.Error as exc:
            raise Unavailable(f"SQLite schema could not be applied: {exc}") from exc

    def add_schema(self, schema: str) -> None:
        """Create tables another component owns (idempotent: CREATE ... IF NOT EXISTS)."""
        self._apply_schema(schema)

    def add_column(self, table: str, column: str, declaration: str) -> None:
        """Add a column that a file made by an earlier version lacks: `CREATE TABLE IF NOT
        EXISTS` leaves an existing table as it was.

        Checked again under the write lock, so the processes opening one file take turns; one
        that still meets "duplicate column name" lost the race to another opener: nothing to do.
        """
        try:
            if column in table_columns(self.connection(), table):
                return  # the usual case: no write lock at start-up
        except sqlite3.Error as exc:
            raise Unavailable(f"SQLite schema could not be read: {exc}") from exc
        with self.write() as conn:
            if column in table_columns(conn, table):
                return
            try:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
            except sqlite3.OperationalError as exc:
                if "duplicate column name" not in str(exc):
                    raise

    def connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        if self._closed:
            raise Unavailable("the database is closed")
        try:
            conn = sqlite3.connect(
                self.path,
                isolation_level=None,
                check_same_thread=False,
                timeout=BUSY_TIMEOUT_MS / 1000,
            )
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            enable_wal(conn)
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as exc:
            raise Unavailable(
                f"SQLite database {str(self.path)!r} cannot be opened: {exc}"
            ) from exc
        self._local.conn = conn
        with self._lock:
            self._all.append(conn)
        return conn

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A BEGIN IMMEDIATE transaction: committed on success, rolled back on any exception."""
        conn = self.connection()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise Unavailable(f"SQLite is busy: {exc}", retry_after=1) from exc
        try:
            yield conn
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            _rollback(conn)
            raise Unavailable(f"SQLite write failed: {exc}", retry_after=1) from exc
        except BaseException:
            _rollback(conn)
            raise

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A consistent snapshot for several SELECTs."""
        conn = self.connection()
        try:
            conn.execute("BEGIN")
        except sqlite3.Error as exc:
            raise Unavailable(f"SQLite cannot be read: {exc}", retry_after=1) from exc
        try:
            yield conn
        except sqlite3.Error as exc:
            raise Unavailable(f"SQLite read failed: {exc}", retry_after=1) from exc
        finally:
            _rollback(conn)

    def ping(self, timeout_s: float = 1.0) -> bool:
        """Whether a write could start now: `SELECT 1` would pass on a locked or read-only file.

        Takes and drops the write lock, waiting at most `timeout_s` for a writer to finish.
        """
        try:
            conn = self.connection()
        except Unavailable:
            return False
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(timeout_s * 1000)}")
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            _rollback(conn)
            return False
        finally:
            with suppress(sqlite3.Error):
                conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        return True

    def close(self) -> None:
        """Close every thread's connection; later use raises Unavailable. Safe to call twice."""
        with self._lock:
            self._closed = True
            conns, self._all = self._all, []
        for conn in conns:
            with suppress(sqlite3.Error):
                conn.close()
        self._local = threading.local()
