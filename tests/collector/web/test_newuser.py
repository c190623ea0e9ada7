"""Defects a new user met walking the demo (issue 13 acceptance), each through the real app over
HTTP: the ticket buttons' words, the device page's subtitle, the uptime text."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from collector.app import build_app
from collector.auth import DB_NAME, AuthSettings
from collector.auth.store import Accounts
from collector.config import CollectorSettings, Config, DeviceConfig
from collector.demo import free_port
from collector.keys import STATE, STORE
from collector.tickets.store import NewTicket
from collector.web.hostinfo import since_boot
from probes.model import PollCost, Reading


@pytest.fixture()
async def site(tmp_path: Path) -> AsyncIterator[tuple[str, str]]:
    """(base URL, a technician's token) of an app with one ticket (#1) on ``p1`` and readings:
    ``p1`` polled over SNMP, ``pc`` reported by an agent an hour after its boot."""
    state = tmp_path / "state"
    accounts = Accounts.open(state / DB_NAME)
    accounts.add_user("tech", "technician", "a long enough password")
    token = accounts.new_token("tech-cli", user="tech")[1]
    accounts.close()
    config = Config(path=tmp_path / "c.yaml", collector=CollectorSettings(state_dir=state),
                    devices=(DeviceConfig(name="p1", host="192.0.2.1", site="hq",
                                          location="Room 4"),
                             DeviceConfig(name="pc", host="192.0.2.2", kind="workstation")))
    app = build_app(config, AuthSettings())
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await app[STORE].create(NewTicket(kind="manual", title="paper jam", device="p1"),
                            by="reception", at=1.0)
    p1, pc = config.devices
    await app[STATE].handle(Reading(device="p1", host=p1.host, probe="snmp_printer",
                                    time=time.time(), uptime_seconds=3 * 86400 + 3700,
                                    cost=PollCost(0.033, 2, 0)), p1)
    await app[STATE].handle(Reading(device="pc", host=pc.host, probe="agent", time=time.time(),
                                    uptime_seconds=3660, metrics=(("cpu_percent", 9.5),)), pc)
    try:
        yield f"http://127.0.0.1:{port}", token
    finally:
        await runner.cleanup()


def buttons(page: str) -> list[tuple[str, str]]:
    return re.findall(r'<button type="button" data-state="([a-z_]+)">([^<]*)</button>', page)


async def test_ticket_buttons_say_what_they_do(site: tuple[str, str]) -> None:
    # they read "acknowledged", "in progress", "resolved", and on a resolved ticket "closed"
    # and "open", which looked like its state rather than a way to reopen it
    base, token = site
    auth = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=auth) as http:
        async with http.get(f"{base}/tickets/1") as resp:
            assert resp.status == 200
            assert buttons(await resp.text()) == [
                ("acknowledged", "acknowledge"), ("in_progress", "start"), ("resolved", "resolve")]
        async with http.patch(f"{base}/api/v1/tickets/1", json={"state": "resolved"}) as resp:
            assert resp.status == 200
        async with http.get(f"{base}/tickets/1") as resp:
            assert buttons(await resp.text()) == [("closed", "close"), ("open", "reopen")]


async def test_device_subtitle_has_no_empty_parts(site: tuple[str, str]) -> None:
    # a device without a site read "192.0.2.2 · workstation ·"
    base, token = site
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
        for name, line in (("pc", "192.0.2.2 · workstation"),
                           ("p1", "192.0.2.1 · printer · hq · Room 4")):
            async with http.get(f"{base}/devices/{name}") as resp:
                assert resp.status == 200
                found = re.search(r'<p class="muted" id="device-where">([^<]*)</p>',
                                  await resp.text())
            assert found is not None and found.group(1) == line


@pytest.mark.parametrize(("seconds", "text"), [
    (3660, "1h 1m"), (59, "0h 0m"), (86400 * 2.5, "2d 12h"), (86400 * 400 + 7200, "400d 2h")])
def test_since_boot_says_hours_under_a_day(seconds: float, text: str) -> None:
    # "0.0 days" for a PC booted an hour ago
    assert since_boot(seconds) == text


async def test_device_facts_uptime_in_hours_and_no_cost_for_an_agent(site: tuple[str, str]) -> None:
    # the agent's section read "Up since boot 0.0 days" and "Poll cost 0 ms, 0 PDUs, 0 retries"
    base, token = site
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
        async with http.get(f"{base}/devices/pc") as resp:
            page = await resp.text()
        assert "<th>Up since boot</th><td>1h 1m</td>" in page
        assert "Poll cost" not in page and "<th>cpu_percent</th><td>9.5</td>" in page
        async with http.get(f"{base}/devices/p1") as resp:
            page = await resp.text()
        assert "<th>Up since boot</th><td>3d 1h</td>" in page
        assert "<th>Poll cost</th><td>33 ms, 2 PDUs, 0 retries</td>" in page
