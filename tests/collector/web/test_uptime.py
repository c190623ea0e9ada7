"""The uptime page, its CSVs and the API from the real app (the accounting itself is tested in
tests/collector/uptime): readings go through the app's sinks into the span record."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from collector.app import build_app
from collector.auth import AuthSettings
from collector.config import CollectorSettings, Config, DeviceConfig
from collector.demo import free_port
from collector.keys import SINKS
from probes.registry import probe_settings
from tests.collector.conftest import down, printer

P1 = DeviceConfig(name="p1", host="192.0.2.1", site="HQ",
                  probes=(probe_settings("snmp_printer", interval=60.0),))


@pytest.fixture()
async def app_url(tmp_path: Path) -> AsyncIterator[str]:
    config = Config(path=tmp_path / "c.yaml",
                    collector=CollectorSettings(state_dir=tmp_path / "state"), devices=(P1,))
    app = build_app(config, auth=AuthSettings(public_read=True))
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        now = time.time()
        # an hour of polls a minute apart, with a 10-minute outage in the middle
        for minute in range(60):
            at = now - 3600 + 60 * minute
            reading = down("p1") if 20 <= minute < 30 else printer("p1")
            for sink in list(app[SINKS]):
                await sink.handle(replace(reading, time=at), P1)
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_uptime_page_csv_and_api(app_url: str) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{app_url}/uptime.csv?range=24h") as r:
            assert r.status == 200 and r.content_type == "text/csv"
            (row,) = list(csv.DictReader(io.StringIO(await r.text())))
        assert row["device"] == "p1" and row["incidents"] == "1"
        assert float(row["availability_percent"]) == pytest.approx(100 * 49 / 59, abs=0.01)
        async with http.get(f"{app_url}/uptime.csv?window=24h&what=incidents") as r:
            (incident,) = list(csv.DictReader(io.StringIO(await r.text())))
        assert float(incident["duration_s"]) == pytest.approx(600)
        async with http.get(f"{app_url}/api/v1/uptime?window=90d") as r:
            body = await r.json()
        assert r.status == 200 and body["devices"][0]["down_s"] == pytest.approx(600)
        async with http.get(f"{app_url}/api/v1/uptime?window=1y") as r:
            assert r.status == 400
        async with http.get(f"{app_url}/uptime?window=7d") as r:
            page = await r.text()
        assert r.status == 200 and 'id="uptime-devices"' in page and "p1" in page
        assert "83.05%" in page  # 49 of 59 counted minutes
