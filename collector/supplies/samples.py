"""Compact supply history: :class:`SampleRing` and the on-disk :class:`HistoryStore`.

**The ring.** A supply's history kept as :class:`~collector.supplies.forecast.Sample` objects cost
about 140 bytes each (the object and its boxed float, float and int), 141 KB for the 960 hourly
samples of one supply (measured with tracemalloc, ``bench/supplies_memory.py``). A ring of three
machine arrays holds the same values in 24 bytes a sample: time and level as float64 (a sentinel
level is NaN), the page counter as int64 (none is :data:`NO_PAGES`). Values come back exactly as
they went in, so a forecast over them is the same.

**The store.** ``<state_dir>/supplies-history.sqlite3`` (WAL, ``synchronous=NORMAL``): every
hourly sample when its hour closes (one transaction per reading that closed hours), and at a
clean stop the raw samples of the current hour, so that a restart gives each supply the history
it had, and the same forecast. A crash loses at most the current hour's raw samples (the closed
hours are committed). Rows older than the engine's window are pruned at start and stop. Every
method is one transaction in one worker thread; errors are :class:`HistoryError`.
"""

from __future__ import annotations

import math
import sqlite3
import sys
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Final, TypeVar

from collector.storage import sqlite
from collector.storage.sqlite import Worker
from collector.supplies.forecast import Sample
from probes.errors import FleetwatchError

T = TypeVar("T")

NO_PAGES: Final = -(2**63)  # int64 stand-in for "no page counter"
DB_NAME: Final = "supplies-history.sqlite3"
SCHEMA_VERSION: Final = 1
_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS series (
    id     INTEGER PRIMARY KEY,
    device TEXT NOT NULL,
    supply TEXT NOT NULL,
    UNIQUE (device, supply)
);
CREATE TABLE IF NOT EXISTS samples (
    series INTEGER NOT NULL,
    raw    INTEGER NOT NULL,  -- 1: a raw sample of the hour open at the last stop
    time   REAL NOT NULL,
    level  REAL,
    pages  INTEGER,
    PRIMARY KEY (series, raw, time)
) WITHOUT ROWID;
"""


class SampleRing:
    """Samples in time order, at most ``maxlen`` (the oldest go first), in three arrays."""

    __slots__ = ("_levels", "_pages", "_times", "maxlen")

    def __init__(self, samples: Iterable[Sample] = (), maxlen: int = sys.maxsize) -> None:
        self.maxlen = maxlen
        self._times = array("d")
        self._levels = array("d")
        self._pages = array("q")
        for s in samples:
            self.append(s)

    def append(self, s: Sample) -> None:
        self.append_values(s.time, s.level, s.pages)

    def append_values(self, time: float, level: float | None, pages: int | None) -> None:
        self._times.append(time)
        self._levels.append(math.nan if level is None else level)
        self._pages.append(NO_PAGES if pages is None else pages)
        if len(self._times) > self.maxlen:
            del self._times[0], self._levels[0], self._pages[0]

    def clear(self) -> None:
        del self._times[:], self._levels[:], self._pages[:]

    def __len__(self) -> int:
        return len(self._times)

    def __bool__(self) -> bool:
        return len(self._times) > 0

    def __iter__(self) -> Iterator[Sample]:
        for t, level, pages in zip(self._times, self._levels, self._pages, strict=True):
            yield Sample(t, None if math.isnan(level) else level,
                         None if pages == NO_PAGES else pages)

    def first_time(self) -> float:
        return self._times[0]

    def nbytes(self) -> int:
        """Bytes the arrays use (allocated, not only filled)."""
        return sum(sys.getsizeof(a) for a in (self._times, self._levels, self._pages))


class HistoryError(FleetwatchError):
    """The supplies history database cannot be used."""


Key = tuple[str, str]  # (device, supply index)


class HistoryStore:
    """Use ``await HistoryStore.open(path)``; no I/O in ``__init__``."""

    def __init__(self, conn: sqlite3.Connection, worker: Worker, path: Path) -> None:
        self._conn = conn
        self._worker = worker
        self.path = path
        self._ids: dict[Key, int] = {}  # series ids (worker thread only)

    @classmethod
    async def open(cls, path: Path) -> HistoryStore:
        def setup(conn: sqlite3.Connection) -> None:
            version = sqlite.schema_version(conn)
            if version > SCHEMA_VERSION:
                raise HistoryError(f"{path}: made by a newer Fleetwatch (schema {version})")
            sqlite.use_wal(conn)
            conn.executescript(_SCHEMA)
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

        def connect() -> sqlite3.Connection:
            try:
                return sqlite.open_db(path, setup, error=lambda err: HistoryError(f"{path}: {err}"))
            except sqlite3.Error as err:  # connect itself (a directory that cannot be written)
                raise HistoryError(f"{path}: {err}") from err

        worker, conn = await Worker.start("supplies-history", connect)
        return cls(conn, worker, path)

    async def _run(self, fn: Callable[[], T]) -> T:
        def guarded() -> T:
            try:
                return fn()
            except sqlite3.Error as err:
                raise HistoryError(f"{self.path}: {err}") from err
        return await self._worker.run(guarded)

    async def close(self) -> None:
        await self._worker.close(self._conn.close)

    def _id(self, c: sqlite3.Connection, device: str, supply: str) -> int:
        key = (device, supply)
        found = self._ids.get(key)
        if found is None:
            c.execute("INSERT OR IGNORE INTO series (device, supply) VALUES (?, ?)", key)
            found = int(c.execute("SELECT id FROM series WHERE device = ? AND supply = ?",
                                  key).fetchone()[0])
            self._ids[key] = found
        return found

    def _txn(self, statements: Callable[[sqlite3.Connection], object]) -> None:
        with sqlite.transaction(self._conn) as c:
            statements(c)

    async def append(self, rows: Sequence[tuple[str, str, Sample]]) -> None:
        """Closed hours: (device, supply, the hour's sample), in one transaction."""
        if not rows:
            return

        def go(c: sqlite3.Connection) -> None:
            c.executemany("INSERT OR REPLACE INTO samples (series, raw, time, level, pages) "
                          "VALUES (?, 0, ?, ?, ?)",
                          [(self._id(c, d, i), s.time, s.level, s.pages) for d, i, s in rows])
        await self._run(lambda: self._txn(go))

    async def save_open_hours(self, rows: Sequence[tuple[str, str, Sample]]) -> None:
        """At stop: the raw samples of each supply's open hour (replacing those of the last
        stop)."""
        def go(c: sqlite3.Connection) -> None:
            c.execute("DELETE FROM samples WHERE raw = 1")
            c.executemany("INSERT OR REPLACE INTO samples (series, raw, time, level, pages) "
                          "VALUES (?, 1, ?, ?, ?)",
                          [(self._id(c, d, i), s.time, s.level, s.pages) for d, i, s in rows])
        await self._run(lambda: self._txn(go))

    async def load(self, since: float, maxlen: int) -> dict[Key, tuple[SampleRing, SampleRing]]:
        """Per supply (its hourly samples from ``since`` on, at most the newest ``maxlen``; the
        raw samples of the hour open at the last stop), each in time order, built as rings in
        the worker thread (no object per sample). One read of the window's rows only."""
        def q() -> dict[Key, tuple[SampleRing, SampleRing]]:
            names = {i: (d, s) for i, d, s in self._conn.execute(
                "SELECT id, device, supply FROM series")}
            out: dict[Key, tuple[SampleRing, SampleRing]] = {}
            current, rings = -1, (SampleRing(), SampleRing())
            for series, t, level, pages, raw in self._conn.execute(
                    "SELECT series, time, level, pages, raw FROM samples "
                    "WHERE time >= ? OR raw = 1 ORDER BY series, raw, time", (since,)):
                if series != current:
                    current = series
                    rings = out.setdefault(names[series], (SampleRing(maxlen=maxlen),
                                                           SampleRing()))
                rings[1 if raw else 0].append_values(t, level, pages)
            return out
        return await self._run(q)

    async def prune(self, before: float) -> int:
        """Forget hourly samples older than ``before``; how many."""
        def go() -> int:
            c = self._conn
            gone = int(c.execute("DELETE FROM samples WHERE raw = 0 AND time < ?",
                                 (before,)).rowcount)
            if gone:  # a device gone from the fleet: its series goes when its last row does
                c.execute("DELETE FROM series WHERE id NOT IN (SELECT DISTINCT series FROM "
                          "samples)")
                self._ids.clear()
            return gone
        return await self._run(go)

    async def count(self) -> int:
        def q() -> int:
            return int(self._conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0])
        return await self._run(q)
