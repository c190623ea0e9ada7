"""Ticket page defects of issue 13: timeline lines of state changes and unassignments (web and
CLI), the unresolved list split and order, and the buttons' script handling Cancel."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.cli.tickets import event_text
from collector.tickets.pages import describe, triage
from collector.tickets.store import NewTicket, TicketQuery, TicketStore


@pytest.mark.parametrize(("kind", "text", "data", "line"), [
    ("state", "", {"from": "open", "to": "in_progress"}, "open → in progress"),
    ("state", "fault cleared", {"from": "open", "to": "resolved"}, "open → resolved: fault cleared"),
    ("assigned", "", {"from": "bob", "to": None}, "unassigned (was bob)"),
    ("assigned", "carol", {"from": "bob", "to": "carol"}, "carol (was bob)"),
    ("assigned", "carol", {"from": None, "to": "carol"}, "carol"),
    ("comment", "toner ordered", {}, "toner ordered"),
])
def test_timeline_lines_are_never_blank_web_and_cli(kind: str, text: str, data: dict[str, object],
                                                    line: str) -> None:
    assert describe(kind, text, data) == line
    assert event_text({"kind": kind, "text": text, "data": data}) == line


async def test_store_events_of_a_real_store_describe_non_blank(tmp_path: Path) -> None:
    store = await TicketStore.open(tmp_path / "t.sqlite3")
    try:
        t = await store.create(NewTicket(kind="manual", title="x", assignee="bob"), by="a", at=1)
        await store.change(t.id, by="a", at=2, state="acknowledged")
        await store.change(t.id, by="a", at=3, unassign=True)
        events, _ = await store.events(t.id)
        assert all(describe(e.kind, e.text, e.data).strip() for e in events)
    finally:
        await store.close()


async def test_unresolved_split_cleared_apart_by_severity_then_age(tmp_path: Path) -> None:
    store = await TicketStore.open(tmp_path / "t.sqlite3")
    try:
        specs = [("warning", "k1", True, 10), ("critical", "k2", False, 20),
                 ("critical", "k3", True, 30), ("warning", None, False, 5),
                 ("info", "k4", False, 1), ("critical", "k5", True, 25)]
        for severity, key, active, at in specs:
            await store.create(NewTicket(kind="fault" if key else "manual", title=f"{key}",
                                         severity=severity, device="p1", fault_key=key,
                                         fault_active=active), by="x", at=at)
        tickets, _ = await store.find(TicketQuery(limit=50))
        active, cleared = triage(tickets)
        assert [(t.severity, t.created_at) for t in active] == [
            ("critical", 25), ("critical", 30), ("warning", 5), ("warning", 10)]
        assert [(t.severity, t.created_at) for t in cleared] == [("critical", 20), ("info", 1)]
    finally:
        await store.close()
