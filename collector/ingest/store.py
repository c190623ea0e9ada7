"""Enrolled agents, the (agent id, seq) of every report accepted, and the latest inventory per
agent: SQLite in WAL mode, ``<state_dir>/agents.sqlite3``.

Contracts:
- One connection, used only by one worker thread; each public coroutine runs one transaction
  there, so the event loop never waits on the disk and no two transactions interleave.
- Only a SHA-256 of each token is stored. Tokens are 256 random bits
  (``secrets.token_urlsafe(32)``), so a fast hash is enough: there is nothing to brute-force.
- :meth:`AgentStore.accept` stores each (agent id, seq) once (the primary key says so) and
  returns only the reports that were new, in one transaction (shared with the calls that came
  in meanwhile: group commit): a retried batch changes nothing. It is the last step of a batch's
  storage: ingest writes the lines to the write-ahead spool first, so a committed key always
  has its lines on disk (collector/ingest/service.py).
- :meth:`AgentStore.unseen` is the read-only question before that: which of these seqs are
  not stored yet. Seqs above the agent's ``last_seq`` (kept in memory from committed
  transactions) are answered without touching the disk; only the others are looked up. It may
  call a key new that a concurrent ``accept`` is about to store: ``accept`` decides.
- A revoked agent stays listed (with ``revoked_at``); its token no longer authenticates.
- A revoke sticks: it also records the agent's host name (lower case) and, when the agent sent
  one, its machine id in ``revoked_hosts``; enrollment under either is refused
  (:meth:`AgentStore.revoked_host`) until an admin allows it again (:meth:`AgentStore.allow`).
  Schema 2 added that table and ``agents.machine_id``; opening a schema-1 database adds them and
  records the hosts of agents revoked before, unless the host has a live agent.
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
# (agent, seq) keys per INSERT statement in a group commit: 4 variables each, well under
# SQLite's limit of 32,766 variables per statement
ACCEPT_CHUNK = 500
SCHEMA_VERSION = 2
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
  duplicates INTEGER NOT NULL DEFAULT 0,
  machine_id TEXT
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
CREATE TABLE IF NOT EXISTS revoked_hosts (
  key TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  hostname TEXT NOT NULL,
  agent_id TEXT,
  revoked_at REAL NOT NULL
);
"""
# Schema 1 -> 2: the machine id an agent enrolled with, and the revoked hosts (above).
_MIGRATE_2 = """
ALTER TABLE agents ADD COLUMN machine_id TEXT;
INSERT OR IGNORE INTO revoked_hosts (key, kind, hostname, agent_id, revoked_at)
  SELECT lower(hostname), 'hostname', hostname, id, revoked_at FROM agents
  WHERE revoked_at IS NOT NULL
    AND lower(hostname) NOT IN (SELECT lower(hostname) FROM agents WHERE revoked_at IS NULL);
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


@dataclass(frozen=True, slots=True)
class RevokedHost:
    """A host name or machine id whose enrollment is refused since its agent was revoked."""

    key: str
    kind: str  # "hostname" or "machine_id"
    hostname: str
    agent_id: str | None
    revoked_at: float

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "kind": self.kind, "hostname": self.hostname,
                "agent_id": self.agent_id, "revoked_at": self.revoked_at}


def host_key(hostname: str) -> str:
    """How a host name is compared for revocation: case and a trailing dot do not count."""
    return hostname.strip().rstrip(".").lower()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


_COLS = ("id, hostname, enrolled_at, enrolled_from, revoked_at, last_seen, last_seq, reports, "
         "duplicates")


class AgentStore:
    def __init__(self, conn: sqlite3.Connection, worker: Worker) -> None:
        self._conn = conn
        self._worker = worker
        self._pending: list[tuple[str, Sequence[tuple[int, float]], float, int,
                                  asyncio.Future[list[int]]]] = []
        self._committer: asyncio.Task[None] | None = None
        # agent id -> a last_seq no higher than the committed one (every stored seq of the
        # agent is <= agents.last_seq); only for agents whose row was read (it exists)
        self._last_seq: dict[str, int] = {}

    @classmethod
    async def open(cls, path: Path) -> AgentStore:
        def setup(conn: sqlite3.Connection) -> None:
            version = sqlite.schema_version(conn)
            if version > SCHEMA_VERSION:
                raise AgentStoreError(f"{path}: made by a newer Fleetwatch (schema "
                                      f"{version}); refusing to guess")
            sqlite.use_wal(conn)
            conn.executescript(_SCHEMA)
            if 0 < version < 2:
                conn.executescript(f"BEGIN; {_MIGRATE_2} COMMIT;")
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
    async def enroll(self, hostname: str, source: str | None, now: float | None = None, *,
                     machine_id: str | None = None) -> tuple[AgentRow, str]:
        """A new agent and its token (returned once, never stored). Does not check
        :meth:`revoked_host`: the caller does (so that it can answer why)."""
        token = secrets.token_urlsafe(32)
        agent_id = f"{_slug(hostname)}-{secrets.token_hex(4)}"
        at = time.time() if now is None else now

        def txn() -> AgentRow:
            self._conn.execute(
                "INSERT INTO agents (id, hostname, token_hash, enrolled_at, enrolled_from, "
                "machine_id) VALUES (?, ?, ?, ?, ?, ?)",
                (agent_id, hostname, token_hash(token), at, source, machine_id))
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
        """Revoke the agent's token and refuse enrollment under its host name and machine
        id from now on (one transaction). Raises AgentNotFound."""
        at = time.time() if now is None else now

        def txn() -> AgentRow:
            c = self._conn
            c.execute("BEGIN IMMEDIATE")
            try:
                c.execute("UPDATE agents SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?",
                          (at, agent_id))
                row = self._get(agent_id)
                found = c.execute("SELECT machine_id FROM agents WHERE id = ?",
                                  (agent_id,)).fetchone()
                keys = [(host_key(row.hostname), "hostname")]
                if found and found[0]:
                    keys.append((found[0], "machine_id"))
                for key, kind in keys:
                    c.execute("INSERT OR REPLACE INTO revoked_hosts (key, kind, hostname, "
                              "agent_id, revoked_at) VALUES (?, ?, ?, ?, ?)",
                              (key, kind, row.hostname, agent_id, row.revoked_at or at))
                c.execute("COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                raise
            return row
        return await self._run(txn)

    async def revoked_host(self, hostname: str, machine_id: str | None = None
                           ) -> RevokedHost | None:
        """Why enrollment as ``hostname`` (or with ``machine_id``) is refused, or None."""
        def q() -> RevokedHost | None:
            row = self._conn.execute(
                "SELECT key, kind, hostname, agent_id, revoked_at FROM revoked_hosts "
                "WHERE key = ? OR (kind = 'machine_id' AND key = ?) ORDER BY kind LIMIT 1",
                (host_key(hostname), machine_id or "")).fetchone()
            return RevokedHost(*row) if row else None
        return await self._run(q)

    async def revoked_hosts(self) -> list[RevokedHost]:
        def q() -> list[RevokedHost]:
            return [RevokedHost(*r) for r in self._conn.execute(
                "SELECT key, kind, hostname, agent_id, revoked_at FROM revoked_hosts "
                "ORDER BY hostname, kind")]
        return await self._run(q)

    async def allow(self, host: str) -> list[RevokedHost]:
        """An admin lets a revoked host enroll again: forget every revoked_hosts row whose
        host name, machine id or revoked agent id is ``host``; the rows forgotten (none: nothing
        matched). The revoked agent itself stays revoked; the host enrolls as a new agent."""
        def txn() -> list[RevokedHost]:
            c = self._conn
            c.execute("BEGIN IMMEDIATE")
            try:
                where = "lower(hostname) = ? OR key = ? OR agent_id = ?"
                args = (host_key(host), host.strip(), host.strip())
                rows = [RevokedHost(*r) for r in c.execute(
                    "SELECT key, kind, hostname, agent_id, revoked_at FROM revoked_hosts "
                    f"WHERE {where}", args)]
                # the machine id of a host named here goes too (and the reverse)
                hosts = {host_key(r.hostname) for r in rows}
                for h in hosts:
                    rows += [RevokedHost(*r) for r in c.execute(
                        "SELECT key, kind, hostname, agent_id, revoked_at FROM revoked_hosts "
                        "WHERE lower(hostname) = ? AND NOT (" + where + ")", (h, *args))]
                c.executemany("DELETE FROM revoked_hosts WHERE key = ?",
                              [(r.key,) for r in rows])
                c.execute("COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                raise
            return rows
        return await self._run(txn)

    async def revoked_by_token(self, token: str) -> AgentRow | None:
        """The revoked agent that held ``token`` (to tell a revoked agent from an unknown one)."""
        def q() -> AgentRow | None:
            row = self._conn.execute(
                f"SELECT {_COLS} FROM agents WHERE token_hash = ? AND revoked_at IS NOT NULL",
                (token_hash(token),)).fetchone()
            return AgentRow(*row) if row else None
        return await self._run(q)

    # --- reports -----------------------------------------------------------------------------
    async def unseen(self, agent_id: str, seqs: Sequence[int]) -> list[int]:
        """The seqs (in the given order) that are not stored for ``agent_id`` yet; read-only.
        No disk access when every seq is above the agent's known ``last_seq`` (an agent's
        usual next batch); otherwise one indexed lookup. Raises sqlite3.Error."""
        last = self._last_seq.get(agent_id)
        if last is not None and all(s > last for s in seqs):
            return list(seqs)

        def q() -> tuple[set[int], int | None]:
            c = self._conn
            row = c.execute("SELECT last_seq FROM agents WHERE id = ?", (agent_id,)).fetchone()
            ask = sorted({s for s in seqs if row is None or s <= row[0]})
            stored: set[int] = set()
            for i in range(0, len(ask), ACCEPT_CHUNK):
                chunk = ask[i:i + ACCEPT_CHUNK]
                stored.update(r[0] for r in c.execute(
                    f"SELECT seq FROM reports WHERE agent_id = ? AND seq IN "
                    f"({','.join('?' * len(chunk))})", (agent_id, *chunk)))
            return stored, (row[0] if row is not None else None)

        stored, committed = await self._run(q)
        if committed is not None:
            self._last_seq[agent_id] = max(committed, self._last_seq.get(agent_id, committed))
        return [s for s in seqs if s not in stored]

    async def accept(self, agent_id: str, reports: Sequence[tuple[int, float]],
                     now: float | None = None, *, seen: int = 0) -> list[int]:
        """Record (seq, time) pairs of one agent; the seqs that were new, in the given order.
        ``seen``: reports of the same request the caller already found stored
        (:meth:`unseen`), counted as duplicates with the others (``reports`` may then be
        empty: the agent's counters and ``last_seen`` are still updated).

        Group commit: the calls that arrive while a transaction runs are written together in
        the next one (one thread hop and one commit for many requests under load); each caller
        still gets its own answer, and a failure fails every call of that transaction."""
        at = time.time() if now is None else now
        future: asyncio.Future[list[int]] = asyncio.get_running_loop().create_future()
        self._pending.append((agent_id, reports, at, seen, future))
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_pending())
        return await future

    async def _commit_pending(self) -> None:
        while self._pending:
            work, self._pending = self._pending, []
            try:
                results = await self._run(self._accept_many,
                                          [(a, r, t, n) for a, r, t, n, _ in work])
            except Exception as err:  # handed to every caller of this transaction
                for *_, fut in work:
                    if not fut.done():
                        fut.set_exception(err)
                continue
            for (agent_id, reports, *_, fut), new in zip(work, results, strict=True):
                known = self._last_seq.get(agent_id)
                if known is not None and reports:  # committed: the row exists (it was read)
                    self._last_seq[agent_id] = max(known, max(s for s, _ in reports))
                if not fut.done():
                    fut.set_result(new)

    def _accept_many(self, work: list[tuple[str, Sequence[tuple[int, float]], float, int]]
                     ) -> list[list[int]]:
        """One transaction for a whole group: one multi-row ``INSERT OR IGNORE ... RETURNING``
        per :data:`ACCEPT_CHUNK` keys (the rows it returns are the new ones) and one
        ``executemany`` of the per-agent counters, instead of two statements per request.
        A key twice in one group (an agent's retry while its first try is in flight) is new
        for the first call only, as one INSERT per key made it."""
        rows = [(agent_id, seq, t, at) for agent_id, reports, at, _ in work
                for seq, t in reports]
        inserted: set[tuple[str, int]] = set()
        with sqlite.transaction(self._conn) as c:
            for i in range(0, len(rows), ACCEPT_CHUNK):
                chunk = rows[i:i + ACCEPT_CHUNK]
                values = ",".join(("(?,?,?,?)",) * len(chunk))
                inserted.update(c.execute(
                    f"INSERT OR IGNORE INTO reports (agent_id, seq, time, received) "
                    f"VALUES {values} RETURNING agent_id, seq",
                    [v for row in chunk for v in row]).fetchall())
            out: list[list[int]] = []
            counters = []
            for agent_id, reports, at, seen in work:
                new: list[int] = []
                for seq, _ in reports:
                    key = (agent_id, seq)
                    if key in inserted:
                        inserted.discard(key)  # claimed: a second copy is a duplicate
                        new.append(seq)
                counters.append((at, len(new), len(reports) - len(new) + seen,
                                 max((s for s, _ in reports), default=0), agent_id))
                out.append(new)
            c.executemany("UPDATE agents SET last_seen = ?, reports = reports + ?, "
                          "duplicates = duplicates + ?, last_seq = MAX(last_seq, ?) "
                          "WHERE id = ?", counters)
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
