"""The supplies engine with the real fault engine, ticket store and stock store: a draining
toner opens one reorder ticket at its reorder point, follows the level, resolves on a swap (which
takes one from stock), and a short shelf opens one purchase ticket per part."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from collector.config import DeviceConfig, TicketSettings
from collector.faults.engine import FaultEngine
from collector.supplies.engine import SupplyEngine
from collector.supplies.settings import SuppliesSettings
from collector.supplies.stock import StockStore
from collector.tickets.store import TicketQuery, TicketStore
from probes.model import PageCounter, Reading
from probes.registry import probe_settings
from tests.collector.conftest import Clock, printer, toner

DAY = 86_400.0
PRINTER = DeviceConfig(name="p1", host="192.0.2.1", site="Main office",
                       probes=(probe_settings("snmp_printer"),))
TICKETS = TicketSettings(debounce_polls=2, debounce_seconds=0, flap_window=600,
                         auto_resolve=True, clear_polls=1)


def poll(t: float, level: float, pages: int) -> Reading:
    return replace(printer(supplies=[toner(level)]), time=t,
                   page_counters=(PageCounter("1.1", pages),))


async def run(tmp_path: Path, levels: list[float], *, stock: int = 1,
              every: float = 10_800.0) -> tuple[TicketStore, StockStore, SupplyEngine, Clock]:
    clock = Clock()
    store = await TicketStore.open(tmp_path / "tickets.sqlite3")
    shelf = await StockStore.open(tmp_path / "supplies.sqlite3")
    await shelf.change("CF258A", set_to=stock, by="test")
    faults = FaultEngine(store, TICKETS, devices=(PRINTER,), now=clock)
    supplies = await SupplyEngine.create(SuppliesSettings(), tickets=store, stock=shelf,
                                         now=clock)
    faults.advisor = supplies
    pages = 0
    for i, level in enumerate(levels):
        clock.now = 1_800_000_000.0 + i * every
        if i and level < levels[i - 1]:
            pages += int((levels[i - 1] - level) * 30)
        reading = poll(clock.now, level, pages)
        await supplies.handle(reading, PRINTER)
        await faults.handle(reading, PRINTER)
    return store, shelf, supplies, clock


def drain(start: float, stop: float, per_hour: float) -> list[float]:
    out, level = [], start
    while level > stop:
        out.append(round(level, 1))
        level -= per_hour
    return out


async def test_one_reorder_per_cartridge_follows_and_resolves(tmp_path: Path) -> None:
    # 5 %/day, a poll every 3 hours; reorder point = 5 x (5 + 2) days = 35 %
    first = drain(100, 12, 5 / 8)
    bounce = [30.0, *drain(29.8, 20, 5 / 8)]  # shaken: +18 points, then drains on
    second = drain(100, 80, 5 / 8)
    store, shelf, supplies, _ = await run(tmp_path, first + bounce + second)
    try:
        tickets, _ = await store.find(TicketQuery(kinds=("reorder",), limit=100,
                                                  newest_first=False))
        per_cartridge = [t for t in tickets if t.fault_key == "reorder:1.1"]
        assert len(per_cartridge) == 1, [t.title for t in tickets]
        ticket = per_cartridge[0]
        assert ticket.state == "resolved"  # the swap to 100 %
        assert ticket.part_number == "CF258A"
        opened = (await store.events(ticket.id))[0]
        events = opened[:]
        first_text = events[0].text
        assert "days left" in first_text and "Main office" in first_text
        # it opened at the reorder point: about 7 days (35 %) left
        assert "about 6 days left" in first_text or "about 7 days left" in first_text
        notes = [e for e in events if e.kind == "note"]
        assert 4 <= len(notes) <= 8  # one a day as it drains from 35 % to 12 %
        assert any(e.kind == "severity" for e in events)  # critical inside the lead time
        track = supplies.track("p1", "1.1")
        assert track is not None and len(track.swaps) == 1
        assert 20.0 <= track.swaps[0].pulled_at <= 21.0
        assert await shelf.get("CF258A") == 0  # the swap took the one on the shelf
    finally:
        await store.close()
        await shelf.close()


async def test_low_stock_opens_one_purchase_ticket(tmp_path: Path) -> None:
    store, shelf, supplies, clock = await run(tmp_path, drain(100, 20, 5 / 8), stock=0)
    try:
        tickets, _ = await store.find(TicketQuery(kinds=("reorder",), limit=100))
        purchase = [t for t in tickets if t.fault_key == "purchase:CF258A"]
        assert len(purchase) == 1 and purchase[0].unresolved
        assert purchase[0].device is None and purchase[0].part_number == "CF258A"
        await shelf.change("CF258A", delta=3, by="test")
        await supplies.check_stock(at=clock.now)
        after = await store.get(purchase[0].id)
        assert after.state == "resolved"
    finally:
        await store.close()
        await shelf.close()
