"""Opening the shared SQLite file: concurrent openers must not fail the start-up."""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path

import pytest

from app.adapters.sqlite_db import Database, enable_wal


class LockedTwice:
    """A connection whose journal-mode switch meets a lock twice, as a racing opener causes."""

    def __init__(self, failures: int, message: str = "database is locked") -> None:
        self.failures, self.message, self.calls = failures, message, 0

    def execute(self, sql: str) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise sqlite3.OperationalError(self.message)


def test_the_wal_switch_retries_while_another_opener_holds_the_lock() -> None:
    conn = LockedTwice(failures=2)
    enable_wal(conn)  # type: ignore[arg-type]
    assert conn.calls == 3


def test_the_wal_switch_gives_up_after_its_timeout() -> None:
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        enable_wal(LockedTwice(failures=10**6), timeout_s=0.1)  # type: ignore[arg-type]


def test_other_errors_are_not_retried() -> None:
    conn = LockedTwice(failures=5, message="disk I/O error")
    with pytest.raises(sqlite3.OperationalError, match="disk"):
        enable_wal(conn)  # type: ignore[arg-type]
    assert conn.calls == 1


def _open(data_dir: str) -> None:
    Database(data_dir).connection()


def test_processes_opening_a_fresh_file_together_all_get_wal(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    for run in range(2):
        data_dir = tmp_path / f"run{run}"
        openers = [context.Process(target=_open, args=(str(data_dir),)) for _ in range(3)]
        for opener in openers:
            opener.start()
        for opener in openers:
            opener.join(timeout=60)
        assert [opener.exitcode for opener in openers] == [0, 0, 0]
        mode = sqlite3.connect(data_dir / "app.db").execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "wal"


def test_ping_fails_while_another_writer_holds_the_file_and_recovers_after(tmp_path: Path) -> None:
    db = Database(tmp_path)
    assert db.ping()
    holder = sqlite3.connect(tmp_path / "app.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        assert not db.ping(timeout_s=0.05)
    finally:
        holder.execute("ROLLBACK")
    assert db.ping(timeout_s=0.05)


def test_ping_fails_on_a_closed_database(tmp_path: Path) -> None:
    db = Database(tmp_path)
    db.close()
    assert not db.ping()
