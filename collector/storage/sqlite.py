"""The SQLite plumbing the collector's stores share: the ticket queue, accounts, agents, uptime
spans and supply stock each keep one file under ``state_dir`` with the same rules.

Contracts:

- :func:`open_db` opens a connection in autocommit mode (``isolation_level=None``: every
  transaction is an explicit ``BEGIN``, see :func:`transaction`), usable from a thread other
  than the one that opened it (the store's worker), waiting up to ``timeout`` seconds for
  another process's lock (the busy timeout: the CLI writes the same files while the collector
  runs). ``setup`` runs next (pragmas, schema, migrations); if it fails the connection is
  closed and a database error is handed to ``error`` for the store's own exception.
- :func:`use_wal`: WAL with ``synchronous=NORMAL``. A committed transaction survives a crash of
  the process; a power loss may lose the last transactions, never corrupt the file. Readers do
  not block the one writer, so the CLI and the collector can share a file.
- :class:`Worker`: one thread that owns the connection. Each call is one function run there,
  so the event loop never waits on the disk and no two transactions interleave.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sqlite3
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


def open_db(path: Path, setup: Callable[[sqlite3.Connection], None], *,
            error: Callable[[sqlite3.DatabaseError], Exception] | None = None,
            timeout: float = 5.0, rows: bool = False, mkdir: bool = False) -> sqlite3.Connection:
    """The connection to ``path`` after ``setup(conn)``. ``rows``: rows are ``sqlite3.Row``;
    ``mkdir``: create the parent directories first. ``sqlite3.connect`` errors (a directory
    that cannot be written) propagate as they are; a ``sqlite3.DatabaseError`` in ``setup``
    becomes ``error(err)`` (raised ``from err``) when ``error`` is given."""
    if mkdir:
        path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=timeout)
    try:
        if rows:
            conn.row_factory = sqlite3.Row
        setup(conn)
    except sqlite3.DatabaseError as err:
        conn.close()
        if error is None:
            raise
        raise error(err) from err
    except BaseException:
        conn.close()
        raise
    return conn


def use_wal(conn: sqlite3.Connection, *, foreign_keys: bool = False) -> None:
    """WAL + ``synchronous=NORMAL`` (module docstring); ``foreign_keys``: enforce REFERENCES."""
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    if foreign_keys:
        conn.execute("PRAGMA foreign_keys=ON")


def schema_version(conn: sqlite3.Connection) -> int:
    """``PRAGMA user_version``: 0 for a new file."""
    version: int = conn.execute("PRAGMA user_version").fetchone()[0]
    return version


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection, begin: str = "BEGIN IMMEDIATE"
                ) -> Iterator[sqlite3.Connection]:
    """One transaction: committed when the block ends, rolled back when it raises (the error
    propagates). ``BEGIN IMMEDIATE`` takes the write lock at once (a writer waits for it up to
    the busy timeout instead of failing at its first write); pass ``"BEGIN"`` for a deferred
    one. A failed COMMIT rolls back too, unless SQLite already did."""
    conn.execute(begin)
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


class Worker:
    """The one thread a store's connection lives on. Start with :meth:`start`; :meth:`run` a
    function there; :meth:`close` runs the store's closer there, then ends the thread."""

    def __init__(self, executor: ThreadPoolExecutor) -> None:
        self._executor = executor

    @classmethod
    async def start(cls, name: str, opener: Callable[[], T]) -> tuple[Worker, T]:
        """A worker thread named ``name`` and what ``opener()`` returned there (a connection,
        or a synchronous store). If ``opener`` raises, the thread ends and the error propagates."""
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        try:
            opened = await asyncio.get_running_loop().run_in_executor(executor, opener)
        except BaseException:
            executor.shutdown(wait=False)
            raise
        return cls(executor), opened

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn(*args, **kwargs)`` on the worker thread; its exception propagates."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    async def close(self, closer: Callable[[], object]) -> None:
        """``closer()`` on the worker thread (it closes the connection), then the thread ends
        after any call still queued."""
        await self.run(closer)
        self._executor.shutdown(wait=True)
