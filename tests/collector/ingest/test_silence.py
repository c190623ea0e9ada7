"""Agent silence counts business hours only: no ticket for a PC switched off at night, a ticket
once it has been silent for ``silent_after`` of working time (injected clock throughout)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from collector.config import Config, DeviceConfig, Schedule, TicketSettings, WeeklyWindow
from collector.faults.engine import FaultEngine
from collector.ingest.service import Ingest, business_seconds
from collector.ingest.settings import IngestSettings
from collector.ingest.store import AgentStore
from collector.tickets.store import TicketQuery, TicketStore
from tests.collector.ingest.helpers import report

BERLIN = ZoneInfo("Europe/Berlin")
HOURS = Schedule(business_hours=(WeeklyWindow(frozenset(range(5)), dt.time(8), dt.time(18)),),
                 timezone="Europe/Berlin")


def at(day: int, hour: float) -> float:
    """Epoch seconds of January ``day`` 2027 (the 11th is a Monday), local Berlin time."""
    h, m = int(hour), round((hour % 1) * 60)
    return dt.datetime(2027, 1, day, h, m, tzinfo=BERLIN).timestamp()


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
async def world(tmp_path: Path) -> AsyncIterator[tuple[Ingest, TicketStore, Clock]]:
    clock = Clock()
    tickets = await TicketStore.open(tmp_path / "tickets.sqlite3")
    agents = await AgentStore.open(tmp_path / "agents.sqlite3")
    config = Config(path=tmp_path / "x.yaml", sites={"hq": HOURS},
                    tickets=TicketSettings(debounce_polls=2),
                    devices=(DeviceConfig(name="pc-7", host="pc-7", kind="workstation",
                                          site="hq"),))
    engine = FaultEngine(tickets, config.tickets, sites=config.sites, devices=config.devices,
                         now=clock)
    ingest = Ingest(agents, IngestSettings(silent_after=4 * 3600), config, [engine], now=clock)
    try:
        yield ingest, tickets, clock
    finally:
        await agents.close()
        await tickets.close()


async def _last_report(ingest: Ingest, clock: Clock, when: float) -> None:
    clock.now = when
    row, _ = await ingest.store.enroll("pc-7", "test", now=when)
    await ingest.handle_batch(row, [report(row.id, 1, at=when)])


async def _tickets(store: TicketStore) -> list[tuple[str | None, str]]:
    found, _ = await store.find(TicketQuery(device="pc-7"))
    return [(t.fault_key, t.state) for t in found]


def test_business_seconds_skip_nights_and_weekends() -> None:
    assert business_seconds(HOURS, at(15, 17), at(18, 11.5), 1e9) == pytest.approx(4.5 * 3600)
    assert business_seconds(HOURS, at(12, 19), at(13, 7.5), 1e9) == 0
    assert business_seconds(Schedule(), 0, 100, 1e9) == 100


async def test_switched_off_friday_evening_is_no_fault_until_monday_works_4_hours(
        world: tuple[Ingest, TicketStore, Clock]) -> None:
    ingest, store, clock = world
    await _last_report(ingest, clock, at(15, 17))  # Friday 17:00, then switched off
    for day, hour in ((15, 23), (16, 12), (17, 12), (18, 8), (18, 10.5)):  # night, weekend, Mon
        clock.now = at(day, hour)
        assert await ingest.check_silence() == []
    assert await _tickets(store) == []
    for minute in (0, 1, 2):  # Monday 11:30: 1 h Friday + 3.5 h Monday
        clock.now = at(18, 11.5) + 60 * minute
        await ingest.check_silence()
    assert await _tickets(store) == [("unreachable:agent", "open")]


async def test_silent_in_the_day_is_held_at_night_and_opens_in_the_morning(
        world: tuple[Ingest, TicketStore, Clock]) -> None:
    ingest, store, clock = world
    await _last_report(ingest, clock, at(19, 9))  # Tuesday 09:00, then nothing
    for minute in (0, 10, 20):  # Tuesday 22:00: 9 h of working silence, but it is night
        clock.now = at(19, 22) + 60 * minute
        assert await ingest.check_silence() != []
    assert await _tickets(store) == []
    clock.now = at(20, 8.1)  # Wednesday morning
    await ingest.check_silence()
    assert await _tickets(store) == [("unreachable:agent", "open")]
    # it reports again: the fault clears and the ticket resolves
    row = (await ingest.store.all_agents())[0]
    clock.now = at(20, 9)
    await ingest.handle_batch(row, [report(row.id, 2, at=clock.now)])
    assert await _tickets(store) == [("unreachable:agent", "resolved")]
