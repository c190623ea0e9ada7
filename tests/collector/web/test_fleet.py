"""The collector's own pages and device API, served by the real app over HTTP, with simulated
printers polled over real SNMP."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from collector.app import build_app
from collector.auth import AuthSettings
from collector.config import (
    CollectorSettings,
    Config,
    TicketSettings,
)
from collector.demo import free_port
from collector.demo.simfleet import SimFleet, make_printer
from tests.apps import printer_devices, serving, simulated_async
from tests.waiting import async_wait_until

# reads without a login, as before accounts came (issue 13); changes still need a token
PUBLIC_READ = AuthSettings(public_read=True)


@pytest.fixture()
async def running(real_service: None, tmp_path: Path) -> AsyncIterator[tuple[str, SimFleet]]:
    fleet = SimFleet(tmp_path / "fleet", count=3, prefix="web")
    fleet.get("web-02").forced_faults = {"jammed"}
    async with simulated_async(fleet) as sim:
        devices = printer_devices(fleet, sim, location="Room 1", interval=0.5, timeout=0.4)
        port = free_port()
        config = Config(path=tmp_path / "c.yaml",
                        collector=CollectorSettings(listen_port=port,
                                                    state_dir=tmp_path / "state", jitter=0.1),
                        tickets=TicketSettings(debounce_polls=2), devices=devices)
        async with serving(build_app(config, PUBLIC_READ), port) as url:
            yield url, fleet


async def fetch(session: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    async with session.get(url) as resp:
        return resp.status, await resp.text()


async def get_json(session: aiohttp.ClientSession, url: str) -> Any:
    async with session.get(url) as resp:
        return await resp.json()


async def test_pages_and_api(running: tuple[str, SimFleet]) -> None:
    base, _ = running
    async with aiohttp.ClientSession() as session:
        async def jam_ticket() -> Any:
            found = await get_json(session, f"{base}/api/v1/tickets?device=web-02")
            return found if found["total"] else None

        tickets = await async_wait_until(jam_ticket, timeout=10, interval=0.2)
        devices = await get_json(session, f"{base}/api/v1/devices")
        by_name = {d["name"]: d for d in devices["devices"]}
        assert set(by_name) == {"web-01", "web-02", "web-03"}
        assert by_name["web-02"]["status"] == "critical"
        assert "jammed" in by_name["web-02"]["readings"]["snmp_printer"]["faults"]

        status, page = await fetch(session, f"{base}/")
        assert status == 200
        for needle in ("web-01", "web-02", "web-03", "critical", "Fleet health", "jammed"):
            assert needle in page
        waste = [s for d in by_name.values() for s in d["readings"]["snmp_printer"]["supplies"]
                 if s["supply_class"] == "filled" and s["percent"] is not None]
        assert waste, "the simulated fleet has colour models with waste boxes"
        assert f"{waste[0]['percent']:.0f}% space left" in page
        status, page = await fetch(session, f"{base}/devices/web-02")
        assert status == 200 and "Supplies" in page and "Trays" in page and "jam" in page
        status, _ = await fetch(session, f"{base}/devices/nope")
        assert status == 404
        async with session.get(f"{base}/api/v1/devices/nope") as resp:
            assert resp.status == 404 and "error" in await resp.json()

        health = await get_json(session, f"{base}/api/v1/health")
        assert health["scheduler"]["polls"] > 0

        [jam] = [t for t in tickets["tickets"] if t["fault_key"] == "jammed"]
        status, page = await fetch(session, f"{base}/tickets")
        assert status == 200 and f"#{jam['id']}" in page and "web-02" in page
        status, page = await fetch(session, f"{base}/tickets/{jam['id']}")
        assert status == 200 and "Timeline" in page and "opened" in page
        status, _ = await fetch(session, f"{base}/tickets/99999")
        assert status == 404


def test_simulated_waste_box_counts_remaining_space_down() -> None:
    """RFC 3805: a receptacle's level is its remaining space, so the demo's waste boxes count down
    as pages print, and a swapped box is back at full capacity."""
    rng = random.Random(3)
    printer = make_printer("sim", 1, rng)  # a colour model: it has a waste box
    waste = next(s for s in printer.supplies if s.class_code == 4)
    assert waste.level >= waste.capacity * 0.2  # fresh-ish boxes: mostly space left
    for s in printer.supplies:
        s.level = s.capacity if s.class_code == 3 else s.level
    for t in printer.trays:
        t.level = t.capacity
    waste.level, waste.pages_per_unit = 90, 1.0  # one unit of space per page
    for _ in range(20):
        printer.step(10, rng, pages_per_minute=60)
        if printer.pages:
            break
    assert 0 < printer.pages < 90
    assert waste.level == 90 - printer.pages
    waste.level = 0  # full: someone swaps it
    printer.step(1, rng, pages_per_minute=0)
    assert waste.level == waste.capacity
