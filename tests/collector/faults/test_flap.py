"""A fault toggling 1,000 times: one ticket, every recurrence on its timeline, never a second
unresolved ticket. Real engine, real SQLite store."""

from __future__ import annotations

import sqlite3
from dataclasses import replace

import pytest

from collector.faults.engine import FaultEngine
from collector.tickets.store import DuplicateOpenTicket, NewTicket, TicketQuery, TicketStore
from tests.collector.conftest import Clock, printer
from tests.collector.faults.test_engine import PRINTER, SETTINGS

TOGGLES = 1000


async def test_thousand_toggles_make_one_ticket(store: TicketStore) -> None:
    clock = Clock()
    notices: list[str] = []
    engine = FaultEngine(store, replace(SETTINGS, flap_window=3600), devices=(PRINTER,),
                         notify=lambda e, t: notices.append(e), now=clock)
    jam, ok = printer(faults={"jammed"}), printer()
    await engine.handle(jam, PRINTER)  # debounce: two polls
    clock.now += 1
    await engine.handle(jam, PRINTER)
    for i in range(TOGGLES):
        clock.now += 1
        await engine.handle(ok if i % 2 == 0 else jam, PRINTER)
        if i % 100 == 0:  # never a second unresolved ticket, at any moment
            _, unresolved = await store.find(TicketQuery(states=("open", "acknowledged",
                                                                  "in_progress")))
            assert unresolved <= 1

    tickets, total = await store.find(TicketQuery())
    assert total == 1
    ticket = tickets[0]
    returns = TOGGLES // 2  # every second toggle brings the jam back
    assert ticket.recurrences == returns
    assert await store.count_events(ticket.id, "recurred") == returns
    assert await store.count_events(ticket.id, "cleared") == TOGGLES - returns
    assert await store.count_events(ticket.id, "opened") == 1
    # damped: one resolve and one reopen notification, not a thousand
    assert notices == ["opened", "resolved", "reopened"]
    assert ticket.state == "open" and ticket.fault_active is True

    # quiet for the flap window: resolved once, for good
    for _ in range(3):
        clock.now += 1800
        await engine.handle(ok, PRINTER)
    ticket = await store.get(ticket.id)
    assert ticket.state == "resolved" and notices[-1] == "resolved" and len(notices) == 4


async def test_database_refuses_a_second_unresolved_ticket(store: TicketStore) -> None:
    new = NewTicket(kind="fault", title="p1: Paper jam", device="p1", fault_key="jammed")
    first = await store.create(new, by="test", at=1.0)
    with pytest.raises(DuplicateOpenTicket):
        await store.create(new, by="test", at=2.0)
    # the rule lives in the schema itself, not only in the code
    conn = sqlite3.connect(store.path)
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("INSERT INTO tickets (kind, state, severity, device, fault_key, title, "
                     "created_at, updated_at) VALUES ('fault', 'acknowledged', 'critical', 'p1', "
                     "'jammed', 'x', 0, 0)")
    conn.close()
    await store.change(first.id, by="test", at=3.0, state="resolved")
    second = await store.create(new, by="test", at=4.0)
    with pytest.raises(DuplicateOpenTicket, match=f"#{second.id}"):
        await store.change(first.id, by="test", at=5.0, state="open")  # reopen refused
