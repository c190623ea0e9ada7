"""Enrolled agents, the (agent id, seq) of every report accepted, and the latest inventory per
agent: SQLite in WAL mode, ``<state_dir>/agents.sqlite3``.

Contracts:
- One connection, used only by one worker thread; each public coroutine runs one transaction
  there, so the event loop never waits on the disk and no two transactions interleave.
- Only a SHA-256 of each token is stored. Tokens are 256 random bits
  (``secrets.token_urlsafe(32)``), so a fast hash is enough: there is nothing to brute-force.
- :meth:`AgentStore.accept` stores each (agent id, seq) once (the primary key says so) and
  returns only the reports that were new, in one transaction (shared with the calls that came
  in meanwhile: group commit): a retried batch changes nothing.
- A revoked agent stays listed (with ``revoked_at``); its token no longer authenticates.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from collector.storage import sqlite
from collector.storage.sqlite import Worker
from probes.errors import FleetwatchError

P = ParamSpec("P")
T = TypeVar("T")

DB_NAME = "agents.sqlite3"
SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS agents (
  id TEXT PRIMARY KEY,
  hostname TEXT NOT NULL,
  token_hash TEXT NOT NULL UNIQUE,
  enrolled_at REAL NOT NULL,
  enrolled_from TEXT,
  revoked_at REAL,
  last_seen REAL,
  last_seq INTEGER NOT NULL DEFAULT 0,
  reports INTEGER NOT NULL DEFAULT 0,
  duplicates INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS reports (
  agent_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  time REAL NOT NULL,
  received REAL NOT NULL,
  PRIMARY KEY (agent_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS inventory (
  agent_id TEXT PRIMARY KEY,
  time REAL NOT NULL,
  data TEXT NOT NULL
);
"""


class AgentStoreError(FleetwatchError):
    """The agents database cannot be used."""


class AgentNotFound(FleetwatchError):
    status = 404


@dataclass(frozen=True, slots=True)
class AgentRow:
    id: str
    hostname: str
    enrolled_at: float
    enrolled_from: str | None
    revoked_at: float | None
    last_seen: float | None
    last_seq: int
    reports: int
    duplicates: int

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "hostname": self.hostname, "enrolled_at": self.enrolled_at,
                "enrolled_from": self.enrolled_from, "revoked_at": self.revoked_at,
                "revoked": self.revoked_at is not None, "last_seen": self.last_seen,
                "last_seq": self.last_seq, "reports": self.reports,
                "duplicates": self.duplicates}


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


_COLS = ("id, hostname, enrolled_at, enrolled_from, revoked_at, last_seen, last_seq, reports, "
         "duplicates")


class AgentStore:
    def __init__(self, conn: sqlite3.Connection, worker: Worker) -> None:
        self._conn = conn
        self._worker = worker
        self._pending: list[tuple[str, Sequence[tuple[int, float]], float,
                                  asyncio.Future[list[int]]]] = []
        self._committer: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, path: Path) -> AgentStore:
        def setup(conn: sqlite3.Connection) -> None:
            version = sqlite.schema_version(conn)
            if version > SCHEMA_VERSION:
                raise AgentStoreError(f"{path}: made by a newer Fleetwatch (schema "
                                      f"{version}); refusing to guess")
            sqlite.use_wal(conn)
            conn.executescript(_SCHEMA)
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

        def connect() -> sqlite3.Connection:
            return sqlite.open_db(path, setup, error=lambda err: AgentStoreError(f"{path}: {err}"))

        worker, conn = await Worker.start("agents-db", connect)
        return cls(conn, worker)

    async def _run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        return await self._worker.run(fn, *args, **kwargs)

    async def close(self) -> None:
        if self._committer is not None:
            await self._committer
        await self._worker.close(self._conn.close)

    # --- agents ------------------------------------------------------------------------------
    async def enroll(self, hostname: str, source: str | None, now: float | None = None
                     ) -> tuple[AgentRow, str]:
        """A new agent and its token (returned once, never stored)."""
        token = secrets.token_urlsafe(32)
        agent_id = f"{_slug(hostname)}-{secrets.token_hex(4)}"
        at = time.time() if now is None else now

        def txn() -> AgentRow:
            self._conn.execute(
                "INSERT INTO agents (id, hostname, token_hash, enrolled_at, enrolled_from) "
                "VALUES (?, ?, ?, ?, ?)", (agent_id, hostname, token_hash(token), at, source))
            return self._get(agent_id)

        return await self._run(txn), token

    def _get(self, agent_id: str) -> AgentRow:
        row = self._conn.execute(f"SELECT {_COLS} FROM agents WHERE id = ?",
                                 (agent_id,)).fetchone()
        if row is None:
            raise AgentNotFound(f"no agent {agent_id!r}")
        return AgentRow(*row)

    async def get(self, agent_id: str) -> AgentRow:
        return await self._run(self._get, agent_id)

    async def by_token(self, token: str) -> AgentRow | None:
        """The live (not revoked) agent holding ``token``."""
        def q() -> AgentRow | None:
            row = self._conn.execute(
                f"SELECT {_COLS} FROM agents WHERE token_hash = ? AND revoked_at IS NULL",
                (token_hash(token),)).fetchone()
            return AgentRow(*row) if row else None
        return await self._run(q)

    async def all_agents(self) -> list[AgentRow]:
        def q() -> list[AgentRow]:
            return [AgentRow(*r) for r in self._conn.execute(
                f"SELECT {_COLS} FROM agents ORDER BY hostname, id")]
        return await self._run(q)

    async def revoke(self, agent_id: str, now: float | None = None) -> AgentRow:
        at = time.time() if now is None else now

        def txn() -> AgentRow:
            self._conn.execute("UPDATE agents SET revoked_at = COALESCE(revoked_at, ?) "
                               "WHERE id = ?", (at, agent_id))
            return self._get(agent_id)
        return await self._run(txn)

    # --- reports -----------------------------------------------------------------------------
    async def accept(self, agent_id: str, reports: Sequence[tuple[int, float]],
                     now: float | None = None) -> list[int]:
        """Record (seq, time) pairs of one agent; the seqs that were new, in the given order.

        Group commit: the calls that arrive while a transaction runs are written together in
        the next one (one thread hop and one commit for many requests under load); each caller
        still gets its own answer, and a failure fails every call of that transaction."""
        at = time.time() if now is None else now
        future: asyncio.Future[list[int]] = asyncio.get_running_loop().create_future()
        self._pending.append((agent_id, reports, at, future))
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_pending())
        return await future

    async def _commit_pending(self) -> None:
        while self._pending:
            work, self._pending = self._pending, []
            try:
                results = await self._run(self._accept_many,
                                          [(a, r, t) for a, r, t, _ in work])
            except Exception as err:  # handed to every caller of this transaction
                for *_, fut in work:
                    if not fut.done():
                        fut.set_exception(err)
                continue
            for (*_, fut), new in zip(work, results, strict=True):
                if not fut.done():
                    fut.set_result(new)

    def _accept_many(self, work: list[tuple[str, Sequence[tuple[int, float]], float]]
                     ) -> list[list[int]]:
        out: list[list[int]] = []
        with sqlite.transaction(self._conn) as c:
            for agent_id, reports, at in work:
                new: list[int] = []
                for seq, t in reports:
                    cur = c.execute("INSERT OR IGNORE INTO reports (agent_id, seq, time, "
                                    "received) VALUES (?, ?, ?, ?)", (agent_id, seq, t, at))
                    if cur.rowcount:
                        new.append(seq)
                c.execute("UPDATE agents SET last_seen = ?, reports = reports + ?, "
                          "duplicates = duplicates + ?, last_seq = MAX(last_seq, ?) "
                          "WHERE id = ?", (at, len(new), len(reports) - len(new),
                                           max((s for s, _ in reports), default=0), agent_id))
                out.append(new)
        return out

    async def seqs(self, agent_id: str) -> list[int]:
        def q() -> list[int]:
            return [r[0] for r in self._conn.execute(
                "SELECT seq FROM reports WHERE agent_id = ? ORDER BY seq", (agent_id,))]
        return await self._run(q)

    async def prune(self, older_than: float) -> int:
        """Forget (agent, seq) keys of reports received before ``older_than`` (an agent's
        queue drops reports older than its max age, so they cannot come back)."""
        def txn() -> int:
            return self._conn.execute("DELETE FROM reports WHERE received < ?",
                                      (older_than,)).rowcount
        return await self._run(txn)

    # --- inventory ---------------------------------------------------------------------------
    async def put_inventory(self, agent_id: str, at: float, data: str) -> None:
        def txn() -> None:
            self._conn.execute(
                "INSERT INTO inventory (agent_id, time, data) VALUES (?, ?, ?) "
                "ON CONFLICT(agent_id) DO UPDATE SET time = excluded.time, data = excluded.data "
                "WHERE excluded.time >= inventory.time", (agent_id, at, data))
        await self._run(txn)

    async def inventories(self) -> dict[str, tuple[float, str]]:
        def q() -> dict[str, tuple[float, str]]:
            return {a: (t, d) for a, t, d in self._conn.execute(
                "SELECT agent_id, time, data FROM inventory")}
        return await self._run(q)


def _slug(name: str) -> str:
    out = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in name.lower())
    return out.strip("-.")[:40] or "agent"
