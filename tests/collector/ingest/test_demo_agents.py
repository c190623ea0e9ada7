"""The demo's simulated PCs through the real HTTP API: the filling disk opens its ticket by
itself, the hot PC its memory ticket, the idle ones none."""

from __future__ import annotations

import time
from pathlib import Path

import aiohttp

from collector.demo.agents import SimAgents, demo_hosts
from collector.keys import STORE
from collector.tickets.store import TicketQuery
from tests.collector.ingest.helpers import SECRET, serve


async def test_the_demo_disk_fills_until_its_ticket_opens(tmp_path: Path) -> None:
    async for server in serve(tmp_path):
        sims = SimAgents(server.url, SECRET, demo_hosts(), interval=15)
        async with aiohttp.ClientSession() as session:
            await sims.enroll(session)
            start = time.time() - 30 * 15
            for i in range(30):
                assert await sims.step(session, now=start + 15 * i) == len(sims.hosts)
        found, _ = await server.app[STORE].find(TicketQuery())
        keys = sorted((t.device, t.fault_key) for t in found)
        assert keys == [("demo-pc-accounts", "threshold:disk_used_percent"),
                        ("demo-pc-reception", "threshold:mem_used_percent")]
