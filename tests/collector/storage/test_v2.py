"""The v2 write API (/api/v2/write via influxdb-client's async writer) against a real
VictoriaMetrics, which accepts it and stores ``<measurement>_<field>`` metrics (numbers only),
and against a small 2.x-style server on loopback for refusals (VictoriaMetrics skips bad lines
itself and answers 204, so it cannot show how the writer handles a refused point)."""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from collector.config import StorageConfig
from collector.demo import VictoriaMetrics, free_port
from collector.storage import StorageError
from collector.storage.influx import Backoff, InfluxWriter
from collector.storage.lineproto import reading_lines, time_ns
from probes.secret import Secret
from tests.collector.storage.samples import device, parse_line, printer_reading, serve
from tests.waiting import async_wait_until

FAST = Backoff(initial=0.05, maximum=0.4, attempts=2)


def v2(url: str) -> StorageConfig:
    return StorageConfig(backend="influxdb_v2", url=url, org="fleet", bucket="printers",
                         token=Secret("vm-ignores-it"), batch_size=50, flush_interval=0.05,
                         timeout=5.0)


async def export(vm: VictoriaMetrics, selector: str, samples: int) -> list[dict[str, Any]]:
    """Series matching ``selector``, once at least ``samples`` samples are searchable (VM makes
    fresh samples searchable a moment after /internal/force_flush; give it up to 10 s)."""
    series: list[dict[str, Any]] = []
    series: list[Any] = []

    async def enough() -> bool:
        nonlocal series
        async with http.get(f"{vm.url}/internal/force_flush") as resp:
            assert resp.status == 200
        async with http.get(f"{vm.url}/api/v1/export", params={"match[]": selector}) as resp:
            assert resp.status == 200
            series = [json.loads(ln) for ln in (await resp.text()).splitlines() if ln]
        return sum(len(s["values"]) for s in series) >= samples

    async with aiohttp.ClientSession() as http:
        with contextlib.suppress(TimeoutError):  # the caller's assertion shows what arrived
            await async_wait_until(enough, timeout=10, interval=0.1)
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
    await async_wait_until(lambda: back.stats.spool_lines == 0, timeout=4,
                           message="the spool replayed")
    await back.close()
    assert back.stats.replayed == away.stats.spooled == back.stats.written
    ups = await export(victoria, f'{{__name__="availability_up",site="{run}"}}', samples=4)
    assert [s["values"] for s in ups] == [[1, 1, 1, 1]]


class Influx2Like:
    """``POST /api/v2/write`` answering the way InfluxDB 2.x OSS does (http/write_handler.go):
    - a line that does not parse refuses the whole request: 400
      ``{"code": "invalid", "message": "unable to parse '<line>': <reason>"}``, nothing stored;
    - a point whose field type differs from the stored one is dropped alone and the others are
      stored: 422 ``{"code": "unprocessable entity", "message": "failure writing points to
      database: partial write: field type conflict: … dropped=N"}``.
    Parsing is the independent reference parser of ``samples``; ``stored`` holds the accepted
    lines in arrival order."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.stored: list[str] = []
        self.requests = 0
        self.types: dict[tuple[str, str], str] = {}
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> Influx2Like:
        app = web.Application()
        app.router.add_post("/api/v2/write", self._write)
        self._runner, self.url = await serve(app)
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @staticmethod
    def _error(status: int, code: str, message: str) -> web.Response:
        return web.json_response({"code": code, "message": message}, status=status)

    async def _write(self, request: web.Request) -> web.Response:
        self.requests += 1
        if request.headers.get("Authorization") != f"Token {self.token}":
            return self._error(401, "unauthorized", "unauthorized access")
        if request.query.get("bucket") != "printers" or request.query.get("org") != "fleet":
            return self._error(404, "not found", f'bucket "{request.query.get("bucket")}" '
                               "not found")
        lines = [ln for ln in (await request.text()).split("\n") if ln]
        points = []
        for line in lines:
            try:
                points.append((line, parse_line(line)))
            except (ValueError, IndexError):
                return self._error(400, "invalid", f"unable to parse '{line}': missing fields")
        conflicts = []
        for line, (measurement, _, fields, _) in points:
            clash = [(name, kind, self.types[(measurement, name)])
                     for name, (kind, _) in fields.items()
                     if self.types.get((measurement, name), kind) != kind]
            if clash:
                conflicts.append((measurement, *clash[0]))
                continue
            for name, (kind, _) in fields.items():
                self.types[(measurement, name)] = kind
            self.stored.append(line)
        if conflicts:
            measurement, name, got, have = conflicts[0]
            return self._error(
                422, "unprocessable entity",
                "failure writing points to database: partial write: field type conflict: "
                f'input field "{name}" on measurement "{measurement}" is type {got}, already '
                f"exists as type {have} dropped={len(conflicts)}")
        return web.Response(status=204)


async def test_v2_a_refused_point_is_dropped_alone(tmp_path: Path) -> None:
    server = await Influx2Like("s3cret").start()
    ns = 1_795_000_000 * 10**9
    ok = [f"good,t=x n={k}i {ns + k}" for k in range(30)]
    try:
        cfg = replace(v2(server.url), token=Secret("s3cret"), batch_size=1000)
        writer = await InfluxWriter.create(cfg, tmp_path, backoff=FAST)
        await writer.write_lines([*ok[:5], f"typed f=1i {ns}"])
        await writer.flush()
        # a field type conflict mid-batch: 2.x stores the rest and says how many it dropped
        await writer.write_lines([*ok[5:10], f'typed f="Toner not found" {ns + 1}', *ok[10:15]])
        await writer.flush()
        assert writer.stats.dropped_malformed == 1
        # an unparsable line: 2.x refuses the whole request quoting the line, the writer
        # bisects to the bad one (whose text must not read as "bucket not found")
        bad = 'supply,device=p1 description="Toner not found" soon'
        await writer.write_lines([*ok[15:20], bad, *ok[20:25]])
        await writer.flush()
        assert writer.stats.dropped_malformed == 2
        await writer.write_lines(ok[25:])
        await writer.close()
    finally:
        await server.stop()
    assert writer.stats.available and writer.stats.spooled == 0
    assert writer.stats.written == 31 and writer.stats.dropped_malformed == 2
    assert [ln for ln in server.stored if ln.startswith("good")] == ok  # each once, in order
    assert [ln for ln in server.stored if ln.startswith("typed")] == [f"typed f=1i {ns}"]


async def test_v2_needs_a_bucket(tmp_path: Path) -> None:
    # no fallback to `database` (a v1 key): the loader requires bucket, and so does the writer
    with pytest.raises(StorageError, match="needs a bucket"):
        await InfluxWriter.create(replace(v2("http://127.0.0.1:1"), bucket=None), tmp_path)
