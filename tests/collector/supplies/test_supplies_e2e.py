"""End to end: a simulated printer served by snmpsim whose toner drains, the whole collector app
(scheduler, InfluxDB writer to a real influxd, fault engine, ticket store, supplies engine) on a
time scale where a day lasts 2 s. A reorder ticket opens once at the reorder point, follows the
level, resolves on a swap; the swap takes the one cartridge on the shelf and the empty shelf opens
one purchase ticket; forecasts land in InfluxDB."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from collector.app import build_app
from collector.config import (
    CollectorSettings,
    Config,
    StorageConfig,
    TicketSettings,
)
from collector.demo import Influxd, Snmpsim, free_port
from collector.demo.simfleet import SimFleet, SimPrinter
from collector.keys import STORE, SUPPLIES
from collector.supplies.settings import SuppliesSettings
from collector.supplies.stock import DB_NAME, StockStore
from collector.tickets.store import Ticket, TicketQuery
from tests.apps import printer_devices, simulated

DAY_S = 2.0  # one simulated day, in real seconds
RATE = 5.0  # percent per simulated day


@pytest.fixture(scope="module")
def printer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SimFleet, Snmpsim]]:
    fleet = SimFleet(tmp_path_factory.mktemp("supfleet"), count=1, prefix="sup")
    with simulated(fleet) as sim:
        yield fleet, sim


def toner(p: SimPrinter) -> Any:
    return next(s for s in p.supplies if s.part == "CF258A")


async def reorder_tickets(app: web.Application) -> list[Ticket]:
    found, _ = await app[STORE].find(TicketQuery(kinds=("reorder",), limit=100,
                                                 newest_first=False))
    return found


async def test_toner_drains_orders_once_resolves_on_swap(
        printer: tuple[SimFleet, Snmpsim], influxd: Influxd, tmp_path: Path) -> None:
    fleet, sim = printer
    p = fleet.get("sup-01")
    cart = toner(p)
    cart.level = 60
    fleet.write(p)
    db = f"sup_{uuid.uuid4().hex[:8]}"
    shelf = StockStore.open_sync(tmp_path / DB_NAME)
    shelf.change_sync("CF258A", set_to=1, by="test")
    shelf.close_sync()
    config = Config(
        path=tmp_path / "t.yaml",
        collector=CollectorSettings(listen_port=free_port(), state_dir=tmp_path, jitter=0.1),
        storage=StorageConfig(backend="influxdb_v1", url=influxd.url, database=db,
                              batch_size=50, flush_interval=0.2, timeout=2.0),
        tickets=TicketSettings(debounce_polls=2, clear_polls=1),
        devices=printer_devices(fleet, sim, retries=1, interval=0.25, timeout=1.0,
                                full_every=4))
    app = build_app(config)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        app[SUPPLIES].settings = SuppliesSettings(time_scale=86_400 / DAY_S)
        step = 0.4  # real seconds per 1 % of toner
        assert abs(1 / step - RATE / DAY_S) < 1e-9
        seen_levels: list[int] = []
        while cart.level > 12:
            cart.level -= 1
            p.pages += 30
            fleet.write(p)
            seen_levels.append(cart.level)
            await asyncio.sleep(step)
        await asyncio.sleep(1.0)
        tickets = [t for t in await reorder_tickets(app) if t.fault_key == "reorder:1.1"]
        assert len(tickets) == 1, [t.title for t in tickets]
        ticket = tickets[0]
        assert ticket.unresolved and ticket.part_number == "CF258A"
        events, _ = await app[STORE].events(ticket.id)
        opened = events[0]
        assert "days left" in opened.text and "HQ" in opened.text, opened.text
        # opened near the reorder point, 5 %/day x (5 + 2) days = 35 % (7 days left)
        track = app[SUPPLIES].track("sup-01", "1.1")
        assert track is not None and track.reorder_percent is not None
        assert 25 <= track.reorder_percent <= 45, track.reorder_percent
        assert any(e.kind == "note" for e in events)  # it followed the level
        # the swap: a full cartridge
        cart.level = 100
        p.pages += 30
        fleet.write(p)
        for _ in range(40):
            await asyncio.sleep(0.25)
            if (await app[STORE].get(ticket.id)).state == "resolved":
                break
        assert (await app[STORE].get(ticket.id)).state == "resolved"
        assert len(track.swaps) == 1 and 11 <= track.swaps[0].pulled_at <= 14
        await asyncio.sleep(1.0)
        assert [t.fault_key for t in await reorder_tickets(app)].count("reorder:1.1") == 1
        purchases = [t for t in await reorder_tickets(app) if t.fault_key == "purchase:CF258A"]
        assert len(purchases) == 1 and purchases[0].unresolved
        stock = app[SUPPLIES].stock
        assert stock is not None and await stock.get("CF258A") == 0
    finally:
        await runner.cleanup()
    result: Any = influxd.query('SELECT last("days_left") FROM "supply_forecast" '
                                "WHERE \"supply\" = '1.1'", db=db)
    series = result["results"][0].get("series", [])
    assert series and series[0]["values"][0][1] > 0
