"""Stock on hand by part number, and the cartridge swaps the supplies engine saw: SQLite in WAL
mode, ``<state_dir>/supplies.sqlite3`` (beside the ticket queue).

Contracts: every method is one transaction; the async methods run it in one worker thread (the
event loop never waits on the disk); the CLI uses the sync ones on the same file while the
collector runs (WAL lets both in). Quantities never go below zero: taking from an empty shelf
records the swap and leaves 0, with the shortfall in the event. A bad part number or quantity
raises :class:`StockError` (the API answers 400, the CLI prints one line).
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, ParamSpec, TypeVar

from collector.storage import sqlite
from collector.storage.sqlite import Worker
from probes.errors import FleetwatchError

DB_NAME: Final = "supplies.sqlite3"
SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS stock (
    part       TEXT PRIMARY KEY,
    quantity   INTEGER NOT NULL CHECK (quantity >= 0),
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS stock_events (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    part   TEXT NOT NULL,
    at     REAL NOT NULL,
    delta  INTEGER NOT NULL,
    after  INTEGER NOT NULL,
    by     TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS replacements (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    device      TEXT NOT NULL,
    supply      TEXT NOT NULL,
    part        TEXT,
    at          REAL NOT NULL,
    pulled_at   REAL NOT NULL,
    installed   REAL NOT NULL,
    pages       INTEGER,
    UNIQUE (device, supply, at)
)
"""

P = ParamSpec("P")
T = TypeVar("T")


class StockError(FleetwatchError):
    """A stock request that cannot be done (bad part number or quantity, unusable file)."""


@dataclass(frozen=True, slots=True)
class StockItem:
    part: str
    quantity: int
    updated_at: float

    def to_json(self) -> dict[str, Any]:
        return {"part": self.part, "quantity": self.quantity, "updated_at": self.updated_at}


@dataclass(frozen=True, slots=True)
class SwapRecord:
    device: str
    supply: str
    part: str | None
    at: float
    pulled_at: float
    installed: float
    pages: int | None

    def to_json(self) -> dict[str, Any]:
        return {"device": self.device, "supply": self.supply, "part": self.part, "at": self.at,
                "pulled_at_percent": self.pulled_at, "installed_percent": self.installed,
                "pages_printed": self.pages}


def check_part(part: str) -> str:
    part = part.strip()
    if not part or len(part) > 64 or any(c.isspace() for c in part):
        raise StockError(f"bad part number {part!r}: 1-64 characters, no spaces")
    return part


class StockStore:
    """Open with :meth:`open` (async users) or :meth:`open_sync` (the CLI)."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self.path = path
        self._worker: Worker | None = None

    @classmethod
    def open_sync(cls, path: Path) -> StockStore:
        def setup(conn: sqlite3.Connection) -> None:
            sqlite.use_wal(conn)
            conn.executescript(SCHEMA)

        try:
            conn = sqlite.open_db(path, setup, timeout=10, mkdir=True)
        except sqlite3.DatabaseError as err:
            raise StockError(f"{path}: cannot use stock database: {err}") from err
        return cls(conn, path)

    @classmethod
    async def open(cls, path: Path) -> StockStore:
        worker, store = await Worker.start("stock-db", functools.partial(cls.open_sync, path))
        store._worker = worker
        return store

    async def _run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        if self._worker is None:  # opened with open_sync: a thread of the default pool
            return await asyncio.to_thread(fn, *args, **kwargs)
        return await self._worker.run(fn, *args, **kwargs)

    def close_sync(self) -> None:
        self._conn.close()

    async def close(self) -> None:
        if self._worker is None:
            await self._run(self._conn.close)
        else:
            await self._worker.close(self._conn.close)

    # --- sync API (one transaction each) -------------------------------------------------------
    def items_sync(self) -> list[StockItem]:
        rows = self._conn.execute("SELECT part, quantity, updated_at FROM stock ORDER BY part")
        return [StockItem(*row) for row in rows]

    def get_sync(self, part: str) -> int:
        row = self._conn.execute("SELECT quantity FROM stock WHERE part = ?", (part,)).fetchone()
        return int(row[0]) if row else 0

    def change_sync(self, part: str, *, delta: int | None = None, set_to: int | None = None,
                    by: str = "fleetwatch", reason: str = "", at: float | None = None) -> int:
        """Add ``delta`` (may be negative; floors at 0) or set the quantity; the new quantity."""
        part = check_part(part)
        if set_to is not None and set_to < 0:
            raise StockError(f"{part}: a quantity cannot be negative ({set_to})")
        at = time.time() if at is None else at
        with sqlite.transaction(self._conn):
            before = self.get_sync(part)
            after = set_to if set_to is not None else max(0, before + (delta or 0))
            self._conn.execute(
                "INSERT INTO stock (part, quantity, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (part) DO UPDATE SET quantity = excluded.quantity, "
                "updated_at = excluded.updated_at", (part, after, at))
            note = reason
            if delta is not None and before + delta < 0:
                note = f"{reason}; {-(before + delta)} short (none on the shelf)".lstrip("; ")
            self._conn.execute(
                "INSERT INTO stock_events (part, at, delta, after, by, reason) "
                "VALUES (?, ?, ?, ?, ?, ?)", (part, at, after - before, after, by, note))
        return after

    def remove_part_sync(self, part: str, *, by: str = "fleetwatch") -> bool:
        part = check_part(part)
        cur = self._conn.execute("DELETE FROM stock WHERE part = ?", (part,))
        return cur.rowcount > 0

    def record_swap_sync(self, swap: SwapRecord) -> bool:
        """Record a swap once (False when it was recorded before, e.g. after a restart)."""
        cur = self._conn.execute(
            "INSERT OR IGNORE INTO replacements (device, supply, part, at, pulled_at, installed, "
            "pages) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (swap.device, swap.supply, swap.part, swap.at, swap.pulled_at, swap.installed,
             swap.pages))
        return cur.rowcount > 0

    def swaps_sync(self, device: str | None = None, limit: int = 200) -> list[SwapRecord]:
        q = "SELECT device, supply, part, at, pulled_at, installed, pages FROM replacements"
        args: tuple[Any, ...] = ()
        if device is not None:
            q += " WHERE device = ?"
            args = (device,)
        q += " ORDER BY at DESC LIMIT ?"
        return [SwapRecord(*row) for row in self._conn.execute(q, (*args, limit))]

    # --- async API -----------------------------------------------------------------------------
    async def items(self) -> list[StockItem]:
        return await self._run(self.items_sync)

    async def get(self, part: str) -> int:
        return await self._run(self.get_sync, part)

    async def change(self, part: str, *, delta: int | None = None, set_to: int | None = None,
                     by: str = "fleetwatch", reason: str = "", at: float | None = None) -> int:
        return await self._run(self.change_sync, part, delta=delta, set_to=set_to, by=by,
                               reason=reason, at=at)

    async def record_swap(self, swap: SwapRecord) -> bool:
        return await self._run(self.record_swap_sync, swap)

    async def swaps(self, device: str | None = None, limit: int = 200) -> list[SwapRecord]:
        return await self._run(self.swaps_sync, device, limit)
