"""The ticket queue: SQLite in WAL mode, one file under the collector's state directory.

Contracts:

- One connection, used only by one worker thread; every public method is a coroutine that runs
  one transaction in that thread, so the event loop never waits on the disk and no two
  transactions interleave.
- "Exactly one unresolved ticket per (device, fault_key)" is enforced by the database itself: a
  partial UNIQUE index over (device, fault_key) for tickets whose state is not ``resolved`` or
  ``closed``. A write that would break it raises :class:`DuplicateOpenTicket`.
- Every change to a ticket writes an event (who, when, what) in the same transaction.
- Every change that people are told about (opened, reopened, resolved) writes its notice to the
  ``outbox`` table, one row per channel, in the same transaction (the transactional outbox):
  the ticket change and its notice commit together or not at all. :mod:`collector.notify`
  delivers them.
- The schema is versioned with ``PRAGMA user_version``; :data:`MIGRATIONS` upgrades older files
  in order and a file from a newer Fleetwatch is refused rather than guessed at.

Reopening: ``resolved`` is not final. The fault engine reopens a resolved fault ticket when its
fault returns within the flap window, and a technician may move ``resolved → open``; both are
refused (DuplicateOpenTicket) when another unresolved ticket already holds the same key.
``closed`` is final: nothing reopens a closed ticket; a fault that returns opens a new one.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import sqlite3
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, ParamSpec, TypeVar

from collector.storage import sqlite
from collector.storage.sqlite import Worker
from probes.errors import FleetwatchError

KINDS: Final = ("fault", "reorder", "manual")
STATES: Final = ("open", "acknowledged", "in_progress", "resolved", "closed")
UNRESOLVED: Final = frozenset({"open", "acknowledged", "in_progress"})
SEVERITIES: Final = ("info", "warning", "critical")
# Who may move where. ``closed`` is final; ``resolved`` may be reopened.
TRANSITIONS: Final[Mapping[str, frozenset[str]]] = {
    "open": frozenset({"acknowledged", "in_progress", "resolved", "closed"}),
    "acknowledged": frozenset({"open", "in_progress", "resolved", "closed"}),
    "in_progress": frozenset({"open", "acknowledged", "resolved", "closed"}),
    "resolved": frozenset({"open", "closed"}),
    "closed": frozenset(),
}
# Event kinds on a ticket's timeline.
EVENT_KINDS: Final = ("opened", "recurred", "cleared", "state", "comment", "assigned", "severity",
                      "note")
SYSTEM: Final = "fleetwatch"  # "by" of everything the engine does

SCHEMA_VERSION: Final = 2
MIGRATIONS: Final[tuple[str, ...]] = (
    # 0 → 1
    """
    CREATE TABLE tickets (
        id               INTEGER PRIMARY KEY AUTOINCREMENT,
        kind             TEXT NOT NULL CHECK (kind IN ('fault', 'reorder', 'manual')),
        state            TEXT NOT NULL
                         CHECK (state IN ('open', 'acknowledged', 'in_progress', 'resolved',
                                          'closed')),
        severity         TEXT NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
        device           TEXT,
        site             TEXT,
        fault_key        TEXT,
        title            TEXT NOT NULL,
        description      TEXT NOT NULL DEFAULT '',
        assignee         TEXT,
        part_number      TEXT,
        fault_active     INTEGER NOT NULL DEFAULT 0,
        recurrences      INTEGER NOT NULL DEFAULT 0,
        created_at       REAL NOT NULL,
        updated_at       REAL NOT NULL,
        last_seen_at     REAL,
        cleared_at       REAL,
        last_recurred_at REAL,
        resolved_at      REAL,
        closed_at        REAL,
        details          TEXT NOT NULL DEFAULT '{}'
    );
    CREATE UNIQUE INDEX tickets_one_unresolved_per_key ON tickets (device, fault_key)
        WHERE fault_key IS NOT NULL AND state NOT IN ('resolved', 'closed');
    CREATE INDEX tickets_state ON tickets (state, id);
    CREATE INDEX tickets_device ON tickets (device, fault_key, id);
    CREATE TABLE events (
        id        INTEGER PRIMARY KEY AUTOINCREMENT,
        ticket_id INTEGER NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
        at        REAL NOT NULL,
        kind      TEXT NOT NULL,
        by        TEXT NOT NULL,
        text      TEXT NOT NULL DEFAULT '',
        data      TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX events_ticket ON events (ticket_id, id);
    """,
    # 1 → 2: the notification outbox (docs/tickets.md, "Notifications: the outbox"). One row per
    # notice and channel, written in the transaction of the ticket change that causes it.
    # outcome: NULL while pending, then 'sent', 'refused' (permanent refusal) or 'expired'.
    """
    CREATE TABLE outbox (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        notice     TEXT NOT NULL,
        channel    TEXT NOT NULL,
        event      TEXT NOT NULL,
        ticket_id  INTEGER NOT NULL,
        at         REAL NOT NULL,
        payload    TEXT NOT NULL,
        attempts   INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        outcome    TEXT,
        done_at    REAL
    );
    CREATE INDEX outbox_pending ON outbox (channel, id) WHERE outcome IS NULL;
    """,
)
# Delivered (or given up) outbox rows are deleted this long after, at open.
OUTBOX_KEEP: Final = 30 * 86400.0
NOTICE_EVENTS: Final = ("opened", "reopened", "resolved")

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")


class TicketError(FleetwatchError):
    """A ticket operation was refused; the API turns it into a 4xx."""

    status = 400


class TicketNotFound(TicketError):
    status = 404


class IllegalTransition(TicketError):
    status = 409


class DuplicateOpenTicket(TicketError):
    status = 409


class InvalidTicket(TicketError):
    status = 400


class StoreError(FleetwatchError):
    """The database file cannot be used (newer schema, not a database, …)."""


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """One pending notice for one channel. ``notice`` is shared by the channels of one notice
    (receivers may deduplicate on it); ``payload`` is the ticket's JSON at the change."""

    id: int
    notice: str
    channel: str
    event: str
    ticket_id: int
    at: float
    payload: Mapping[str, Any]
    attempts: int


@dataclass(slots=True)
class StoreStats:
    """``errors``: transactions that failed on the database (disk full, I/O error, locked);
    ``last_error``: the latest, None once a transaction succeeded again."""

    errors: int = 0
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class Event:
    id: int
    ticket_id: int
    at: float
    kind: str
    by: str
    text: str
    data: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "ticket_id": self.ticket_id, "at": self.at, "kind": self.kind,
                "by": self.by, "text": self.text, "data": dict(self.data)}


@dataclass(frozen=True, slots=True)
class Ticket:
    id: int
    kind: str
    state: str
    severity: str
    device: str | None
    site: str | None
    fault_key: str | None
    title: str
    description: str
    assignee: str | None
    part_number: str | None
    fault_active: bool
    recurrences: int
    created_at: float
    updated_at: float
    last_seen_at: float | None
    cleared_at: float | None
    last_recurred_at: float | None
    resolved_at: float | None
    closed_at: float | None
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def unresolved(self) -> bool:
        return self.state in UNRESOLVED

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "kind": self.kind, "state": self.state, "severity": self.severity,
            "device": self.device, "site": self.site, "fault_key": self.fault_key,
            "title": self.title, "description": self.description, "assignee": self.assignee,
            "part_number": self.part_number, "fault_active": self.fault_active,
            "recurrences": self.recurrences, "created_at": self.created_at,
            "updated_at": self.updated_at, "last_seen_at": self.last_seen_at,
            "cleared_at": self.cleared_at, "last_recurred_at": self.last_recurred_at,
            "resolved_at": self.resolved_at, "closed_at": self.closed_at,
            "details": dict(self.details),
        }


@dataclass(frozen=True, slots=True)
class NewTicket:
    """What it takes to open a ticket. ``fault_key`` is None for manual tickets."""

    kind: str
    title: str
    severity: str = "warning"
    device: str | None = None
    site: str | None = None
    fault_key: str | None = None
    description: str = ""
    assignee: str | None = None
    part_number: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    fault_active: bool = False


@dataclass(frozen=True, slots=True)
class TicketQuery:
    """Filters of a listing; each tuple is "any of", empty = no filter."""

    states: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()
    device: str | None = None
    site: str | None = None
    assignee: str | None = None
    fault_key: str | None = None
    text: str | None = None
    limit: int = 50
    offset: int = 0
    newest_first: bool = True


def _ticket(row: sqlite3.Row) -> Ticket:
    return Ticket(
        id=row["id"], kind=row["kind"], state=row["state"], severity=row["severity"],
        device=row["device"], site=row["site"], fault_key=row["fault_key"], title=row["title"],
        description=row["description"], assignee=row["assignee"],
        part_number=row["part_number"], fault_active=bool(row["fault_active"]),
        recurrences=row["recurrences"], created_at=row["created_at"],
        updated_at=row["updated_at"], last_seen_at=row["last_seen_at"],
        cleared_at=row["cleared_at"], last_recurred_at=row["last_recurred_at"],
        resolved_at=row["resolved_at"], closed_at=row["closed_at"],
        details=json.loads(row["details"]),
    )


def _event(row: sqlite3.Row) -> Event:
    return Event(id=row["id"], ticket_id=row["ticket_id"], at=row["at"], kind=row["kind"],
                 by=row["by"], text=row["text"], data=json.loads(row["data"]))


def _check_choice(value: str, allowed: Sequence[str], what: str) -> None:
    if value not in allowed:
        raise InvalidTicket(f"unknown {what} {value!r} (one of: {', '.join(allowed)})")


class TicketStore:
    """The queue. Open with ``await TicketStore.open(path)``; ``await close()`` when done."""

    def __init__(self, conn: sqlite3.Connection, worker: Worker, path: Path, *,
                 outbox_channels: Sequence[str] = ()) -> None:
        self._conn = conn
        self._committed = False
        self._worker = worker
        self.path = path
        self._closed = False
        # Every notice-worthy change (NOTICE_EVENTS) writes one outbox row per channel here.
        self.outbox_channels = tuple(outbox_channels)
        self._notices: list[tuple[int, str, float]] = []  # of the transaction in progress
        self.stats = StoreStats()

    # --- lifecycle -----------------------------------------------------------------------------
    @classmethod
    async def open(cls, path: Path, *, outbox_channels: Sequence[str] = ()) -> TicketStore:
        """Open (creating or migrating) the database at ``path``. ``outbox_channels``: the
        notification channels (``webhook``, ``email``) that get an outbox row for each notice.
        Raises StoreError."""
        try:
            worker, conn = await Worker.start("tickets-db", functools.partial(cls._connect, path))
        except sqlite3.Error as err:  # e.g. the directory cannot be written
            raise StoreError(f"{path}: cannot use ticket database: {err}") from err
        return cls(conn, worker, path, outbox_channels=outbox_channels)

    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        def setup(conn: sqlite3.Connection) -> None:
            sqlite.use_wal(conn, foreign_keys=True)
            TicketStore._migrate(conn, path)

        return sqlite.open_db(
            path, setup, timeout=10, rows=True, mkdir=True,
            error=lambda err: StoreError(f"{path}: cannot use ticket database: {err}"))

    @staticmethod
    def _migrate(conn: sqlite3.Connection, path: Path) -> None:
        version = sqlite.schema_version(conn)
        if version > SCHEMA_VERSION:
            raise StoreError(f"{path}: ticket database has schema version {version}, this "
                             f"Fleetwatch knows up to {SCHEMA_VERSION}: upgrade Fleetwatch")
        for target in range(version + 1, SCHEMA_VERSION + 1):
            with sqlite.transaction(conn):
                for statement in MIGRATIONS[target - 1].split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version={target}")

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._worker.close(self._conn.close)

    async def _run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        if self._closed:
            raise StoreError("ticket store is closed")
        self._committed = False
        try:
            result = await self._worker.run(fn, *args, **kwargs)
        except sqlite3.Error as err:  # disk full, I/O error, locked by another process, …
            if self.stats.last_error is None:
                log.error("ticket store %s: %s", self.path, err)
            self.stats.errors += 1
            self.stats.last_error = str(err)
            raise StoreError(f"{self.path}: {err}") from err
        # A read can succeed while writes still fail (WAL readers pass another process's lock):
        # only a committed write says the store works again.
        if self.stats.last_error is not None and self._committed:
            log.info("ticket store %s works again", self.path)
            self.stats.last_error = None
        return result

    def health(self) -> dict[str, str]:
        """``failing`` while the latest transaction failed on the database, with its error."""
        if self.stats.last_error is not None:
            return {"status": "failing",
                    "reason": f"ticket database {self.path}: {self.stats.last_error}"}
        return {"status": "ok", "reason": ""}

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (in the worker thread)."""
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        self._notices = []
        try:
            yield conn
            self._write_outbox(conn)
        except BaseException:
            self._notices = []
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        self._committed = True  # (read by _run: only a write clears a write failure)

    def _write_outbox(self, conn: sqlite3.Connection) -> None:
        """The transactional outbox: the notices of this transaction, one row per channel, with
        the ticket as it is at the end of the transaction; committed with the change or not at
        all."""
        notices, self._notices = self._notices, []
        if not self.outbox_channels:
            return
        for ticket_id, event, at in notices:
            payload = json.dumps(self._get(conn, ticket_id).to_json(), sort_keys=True)
            notice = uuid.uuid4().hex
            conn.executemany(
                "INSERT INTO outbox (notice, channel, event, ticket_id, at, payload) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(notice, channel, event, ticket_id, at, payload)
                 for channel in self.outbox_channels])

    # --- the outbox (docs/tickets.md) ----------------------------------------------------------
    async def outbox_pending(self, channel: str, limit: int = 100) -> list[OutboxItem]:
        """The oldest pending notices of ``channel``, oldest first."""
        return await self._run(self._outbox_pending, channel, limit)

    def _outbox_pending(self, channel: str, limit: int) -> list[OutboxItem]:
        rows = self._conn.execute(
            "SELECT * FROM outbox WHERE channel = ? AND outcome IS NULL ORDER BY id LIMIT ?",
            (channel, limit)).fetchall()
        return [OutboxItem(id=r["id"], notice=r["notice"], channel=r["channel"],
                           event=r["event"], ticket_id=r["ticket_id"], at=r["at"],
                           payload=json.loads(r["payload"]), attempts=r["attempts"])
                for r in rows]

    async def outbox_done(self, item_id: int, outcome: str, *, at: float,
                          error: str | None = None) -> None:
        """Mark a notice ``sent``, ``refused`` or ``expired`` (it is not offered again)."""
        await self._run(self._outbox_done, item_id, outcome, at, error)

    def _outbox_done(self, item_id: int, outcome: str, at: float, error: str | None) -> None:
        with self._tx() as conn:
            conn.execute("UPDATE outbox SET outcome = ?, done_at = ?, attempts = attempts + 1, "
                         "last_error = coalesce(?, last_error) WHERE id = ?",
                         (outcome, at, error, item_id))

    async def outbox_attempt_failed(self, item_id: int, error: str) -> None:
        """Count a failed try; the notice stays pending."""
        await self._run(self._outbox_attempt_failed, item_id, error)

    def _outbox_attempt_failed(self, item_id: int, error: str) -> None:
        with self._tx() as conn:
            conn.execute("UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE id = ?",
                         (error, item_id))

    async def outbox_counts(self) -> dict[str, int]:
        """Pending notices per channel."""
        return await self._run(self._outbox_counts)

    def _outbox_counts(self) -> dict[str, int]:
        rows = self._conn.execute("SELECT channel, count(*) FROM outbox WHERE outcome IS NULL "
                                  "GROUP BY channel").fetchall()
        return {r[0]: int(r[1]) for r in rows}

    async def outbox_prune(self, before: float) -> int:
        """Delete notices delivered or given up before ``before``; how many."""
        return await self._run(self._outbox_prune, before)

    def _outbox_prune(self, before: float) -> int:
        with self._tx() as conn:
            cur = conn.execute("DELETE FROM outbox WHERE outcome IS NOT NULL AND done_at < ?",
                               (before,))
            return int(cur.rowcount)

    # --- helpers (worker thread) ---------------------------------------------------------------
    def _get(self, conn: sqlite3.Connection, ticket_id: int) -> Ticket:
        row = conn.execute("SELECT * FROM tickets WHERE id = ?", (ticket_id,)).fetchone()
        if row is None:
            raise TicketNotFound(f"no ticket #{ticket_id}")
        return _ticket(row)

    @staticmethod
    def _add_event(conn: sqlite3.Connection, ticket_id: int, at: float, kind: str, by: str,
                   text: str = "", data: Mapping[str, Any] | None = None) -> int:
        cur = conn.execute(
            "INSERT INTO events (ticket_id, at, kind, by, text, data) VALUES (?, ?, ?, ?, ?, ?)",
            (ticket_id, at, kind, by, text, json.dumps(dict(data or {}), sort_keys=True)))
        conn.execute("UPDATE tickets SET updated_at = ? WHERE id = ?", (at, ticket_id))
        return int(cur.lastrowid or 0)

    def _update(self, conn: sqlite3.Connection, ticket_id: int, **columns: Any) -> None:
        if not columns:
            return
        sets = ", ".join(f"{name} = ?" for name in columns)
        try:
            conn.execute(f"UPDATE tickets SET {sets} WHERE id = ?", (*columns.values(), ticket_id))
        except sqlite3.IntegrityError as err:
            ticket = self._get(conn, ticket_id)
            other = conn.execute(
                "SELECT id FROM tickets WHERE device IS ? AND fault_key IS ? AND id != ? AND "
                "state NOT IN ('resolved', 'closed')",
                (ticket.device, ticket.fault_key, ticket_id)).fetchone()
            which = f" #{other['id']}" if other else ""
            raise DuplicateOpenTicket(
                f"ticket{which} is already open for {ticket.device} / {ticket.fault_key}"
            ) from err

    def _set_state(self, conn: sqlite3.Connection, ticket: Ticket, to: str, by: str, at: float,
                   text: str = "") -> None:
        _check_choice(to, STATES, "state")
        if to not in TRANSITIONS[ticket.state]:
            allowed = ", ".join(sorted(TRANSITIONS[ticket.state])) or "none: closed is final"
            raise IllegalTransition(f"ticket #{ticket.id} cannot go from {ticket.state} to {to} "
                                    f"(allowed: {allowed})")
        cols: dict[str, Any] = {"state": to}
        if to == "resolved":
            cols["resolved_at"] = at
        elif to == "closed":
            cols["closed_at"] = at
        elif ticket.state == "resolved":  # reopened
            cols["resolved_at"] = None
        self._update(conn, ticket.id, **cols)
        self._add_event(conn, ticket.id, at, "state", by, text,
                        {"from": ticket.state, "to": to})
        if to == "resolved" and ticket.unresolved:
            self._notices.append((ticket.id, "resolved", at))
        elif ticket.state == "resolved" and to in UNRESOLVED:
            self._notices.append((ticket.id, "reopened", at))

    # --- opening -------------------------------------------------------------------------------
    async def create(self, new: NewTicket, *, by: str, at: float, text: str = "") -> Ticket:
        """Open a ticket with an ``opened`` event. Raises InvalidTicket, DuplicateOpenTicket."""
        return await self._run(self._create, new, by, at, text)

    def _create(self, new: NewTicket, by: str, at: float, text: str) -> Ticket:
        _check_choice(new.kind, KINDS, "kind")
        _check_choice(new.severity, SEVERITIES, "severity")
        if not new.title.strip():
            raise InvalidTicket("a ticket needs a title")
        with self._tx() as conn:
            try:
                cur = conn.execute(
                    "INSERT INTO tickets (kind, state, severity, device, site, fault_key, title, "
                    "description, assignee, part_number, fault_active, created_at, updated_at, "
                    "last_seen_at, details) VALUES (?, 'open', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (new.kind, new.severity, new.device, new.site, new.fault_key, new.title,
                     new.description, new.assignee, new.part_number, int(new.fault_active), at, at,
                     at if new.fault_active else None,
                     json.dumps(dict(new.details), sort_keys=True)))
            except sqlite3.IntegrityError as err:
                raise DuplicateOpenTicket(
                    f"a ticket is already open for {new.device} / {new.fault_key}") from err
            ticket_id = int(cur.lastrowid or 0)
            self._add_event(conn, ticket_id, at, "opened", by, text or new.title,
                            {"severity": new.severity})
            self._notices.append((ticket_id, "opened", at))
            if new.assignee:
                self._add_event(conn, ticket_id, at, "assigned", by, new.assignee,
                                {"from": None, "to": new.assignee})
            return self._get(conn, ticket_id)

    # --- technicians' changes ------------------------------------------------------------------
    async def change(self, ticket_id: int, *, by: str, at: float, state: str | None = None,
                     assignee: str | None = None, unassign: bool = False,
                     comment: str | None = None) -> Ticket:
        """Apply a technician's changes in one transaction: comment first, then assignee, then
        state. Raises TicketNotFound, InvalidTicket, IllegalTransition, DuplicateOpenTicket."""
        return await self._run(self._change, ticket_id, by, at, state, assignee, unassign, comment)

    def _change(self, ticket_id: int, by: str, at: float, state: str | None,
                assignee: str | None, unassign: bool, comment: str | None) -> Ticket:
        with self._tx() as conn:
            ticket = self._get(conn, ticket_id)
            if comment is not None:
                if not comment.strip():
                    raise InvalidTicket("a comment needs text")
                self._add_event(conn, ticket_id, at, "comment", by, comment)
            if unassign or assignee is not None:
                new = None if unassign else assignee
                if new is not None and not new.strip():
                    raise InvalidTicket("assignee must not be empty (use null to unassign)")
                if new != ticket.assignee:
                    self._update(conn, ticket_id, assignee=new)
                    self._add_event(conn, ticket_id, at, "assigned", by, new or "",
                                    {"from": ticket.assignee, "to": new})
            if state is not None:
                self._set_state(conn, ticket, state, by, at)
            return self._get(conn, ticket_id)

    async def comment(self, ticket_id: int, text: str, *, by: str, at: float) -> Event:
        return await self._run(self._comment, ticket_id, text, by, at)

    def _comment(self, ticket_id: int, text: str, by: str, at: float) -> Event:
        if not text.strip():
            raise InvalidTicket("a comment needs text")
        with self._tx() as conn:
            self._get(conn, ticket_id)
            event_id = self._add_event(conn, ticket_id, at, "comment", by, text)
            row = conn.execute("SELECT * FROM events WHERE id = ?", (event_id,)).fetchone()
            return _event(row)

    # --- the engine's changes ------------------------------------------------------------------
    async def recur(self, ticket_id: int, *, at: float, text: str = "",
                    severity: str | None = None) -> Ticket:
        """The fault is back: a ``recurred`` event; a resolved ticket reopens (raises
        DuplicateOpenTicket when another ticket holds the key, IllegalTransition when closed)."""
        return await self._run(self._recur, ticket_id, at, text, severity)

    def _recur(self, ticket_id: int, at: float, text: str, severity: str | None) -> Ticket:
        with self._tx() as conn:
            ticket = self._get(conn, ticket_id)
            if ticket.state == "closed":
                raise IllegalTransition(f"ticket #{ticket_id} is closed")
            self._update(conn, ticket_id, fault_active=1, last_seen_at=at, last_recurred_at=at,
                         recurrences=ticket.recurrences + 1)
            self._add_event(conn, ticket_id, at, "recurred", SYSTEM, text,
                            {"recurrence": ticket.recurrences + 1})
            if ticket.state == "resolved":
                self._set_state(conn, ticket, "open", SYSTEM, at, "fault is back")
            if severity is not None and severity != ticket.severity:
                self._set_severity(conn, ticket, severity, at)
            return self._get(conn, ticket_id)

    async def clear(self, ticket_id: int, *, at: float, resolve: bool, text: str = "") -> Ticket:
        """The fault is gone: a ``cleared`` event, and with ``resolve`` an unresolved ticket
        goes to ``resolved``. A closed ticket is left alone."""
        return await self._run(self._clear, ticket_id, at, resolve, text)

    def _clear(self, ticket_id: int, at: float, resolve: bool, text: str) -> Ticket:
        with self._tx() as conn:
            ticket = self._get(conn, ticket_id)
            if ticket.state == "closed":
                # No event on a closed ticket, but the fault is no longer on it: a restart
                # must not resume a closed ticket as if its fault were still present.
                if ticket.fault_active:
                    self._update(conn, ticket_id, fault_active=0, cleared_at=at)
                return self._get(conn, ticket_id)
            self._update(conn, ticket_id, fault_active=0, cleared_at=at)
            self._add_event(conn, ticket_id, at, "cleared", SYSTEM, text or "fault cleared")
            if resolve and ticket.unresolved:
                self._set_state(conn, ticket, "resolved", SYSTEM, at, "fault cleared")
            return self._get(conn, ticket_id)

    async def resolve(self, ticket_id: int, *, at: float, text: str) -> Ticket:
        """Resolve an unresolved ticket on the engine's behalf (a no-op otherwise)."""
        return await self._run(self._resolve, ticket_id, at, text)

    def _resolve(self, ticket_id: int, at: float, text: str) -> Ticket:
        with self._tx() as conn:
            ticket = self._get(conn, ticket_id)
            if ticket.unresolved:
                self._set_state(conn, ticket, "resolved", SYSTEM, at, text)
            return self._get(conn, ticket_id)

    async def set_severity(self, ticket_id: int, severity: str, *, at: float,
                           text: str = "") -> Ticket:
        """The fault got worse or better: a ``severity`` event (``text``: what it is now)."""
        return await self._run(self._severity_tx, ticket_id, severity, at, text)

    def _severity_tx(self, ticket_id: int, severity: str, at: float, text: str) -> Ticket:
        with self._tx() as conn:
            ticket = self._get(conn, ticket_id)
            self._set_severity(conn, ticket, severity, at, text)
            return self._get(conn, ticket_id)

    def _set_severity(self, conn: sqlite3.Connection, ticket: Ticket, severity: str,
                      at: float, text: str = "") -> None:
        _check_choice(severity, SEVERITIES, "severity")
        if severity == ticket.severity:
            return
        self._update(conn, ticket.id, severity=severity)
        self._add_event(conn, ticket.id, at, "severity", SYSTEM,
                        f"severity {ticket.severity} → {severity}" + (f": {text}" if text else ""),
                        {"from": ticket.severity, "to": severity})

    async def note(self, ticket_id: int, text: str, *, at: float, by: str = SYSTEM,
                   data: Mapping[str, Any] | None = None) -> None:
        """A ``note`` event (dependencies, suppression windows, …)."""
        await self._run(self._note, ticket_id, text, at, by, data)

    def _note(self, ticket_id: int, text: str, at: float, by: str,
              data: Mapping[str, Any] | None) -> None:
        with self._tx() as conn:
            self._get(conn, ticket_id)
            self._add_event(conn, ticket_id, at, "note", by, text, data)

    # --- reading -------------------------------------------------------------------------------
    async def get(self, ticket_id: int) -> Ticket:
        """Raises TicketNotFound."""
        return await self._run(self._get_ro, ticket_id)

    def _get_ro(self, ticket_id: int) -> Ticket:
        return self._get(self._conn, ticket_id)

    async def events(self, ticket_id: int, *, limit: int | None = None) -> tuple[list[Event], int]:
        """The timeline, oldest first (with ``limit``: the newest ``limit``), and its length."""
        return await self._run(self._events, ticket_id, limit)

    def _events(self, ticket_id: int, limit: int | None) -> tuple[list[Event], int]:
        conn = self._conn
        with self._read():
            self._get(conn, ticket_id)
            total = conn.execute("SELECT count(*) FROM events WHERE ticket_id = ?",
                                 (ticket_id,)).fetchone()[0]
            if limit is None:
                rows = conn.execute("SELECT * FROM events WHERE ticket_id = ? ORDER BY id",
                                    (ticket_id,)).fetchall()
            else:
                rows = conn.execute(
                    "SELECT * FROM (SELECT * FROM events WHERE ticket_id = ? ORDER BY id DESC "
                    "LIMIT ?) ORDER BY id", (ticket_id, limit)).fetchall()
            return [_event(r) for r in rows], int(total)

    @contextlib.contextmanager
    def _read(self) -> Iterator[None]:
        """A consistent snapshot over several SELECTs."""
        self._conn.execute("BEGIN")
        try:
            yield
        finally:
            self._conn.execute("COMMIT")

    async def find(self, query: TicketQuery) -> tuple[list[Ticket], int]:
        """One page of tickets matching ``query`` and the total number of matches."""
        return await self._run(self._find, query)

    def _find(self, q: TicketQuery) -> tuple[list[Ticket], int]:
        where: list[str] = []
        args: list[Any] = []
        for column, values in (("state", q.states), ("kind", q.kinds),
                               ("severity", q.severities)):
            if values:
                where.append(f"{column} IN ({', '.join('?' * len(values))})")
                args.extend(values)
        for column, value in (("device", q.device), ("site", q.site), ("assignee", q.assignee),
                              ("fault_key", q.fault_key)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if q.text:
            where.append("(title LIKE ? ESCAPE '\\' OR description LIKE ? ESCAPE '\\')")
            pattern = "%" + q.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            args += [pattern, pattern]
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        order = "DESC" if q.newest_first else "ASC"
        with self._read():
            total = self._conn.execute(f"SELECT count(*) FROM tickets {clause}", args).fetchone()[0]
            rows = self._conn.execute(
                f"SELECT * FROM tickets {clause} ORDER BY id {order} LIMIT ? OFFSET ?",
                [*args, q.limit, q.offset]).fetchall()
        return [_ticket(r) for r in rows], int(total)

    async def engine_tickets(self, since: float) -> list[Ticket]:
        """What the fault engine resumes from after a restart: per (device, fault_key) the
        newest ticket that is unresolved, resolved with its fault cleared at/after ``since``
        (still inside the flap window), or resolved/closed by a technician while its fault is
        still present (the engine keeps that fault on it until it clears, as without a restart)."""
        return await self._run(self._engine_tickets, since)

    def _engine_tickets(self, since: float) -> list[Ticket]:
        rows = self._conn.execute(
            "SELECT * FROM tickets WHERE fault_key IS NOT NULL AND (state IN ('open', "
            "'acknowledged', 'in_progress') OR (state = 'resolved' AND cleared_at >= ?) "
            "OR fault_active = 1) "
            "ORDER BY id", (since,)).fetchall()
        newest: dict[tuple[str | None, str | None], Ticket] = {}
        for row in rows:
            t = _ticket(row)
            key = (t.device, t.fault_key)
            # an unresolved ticket always wins over a resolved one of the same key
            if key not in newest or t.unresolved or not newest[key].unresolved:
                newest[key] = t
        return list(newest.values())

    async def count_events(self, ticket_id: int, kind: str | None = None) -> int:
        return await self._run(self._count_events, ticket_id, kind)

    def _count_events(self, ticket_id: int, kind: str | None) -> int:
        if kind is None:
            row = self._conn.execute("SELECT count(*) FROM events WHERE ticket_id = ?",
                                     (ticket_id,)).fetchone()
        else:
            row = self._conn.execute("SELECT count(*) FROM events WHERE ticket_id = ? AND "
                                     "kind = ?", (ticket_id, kind)).fetchone()
        return int(row[0])
