"""The shared SQLite plumbing (collector/storage/sqlite.py) on real files."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from collector.storage import sqlite
from collector.storage.sqlite import Worker


class Refused(Exception):
    pass


def _table(conn: sqlite3.Connection) -> None:
    sqlite.use_wal(conn, foreign_keys=True)
    conn.execute("CREATE TABLE IF NOT EXISTS t (x INTEGER PRIMARY KEY)")


def test_open_db_sets_the_durability_pragmas(tmp_path: Path) -> None:
    conn = sqlite.open_db(tmp_path / "a" / "b.sqlite3", _table, timeout=10, rows=True,
                          mkdir=True)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 10_000
        assert conn.isolation_level is None
        assert isinstance(conn.execute("SELECT 1 AS one").fetchone(), sqlite3.Row)
        assert sqlite.schema_version(conn) == 0
    finally:
        conn.close()
    plain = sqlite.open_db(tmp_path / "a" / "b.sqlite3", lambda c: None)
    try:
        assert plain.execute("PRAGMA busy_timeout").fetchone()[0] == 5_000
        assert plain.execute("PRAGMA foreign_keys").fetchone()[0] == 0
        assert not isinstance(plain.execute("SELECT 1").fetchone(), sqlite3.Row)
    finally:
        plain.close()


def test_open_db_translates_a_database_error_and_closes(tmp_path: Path) -> None:
    path = tmp_path / "junk.sqlite3"
    path.write_bytes(b"this is not a database, it is a text file" * 100)
    with pytest.raises(Refused, match="junk") as caught:
        sqlite.open_db(path, _table, error=lambda err: Refused(f"{path}: {err}"))
    assert isinstance(caught.value.__cause__, sqlite3.DatabaseError)
    with pytest.raises(sqlite3.DatabaseError):
        sqlite.open_db(path, _table)  # no translation asked: the error as it is


def test_transaction_commits_or_rolls_back(tmp_path: Path) -> None:
    conn = sqlite.open_db(tmp_path / "t.sqlite3", _table)
    try:
        with sqlite.transaction(conn) as c:
            c.execute("INSERT INTO t VALUES (1)")
        with pytest.raises(sqlite3.IntegrityError), sqlite.transaction(conn, "BEGIN") as c:
            c.execute("INSERT INTO t VALUES (2)")
            c.execute("INSERT INTO t VALUES (1)")
        assert not conn.in_transaction
        assert [r[0] for r in conn.execute("SELECT x FROM t")] == [1]
    finally:
        conn.close()


async def test_worker_runs_everything_on_its_one_thread(tmp_path: Path) -> None:
    path = tmp_path / "w.sqlite3"
    worker, conn = await Worker.start("test-db", lambda: sqlite.open_db(path, _table))
    names = {await worker.run(lambda: threading.current_thread().name) for _ in range(5)}
    assert len(names) == 1 and names.pop().startswith("test-db")
    assert await worker.run(conn.execute, "SELECT count(*) FROM t") is not None
    await worker.close(conn.close)
    with pytest.raises(sqlite3.ProgrammingError):
        conn.execute("SELECT 1")  # closed on the worker
    with pytest.raises(RuntimeError):
        await worker.run(lambda: None)  # the thread has ended


async def test_a_failing_opener_ends_the_thread(tmp_path: Path) -> None:
    before = {t.name for t in threading.enumerate()}

    def opener() -> None:
        raise Refused("no")

    with pytest.raises(Refused):
        await Worker.start("doomed-db", opener)
    for t in threading.enumerate():
        if t.name.startswith("doomed-db") and t.name not in before:
            t.join(timeout=5)
            assert not t.is_alive()
