"""The uptime record: spans of up and down time per device, kept in ``<state_dir>/uptime.sqlite3``.

A reading sink (after the state cache, like the fault engine). Each reading of a device's
primary probe extends the device's current span, or closes it and opens another when the state
changed or the gap since the last poll was longer than ``max_gap``. Spans are pre-aggregated
data: a device that stays up for a year is one row. That is why a report over 90 days or a year
reads a few rows per device instead of every poll from InfluxDB.

Writes are batched: a background task writes new and changed spans every ``flush_every``
seconds (5 s), in one transaction (SQLite WAL, synchronous=NORMAL). A hard crash loses at most
that much of the record. The lost time then reads as "no data", never as up or down. At a
restart the spans left open are closed at their last poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from collector.config import DeviceConfig
from collector.storage import sqlite
from collector.storage.sqlite import Worker
from collector.uptime.accounting import Span
from probes.model import Reading

log = logging.getLogger(__name__)

DB_NAME = "uptime.sqlite3"
GAP_FACTOR = 2.5  # polls further apart than this many intervals leave a "no data" gap
MIN_GAP = 30.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spans (
    id INTEGER PRIMARY KEY,
    device TEXT NOT NULL,
    start REAL NOT NULL,
    "end" REAL NOT NULL,
    up INTEGER NOT NULL CHECK (up IN (0, 1)),
    open INTEGER NOT NULL DEFAULT 0 CHECK (open IN (0, 1))
);
CREATE INDEX IF NOT EXISTS spans_device_end ON spans (device, "end");
CREATE INDEX IF NOT EXISTS spans_end ON spans ("end");
"""


def max_gap(device: DeviceConfig) -> float:
    """How far apart two polls of ``device``'s primary probe may be and still join: 2.5 of its
    intervals (at least 30 s). The scheduler's back-off never waits longer than an interval."""
    interval = device.probes[0].interval if device.probes else 60.0
    return max(MIN_GAP, GAP_FACTOR * interval)


@dataclass(slots=True)
class _Current:
    device: str
    start: float
    end: float
    up: bool
    open: bool = True
    id: int | None = None
    dirty: bool = True


@dataclass(slots=True)
class UptimeStats:
    readings: int = 0
    spans_written: int = 0
    flushes: int = 0
    errors: int = 0
    last_error: str | None = None


class UptimeStore:
    """The span record and its reading sink."""

    def __init__(self, conn: sqlite3.Connection, worker: Worker, *,
                 flush_every: float = 5.0) -> None:
        self._conn = conn
        self._worker = worker
        self._flush_every = flush_every
        self._current: dict[str, _Current] = {}
        self._closed: list[_Current] = []  # closed in memory, not yet written
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self.stats = UptimeStats()

    @classmethod
    async def open(cls, path: Path, *, flush_every: float = 5.0) -> UptimeStore:
        worker, conn = await Worker.start("uptime-db", functools.partial(cls._connect, path))
        return cls(conn, worker, flush_every=flush_every)

    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        def setup(conn: sqlite3.Connection) -> None:
            sqlite.use_wal(conn)
            conn.executescript(_SCHEMA)
            conn.execute("UPDATE spans SET open = 0 WHERE open = 1")  # closed at their last poll

        return sqlite.open_db(path, setup)

    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await self._worker.run(fn, *args)

    # --- the sink ------------------------------------------------------------------------------
    async def handle(self, reading: Reading, device: DeviceConfig) -> None:
        if device.probes and reading.probe != device.probes[0].kind:
            return  # availability follows the primary probe, as the unreachable ticket does
        if not reading.reachable and reading.stale:
            return  # "no answer yet" of a printer that may be asleep: not known either way
        self.stats.readings += 1
        up, t = reading.reachable, reading.time
        cur = self._current.get(device.name)
        if cur is not None:
            if t < cur.end:
                return  # out of order (a clock step back): the record keeps moving forward
            if t - cur.end > max_gap(device):
                self._close(cur)  # a gap: no data between its last poll and this one
            elif cur.up == up:
                cur.end, cur.dirty = t, True
                return
            else:
                cur.end = t  # the old state held until this poll
                self._close(cur)
        self._current[device.name] = _Current(device.name, t, t, up)

    def _close(self, cur: _Current) -> None:
        cur.open, cur.dirty = False, True
        self._closed.append(cur)
        del self._current[cur.device]

    # --- writing -------------------------------------------------------------------------------
    async def flush(self) -> None:
        async with self._lock:
            batch = [s for s in (*self._closed, *self._current.values()) if s.dirty]
            if not batch:
                return
            rows = [(s.id, s.device, s.start, s.end, int(s.up), int(s.open)) for s in batch]
            for s in batch:
                s.dirty = False
            try:
                ids = await self._run(self._write, rows)
            except sqlite3.Error as err:
                for s in batch:
                    s.dirty = True
                self.stats.errors += 1
                self.stats.last_error = str(err)
                log.warning("uptime: cannot write the span record: %s", err)
                return
            for s, rowid in zip(batch, ids, strict=True):
                s.id = rowid
            written = {id(s) for s in batch}
            self._closed = [s for s in self._closed if id(s) not in written or s.dirty]
            self.stats.spans_written += len(rows)
            self.stats.flushes += 1

    def _write(self, rows: list[tuple[int | None, str, float, float, int, int]]) -> list[int]:
        ids: list[int] = []
        with sqlite.transaction(self._conn, "BEGIN"), contextlib.closing(self._conn.cursor()) as cur:
            for rowid, device, start, end, up, is_open in rows:
                if rowid is None:
                    cur.execute('INSERT INTO spans (device, start, "end", up, open) '
                                "VALUES (?, ?, ?, ?, ?)", (device, start, end, up, is_open))
                    ids.append(int(cur.lastrowid or 0))
                else:
                    cur.execute('UPDATE spans SET "end" = ?, open = ? WHERE id = ?',
                                (end, is_open, rowid))
                    ids.append(rowid)
        return ids

    async def _flusher(self) -> None:
        while True:
            await asyncio.sleep(self._flush_every)
            await self.flush()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._flusher(), name="uptime-flush")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()
        await self._worker.close(self._conn.close)

    # --- reading -------------------------------------------------------------------------------
    async def spans(self, start: float, end: float) -> dict[str, list[Span]]:
        """Every span that touches [start, end], by device, with what is not yet written."""
        rows = await self._run(self._read, start, end)
        spans: dict[int, Span] = {
            rowid: Span(device, s, e, bool(up), bool(is_open))
            for rowid, device, s, e, up, is_open in rows}
        extra: list[Span] = []
        for cur in (*self._closed, *self._current.values()):
            span = Span(cur.device, cur.start, cur.end, cur.up, cur.open)
            if cur.end < start or cur.start > end:
                spans.pop(cur.id or -1, None)
            elif cur.id is not None:
                spans[cur.id] = span
            else:
                extra.append(span)
        out: dict[str, list[Span]] = {}
        for span in (*spans.values(), *extra):
            out.setdefault(span.device, []).append(span)
        return out

    def _read(self, start: float, end: float) -> list[tuple[Any, ...]]:
        return self._conn.execute(
            'SELECT id, device, start, "end", up, open FROM spans WHERE "end" >= ? AND start <= ?',
            (start, end)).fetchall()
