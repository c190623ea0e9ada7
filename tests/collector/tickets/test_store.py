"""The SQLite ticket store: schema, transitions, timeline, listing, restart."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from collector.tickets.store import (
    MIGRATIONS,
    SCHEMA_VERSION,
    STATES,
    TRANSITIONS,
    IllegalTransition,
    InvalidTicket,
    NewTicket,
    StoreError,
    TicketNotFound,
    TicketQuery,
    TicketStore,
)

MANUAL = NewTicket(kind="manual", title="Replace the kitchen printer's power cable",
                   device="p1", site="hq")


async def test_schema_is_versioned_and_in_wal_mode(store: TicketStore) -> None:
    conn = sqlite3.connect(store.path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


async def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError, match="upgrade Fleetwatch"):
        await TicketStore.open(path)


def _version_1_file(path: Path, *, index_name_taken: bool = False) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    for statement in MIGRATIONS[0].split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.execute("INSERT INTO tickets (kind, state, severity, title, created_at, updated_at) "
                 "VALUES ('manual', 'open', 'info', 'from version 1', 1.0, 1.0)")
    conn.execute("PRAGMA user_version=1")
    if index_name_taken:  # the second statement of migration 2 fails, after the first ran
        conn.execute("CREATE TABLE outbox_pending (x)")
    conn.close()


async def test_a_version_1_file_is_migrated_keeping_its_tickets(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    _version_1_file(path)
    store = await TicketStore.open(path)
    try:
        assert (await store.get(1)).title == "from version 1"
    finally:
        await store.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
    assert conn.execute("SELECT count(*) FROM outbox").fetchone()[0] == 0
    conn.close()


async def test_a_failed_migration_rolls_back_and_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "clash.sqlite3"
    _version_1_file(path, index_name_taken=True)
    with pytest.raises(StoreError, match="already a table named outbox_pending"):
        await TicketStore.open(path)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'outbox'").fetchone() is None
    conn.close()


async def test_not_a_database_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "garbage.sqlite3"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError):
        await TicketStore.open(path)


@pytest.mark.parametrize("start", STATES)
@pytest.mark.parametrize("to", STATES)
async def test_transitions(store: TicketStore, start: str, to: str) -> None:
    ticket = await store.create(MANUAL, by="alice", at=1.0)
    path = {"open": [], "acknowledged": ["acknowledged"], "in_progress": ["in_progress"],
            "resolved": ["resolved"], "closed": ["closed"]}[start]
    for state in path:
        ticket = await store.change(ticket.id, by="alice", at=2.0, state=state)
    assert ticket.state == start
    if to in TRANSITIONS[start]:
        after = await store.change(ticket.id, by="bob", at=3.0, state=to)
        assert after.state == to
        events, _ = await store.events(ticket.id)
        assert events[-1].kind == "state" and events[-1].by == "bob"
        assert dict(events[-1].data) == {"from": start, "to": to}
    else:
        with pytest.raises(IllegalTransition):
            await store.change(ticket.id, by="bob", at=3.0, state=to)
        assert (await store.get(ticket.id)).state == start


async def test_timeline_records_who_and_when(store: TicketStore) -> None:
    t = await store.create(MANUAL, by="alice", at=10.0)
    await store.change(t.id, by="bob", at=11.0, assignee="bob", state="acknowledged",
                       comment="on my way")
    await store.comment(t.id, "cable replaced", by="bob", at=12.0)
    t = await store.change(t.id, by="bob", at=13.0, state="resolved")
    await store.change(t.id, by="carol", at=14.0, unassign=True)
    events, total = await store.events(t.id)
    assert [(e.at, e.kind, e.by, e.text) for e in events] == [
        (10.0, "opened", "alice", MANUAL.title),
        (11.0, "comment", "bob", "on my way"),
        (11.0, "assigned", "bob", "bob"),
        (11.0, "state", "bob", ""),
        (12.0, "comment", "bob", "cable replaced"),
        (13.0, "state", "bob", ""),
        (14.0, "assigned", "carol", ""),
    ]
    assert total == 7
    t = await store.get(t.id)
    assert t.resolved_at == 13.0 and t.assignee is None and t.updated_at == 14.0
    newest, total = await store.events(t.id, limit=2)
    assert [e.at for e in newest] == [13.0, 14.0] and total == 7


async def test_change_is_all_or_nothing(store: TicketStore) -> None:
    t = await store.create(MANUAL, by="alice", at=1.0)
    await store.change(t.id, by="alice", at=2.0, state="closed")
    with pytest.raises(IllegalTransition):
        await store.change(t.id, by="bob", at=3.0, comment="too late", state="open")
    events, _ = await store.events(t.id)
    assert [e.kind for e in events] == ["opened", "state"], "the comment was rolled back"


async def test_bad_input(store: TicketStore) -> None:
    with pytest.raises(InvalidTicket):
        await store.create(NewTicket(kind="manual", title="  "), by="a", at=1.0)
    with pytest.raises(InvalidTicket):
        await store.create(NewTicket(kind="bogus", title="x"), by="a", at=1.0)
    with pytest.raises(InvalidTicket):
        await store.create(NewTicket(kind="manual", title="x", severity="dire"), by="a", at=1.0)
    t = await store.create(NewTicket(kind="manual", title="x"), by="a", at=1.0)
    with pytest.raises(InvalidTicket):
        await store.change(t.id, by="a", at=2.0, state="done")
    with pytest.raises(InvalidTicket):
        await store.comment(t.id, " ", by="a", at=2.0)
    with pytest.raises(TicketNotFound):
        await store.get(999)
    with pytest.raises(TicketNotFound):
        await store.comment(999, "hello", by="a", at=2.0)


async def test_listing_filters_and_pages(store: TicketStore) -> None:
    for i in range(25):
        await store.create(NewTicket(kind="manual" if i % 2 else "fault", title=f"ticket {i}",
                                     device=f"p{i % 3}", fault_key=None if i % 2 else f"k{i}",
                                     severity="critical" if i % 5 == 0 else "warning",
                                     site="hq" if i < 10 else "branch"), by="a", at=float(i))
    page, total = await store.find(TicketQuery(limit=10, offset=0))
    assert total == 25 and [t.title for t in page][:2] == ["ticket 24", "ticket 23"]
    page, total = await store.find(TicketQuery(limit=10, offset=20))
    assert len(page) == 5 and total == 25
    page, total = await store.find(TicketQuery(kinds=("fault",), device="p0", newest_first=False))
    assert [t.title for t in page] == ["ticket 0", "ticket 6", "ticket 12", "ticket 18",
                                       "ticket 24"] and total == 5
    _, total = await store.find(TicketQuery(severities=("critical",), site="branch"))
    assert total == 3  # 10, 15, 20
    page, total = await store.find(TicketQuery(text="ticket 1_"))  # LIKE wildcards escaped
    assert total == 0
    page, total = await store.find(TicketQuery(text="ticket 1"))
    assert total == 11  # 1, 10-19


async def test_everything_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "t.sqlite3"
    store = await TicketStore.open(path)
    t = await store.create(MANUAL, by="alice", at=1.0)
    await store.comment(t.id, "first", by="alice", at=2.0)
    await store.close()
    store = await TicketStore.open(path)
    try:
        again = await store.get(t.id)
        assert again.title == MANUAL.title and again.state == "open" and again.updated_at == 2.0
        assert (again.id, again.created_at, again.device) == (t.id, t.created_at, t.device)
        events, _ = await store.events(t.id)
        assert [e.text for e in events] == [MANUAL.title, "first"]
    finally:
        await store.close()
