"""Fixtures of the ticket tests: a real SQLite store in a temporary directory, a hand-set clock,
and builders of readings."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import pytest

from collector.tickets.store import TicketStore
from probes.model import Alert, Reading, Supply, Tray


class Clock:
    """The engine's ``now``: set by the test, never by the wall clock."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:  # 2027-01-15 08:00 UTC
        self.now = start

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
async def store(tmp_path: Path) -> AsyncIterator[TicketStore]:
    s = await TicketStore.open(tmp_path / "tickets.sqlite3")
    try:
        yield s
    finally:
        await s.close()


def printer(device: str = "p1", faults: Iterable[str] = (), *, alerts: Iterable[Alert] = (),
            supplies: Iterable[Supply] = (), trays: Iterable[Tray] = (),
            device_status: str = "running", stale: bool = False,
            metrics: Iterable[tuple[str, float]] = ()) -> Reading:
    """A printer poll that answered."""
    return Reading(device=device, host="192.0.2.1", probe="snmp_printer", reachable=True,
                   faults=frozenset(faults), error_state_hex="00", alerts=tuple(alerts),
                   supplies=tuple(supplies), trays=tuple(trays), device_status=device_status,
                   printer_status="idle", stale=stale, metrics=tuple(metrics),
                   error="timeout" if stale else None)


def down(device: str = "p1", probe: str = "snmp_printer") -> Reading:
    """A poll after the sleep grace: the device does not answer."""
    return Reading(device=device, host="192.0.2.1", probe=probe, reachable=False,
                   error="timeout: no answer", status="unreachable")


def ping(device: str, ok: bool = True) -> Reading:
    return Reading(device=device, host="192.0.2.9", probe="ping", reachable=ok,
                   error=None if ok else "timeout", status="ok" if ok else "unreachable",
                   metrics=(("rtt_ms", 0.4),) if ok else ())


def toner(percent: float | None, *, index: str = "1.1", state: str | None = None,
          part: str | None = "CF258A", colour: str = "black") -> Supply:
    if state is None:
        state = "empty" if percent == 0 else "low" if percent is not None and percent <= 10 else "ok"
    return Supply(index=index, description=f"{colour.title()} Toner {part or ''}".strip(),
                  type="toner", supply_class="consumed", colour=colour, unit="percent",
                  level=int(percent) if percent is not None else -3, capacity=100,
                  percent=percent, state=state, part_number=part)


def alert(code: str, group: str = "media_path", severity: str = "critical",
          description: str = "") -> Alert:
    return Alert(index="1", severity=severity, group=group, group_index=1, location=0, code=code,
                 description=description)
