"""Tickets through the real path: snmpsim over UDP → scheduler → printer probe → fault engine →
SQLite → REST API, in the real collector app (collector.app.build_app) on a loopback port.

- A simulated printer whose error state is SET over SNMP (snmpsim ``writecache``): a jam opens
  exactly one ticket within one poll interval plus the debounce; clearing it resolves the ticket.
- A second printer is "unplugged" (its own snmpsim stopped): an unreachable ticket opens only
  after the sleep grace, and resolves when it is plugged back in.
- The collector restarts on the same state directory: tickets and timelines are kept, nothing is
  opened twice, and a jam coming back within the flap window reopens its old ticket.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from pysnmp.hlapi.v3arch.asyncio import (
    CommunityData,
    ContextData,
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    UdpTransportTarget,
    set_cmd,
)
from pysnmp.proto.rfc1902 import OctetString

from collector.app import build_app
from collector.auth import AuthSettings
from collector.config import (
    CollectorSettings,
    Config,
    DeviceConfig,
    SnmpProfile,
    TicketSettings,
)
from collector.demo import Snmpsim, free_port
from probes.printer_mib import HR_PRINTER_ERROR_STATE
from probes.registry import probe_settings
from probes.secret import Secret
from tests import apps
from tests.waiting import async_wait_until

RECORDINGS = Path(__file__).resolve().parents[2] / "fixtures" / "recordings"
INTERVAL = 1.0
DEBOUNCE = 2
GRACE = 4.0
SLACK = 1.5  # scheduling, SNMP round trips and the API polling step

# reads without a login, as before accounts came (issue 13); changes still need a token
PUBLIC_READ = AuthSettings(public_read=True)


@pytest.fixture()
def sims(real_service: None) -> Iterator[tuple[Snmpsim, Snmpsim]]:
    jam = Snmpsim([RECORDINGS / "tickets_jam.snmprec"])
    sleeper = Snmpsim([RECORDINGS / "tickets_sleeper.snmprec"])
    try:
        yield jam.start(), sleeper.start()
    finally:
        jam.stop()
        sleeper.stop()


def make_config(jam: Snmpsim, sleeper: Snmpsim, state_dir: Path, port: int) -> Config:
    def device(name: str, sim: Snmpsim) -> DeviceConfig:
        return DeviceConfig(
            name=name, host=sim.host, port=sim.port, site="hq",
            snmp=SnmpProfile(name="e2e", community=Secret(f"tickets_{name}"), timeout=0.3,
                             retries=0),
            probes=(probe_settings("snmp_printer", interval=INTERVAL, timeout=0.5,
                                full_every=5),))

    return Config(
        path=state_dir / "fleetwatch.yaml",
        collector=CollectorSettings(listen_port=port, state_dir=state_dir, jitter=0.0,
                                    sleep_grace=GRACE),
        devices=(device("jam", jam), device("sleeper", sleeper)),
        tickets=TicketSettings(debounce_polls=DEBOUNCE, flap_window=3600, auto_resolve=True),
    )


@dataclass
class Collector:
    config: Config
    url: str
    http: aiohttp.ClientSession
    runner: web.AppRunner | None = None

    async def start(self) -> None:
        self.runner, _ = await apps.start(build_app(self.config, PUBLIC_READ),
                                          self.config.collector.listen_port)

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    async def tickets(self) -> list[dict[str, Any]]:
        async with self.http.get(f"{self.url}/api/v1/tickets?order=oldest&limit=500") as r:
            assert r.status == 200
            body = await r.json()
            result: list[dict[str, Any]] = body["tickets"]
            return result

    async def polled(self) -> bool:
        """Every device has a reading of its printer probe."""
        async with self.http.get(f"{self.url}/api/v1/devices") as r:
            assert r.status == 200
            devices = (await r.json())["devices"]
        return bool(devices) and all(
            d["readings"].get("snmp_printer", {}).get("time", 0) > 0 for d in devices)

    async def timeline(self, ticket_id: int) -> list[dict[str, Any]]:
        async with self.http.get(f"{self.url}/api/v1/tickets/{ticket_id}") as r:
            assert r.status == 200
            events: list[dict[str, Any]] = (await r.json())["events"]
            return events

    async def wait_for(self, predicate: Any, timeout: float) -> list[dict[str, Any]]:
        """Poll the API until ``predicate(tickets)``; returns those tickets."""
        tickets: list[dict[str, Any]] = []

        async def reached() -> bool:
            nonlocal tickets
            tickets = await self.tickets()
            return bool(predicate(tickets))

        try:
            await async_wait_until(reached, timeout=timeout, interval=0.1)
        except TimeoutError:
            raise AssertionError(f"not reached within {timeout:.1f} s; tickets: {tickets}") from None
        return tickets


@pytest.fixture()
async def collector(sims: tuple[Snmpsim, Snmpsim], tmp_path: Path
                    ) -> AsyncIterator[Collector]:
    port = free_port()
    config = make_config(*sims, tmp_path / "state", port)
    async with aiohttp.ClientSession() as http:
        c = Collector(config, f"http://127.0.0.1:{port}", http)
        await c.start()
        try:
            yield c
        finally:
            await c.stop()


async def set_error_state(sim: Snmpsim, hex_octets: str) -> None:
    engine = SnmpEngine()
    try:
        error, status, _, _ = await set_cmd(
            engine, CommunityData("tickets_jam"),
            await UdpTransportTarget.create((sim.host, sim.port), timeout=1, retries=2),
            ContextData(),
            ObjectType(ObjectIdentity(f"{HR_PRINTER_ERROR_STATE}.1"),
                       OctetString(hexValue=hex_octets)))
        assert not error and not int(status), (error, status)
    finally:
        engine.close_dispatcher()


def of(tickets: list[dict[str, Any]], device: str, key: str) -> list[dict[str, Any]]:
    return [t for t in tickets if t["device"] == device and t["fault_key"] == key]


async def test_tickets_end_to_end(collector: Collector, sims: tuple[Snmpsim, Snmpsim]) -> None:
    jam_sim, sleeper_sim = sims
    await async_wait_until(collector.polled, timeout=INTERVAL + SLACK)  # both polled, healthy
    assert await collector.tickets() == []

    # --- a jam opens exactly one ticket within one interval plus the debounce ----------------
    await set_error_state(jam_sim, "04")  # bit 5: jammed
    started = time.monotonic()
    budget = INTERVAL + DEBOUNCE * INTERVAL + SLACK
    tickets = await collector.wait_for(lambda ts: of(ts, "jam", "jammed"), budget)
    took = time.monotonic() - started
    assert took <= budget
    await asyncio.sleep(INTERVAL * 2)  # more polls of the same jam: no second ticket
    tickets = await collector.tickets()
    assert len(tickets) == 1, tickets
    jam_ticket = tickets[0]
    assert (jam_ticket["state"], jam_ticket["severity"], jam_ticket["title"]) == (
        "open", "critical", "jam: Paper jam")

    # --- cleared: the ticket resolves by itself ----------------------------------------------
    await set_error_state(jam_sim, "00")
    tickets = await collector.wait_for(
        lambda ts: of(ts, "jam", "jammed")[0]["state"] == "resolved", INTERVAL + SLACK)
    assert len(tickets) == 1
    kinds = [e["kind"] for e in await collector.timeline(jam_ticket["id"])]
    assert kinds == ["opened", "cleared", "state"]

    # --- unplugged: unreachable only after the sleep grace -----------------------------------
    sleeper_sim.kill()
    unplugged = time.monotonic()
    while time.monotonic() - unplugged < GRACE - 0.5:
        assert not of(await collector.tickets(), "sleeper", "unreachable"), \
            "unreachable ticket during the sleep grace"
        await asyncio.sleep(0.2)
    tickets = await collector.wait_for(lambda ts: of(ts, "sleeper", "unreachable"),
                                       GRACE + DEBOUNCE * INTERVAL + SLACK)
    assert time.monotonic() - unplugged >= GRACE
    down = of(tickets, "sleeper", "unreachable")
    assert len(down) == 1 and down[0]["state"] == "open" and len(tickets) == 2

    # --- restart on the same state directory -------------------------------------------------
    before = {t["id"]: (t, await collector.timeline(t["id"])) for t in tickets}
    await collector.stop()
    await collector.start()
    await asyncio.sleep(INTERVAL * 3)  # the sleeper is still down, the jam still clear
    after = await collector.tickets()
    assert [t["id"] for t in after] == list(before), "no ticket lost, none opened twice"
    for t in after:
        old, old_events = before[t["id"]]
        assert t == old
        assert await collector.timeline(t["id"]) == old_events

    # the jam comes back within the flap window: its ticket reopens, no new ticket
    await set_error_state(jam_sim, "04")
    tickets = await collector.wait_for(
        lambda ts: of(ts, "jam", "jammed")[0]["state"] == "open", INTERVAL + SLACK)
    assert len(tickets) == 2 and of(tickets, "jam", "jammed")[0]["recurrences"] == 1
    await set_error_state(jam_sim, "00")

    # plugged back in: the unreachable ticket resolves
    await asyncio.to_thread(sleeper_sim.start)  # start() runs its own event loop
    tickets = await collector.wait_for(
        lambda ts: of(ts, "sleeper", "unreachable")[0]["state"] == "resolved",
        INTERVAL * 2 + SLACK)
    assert len(tickets) == 2
