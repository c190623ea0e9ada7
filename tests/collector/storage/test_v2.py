"""The v2 write API (/api/v2/write via influxdb-client's async writer) against a real
VictoriaMetrics, which accepts it and stores ``<measurement>_<field>`` metrics (numbers only)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import aiohttp

from collector.config import StorageConfig
from collector.lab import VictoriaMetrics, free_port
from collector.storage.influx import Backoff, InfluxWriter
from collector.storage.lineproto import reading_lines, time_ns
from probes.secret import Secret
from tests.collector.storage.samples import device, printer_reading

FAST = Backoff(initial=0.05, maximum=0.4, attempts=2)


def v2(url: str) -> StorageConfig:
    return StorageConfig(backend="influxdb_v2", url=url, org="fleet", bucket="printers",
                         token=Secret("vm-ignores-it"), batch_size=50, flush_interval=0.05,
                         timeout=5.0)


async def export(vm: VictoriaMetrics, selector: str, samples: int) -> list[dict[str, Any]]:
    """Series matching ``selector``, once at least ``samples`` samples are searchable (VM makes
    fresh samples searchable a moment after /internal/force_flush; give it up to 10 s)."""
    series: list[dict[str, Any]] = []
    async with aiohttp.ClientSession() as http:
        for _ in range(100):
            async with http.get(f"{vm.url}/internal/force_flush") as resp:
                assert resp.status == 200
            async with http.get(f"{vm.url}/api/v1/export", params={"match[]": selector}) as resp:
                assert resp.status == 200
                series = [json.loads(ln) for ln in (await resp.text()).splitlines() if ln]
            if sum(len(s["values"]) for s in series) >= samples:
                return series
            await asyncio.sleep(0.1)
    return series


async def test_v2_write_reaches_victoria_metrics(victoria: VictoriaMetrics, tmp_path: Path) -> None:
    run = f"v2-{time.time_ns()}"
    devices = [device(i, site=run) for i in range(1, 4)]
    now = time.time()
    writer = await InfluxWriter.create(v2(victoria.url), tmp_path, backoff=FAST)
    await writer.start()
    total = 0
    for cycle in range(3):
        for dev in devices:
            reading = printer_reading(dev.name, now - 60 * (2 - cycle), cycle=cycle,
                                      faults=frozenset({"jammed"}) if cycle == 2 else frozenset())
            total += len(reading_lines(reading, dev))
            await writer.handle(reading, dev)
    await writer.close()
    assert writer.stats.written == total and writer.stats.spooled == 0

    levels = await export(victoria, f'{{__name__="supply_level",site="{run}"}}', samples=3 * 18)
    assert len(levels) == 3 * 6  # 3 devices x 6 supplies
    black = [s for s in levels if s["metric"].get("colour") == "black"]
    assert len(black) == 3
    for s in black:
        assert s["metric"]["type"] == "toner" and s["metric"]["kind"] == "printer"
        assert s["values"] == [90, 89, 88]  # level = 90 - cycle
        # our ns timestamps, cut to VictoriaMetrics' milliseconds
        assert s["timestamps"] == [time_ns(now - 60 * (2 - c)) // 10**6 for c in range(3)]
    drum = [s for s in levels if s["metric"]["supply"] == "1.5"]
    assert {v for s in drum for v in s["values"]} == {-3}  # the sentinel, kept raw
    percents = await export(victoria, f'{{__name__="supply_percent",site="{run}"}}', samples=3 * 12)
    assert len(percents) == 3 * 4  # toners only: no percent for sentinel levels
    jams = await export(victoria, f'{{__name__="printer_jammed",site="{run}"}}', samples=3 * 3)
    assert sorted(s["values"][-1] for s in jams) == [1, 1, 1]
    assert all(s["values"][:-1] == [0, 0] for s in jams)


async def test_v2_outage_spools_then_replays(victoria: VictoriaMetrics, tmp_path: Path) -> None:
    run = f"v2-{time.time_ns()}"
    dev = device(7, site=run)
    now = time.time()
    away = await InfluxWriter.create(v2(f"http://127.0.0.1:{free_port()}"), tmp_path, backoff=FAST)
    await away.start()
    for cycle in range(4):
        await away.handle(printer_reading(dev.name, now - 60 * (3 - cycle), cycle=cycle), dev)
    await away.close()
    assert away.stats.written == 0 and away.stats.spooled > 0 and not away.stats.available

    back = await InfluxWriter.create(v2(victoria.url), tmp_path, backoff=FAST)
    await back.start()  # replays at once
    for _ in range(200):
        if back.stats.spool_lines == 0:
            break
        await asyncio.sleep(0.02)
    await back.close()
    assert back.stats.replayed == away.stats.spooled == back.stats.written
    ups = await export(victoria, f'{{__name__="availability_up",site="{run}"}}', samples=4)
    assert [s["values"] for s in ups] == [[1, 1, 1, 1]]
