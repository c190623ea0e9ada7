"""Host charts on the device page (issue 13): the pure builders, the host queries against a
real influxd holding 30 days of agent reports, and the page of a host whose reports came in
through the real ingest API (HTTP) and the real InfluxDB writer."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from playwright.async_api import Page, expect

from agent.schema import Cpu, Disk, Inventory, InventoryDisk, Memory, Report, Snapshot
from collector.app import build_app
from collector.auth import AuthSettings
from collector.config import CollectorSettings, Config, DeviceConfig, StorageConfig
from collector.demo import Influxd, free_port
from collector.ingest.lines import report_lines
from collector.ingest.rollup import HourlyRollup
from collector.ingest.service import Ingest
from collector.ingest.settings import IngestSettings
from collector.ingest.store import DB_NAME, AgentStore
from collector.keys import INGEST, SINKS
from collector.state import DeviceState
from collector.storage.influx import InfluxWriter
from collector.storage.query import InfluxQuery
from collector.web.history import (
    WINDOWS,
    host_charts,
    host_part_queries,
    host_queries,
    host_rolled_rows,
    host_span,
    merge_host_rows,
)
from collector.web.hostinfo import host_facts, inventory_facts
from probes.model import Reading
from tests.browser import browser, chromium_page, screenshot  # noqa: F401  (pytest fixtures)

DAY = 86400.0
HOST = "pc-o'hist"  # a quote: the InfluxQL literal must hold
SILENT_DAY = 10  # no report at all that day (the PC was off)
MOUNTS = {"/": None, "/home": 20.0, "/var": 80.0, "/boot": 30.0, "/data": 10.0, "/srv": 5.0}
SECRET = "enroll-host-history"
LATE = "pc-late"


async def _discard(lines: list[str]) -> None:
    raise AssertionError("not used: the test writes the lines itself")


def host_reports(agent_id: str, now: float) -> list[Report]:
    """Four reports a day, 6 h apart, for 30 days (none on :data:`SILENT_DAY`), oldest first.
    CPU 10 + days ago; one 97 % spike 1 s after the newest regular report (same bucket in
    every window); "/" fills from 40 % to 69 %; the newest report carries the inventory."""
    out: list[Report] = []
    times = [(d, now - d * DAY - k * 6 * 3600 - 60)
             for d in range(29, -1, -1) for k in (3, 2, 1, 0) if d != SILENT_DAY]
    times.append((0, times[-1][1] + 1))
    for seq, (d, at) in enumerate(times, 1):
        spike = seq == len(times)
        disks = [Disk(mountpoint=m, device=f"/dev/sd{i}", fstype="ext4",
                      used_percent=(40.0 + 29 - d) if pct is None else pct)
                 for i, (m, pct) in enumerate(MOUNTS.items())]
        inventory = Inventory(hostname="pc-hist.hq.example.org", os="Linux", os_release="6.1",
                              cpu_model="Xeon E-2224", cpu_cores=4, cpu_threads=4,
                              memory_bytes=16 * 2**30, disks=[InventoryDisk(
                                  device="/dev/sda1", mountpoint="/", fstype="ext4",
                                  total_bytes=512 * 2**30)]) if spike else None
        out.append(Report(agent_id=agent_id, seq=seq, time=at, snapshot=Snapshot(
            cpu=Cpu(percent=97.0 if spike else 10.0 + d, load1=0.5),
            memory=Memory(used_percent=50.0 + d % 5, swap_used_percent=5.0,
                          swap_total_bytes=2**30),
            disks=disks, uptime_seconds=3 * DAY), inventory=inventory))
    return out


# --- pure ---------------------------------------------------------------------------------


def _rows(field: str, values: list[float], step: float, **tags: str) -> list[dict[str, Any]]:
    return [{"time": int((1000 + i * step) * 1e9), field: v, **tags} for i, v in enumerate(values)]


def test_host_charts_cap_mountpoints_name_the_rest_and_skip_leading_empty_buckets() -> None:
    w = WINDOWS["24h"]
    disks = [r for i, m in enumerate(["/a", "/b", "/c", "/d", "/e", "/f"])
             for r in _rows("used", [10.0 * i, 10.0 * i + 5], 900, mountpoint=m)]
    rows = {"cpu": [{"time": 1000 * 10**9, "mean": 12.0, "max": 90.0, "load1": None}],
            "memory": _rows("mean", [40.0, 41.0], 900),
            "disks": disks,
            "reports": _rows("reports", [0, 0, 90, 0, 88], 900)}
    cpu, mem, disk, load, reports = host_charts(rows, 1000 + 86400.0, w)
    assert "24 hours" in cpu.title and "15 min" in cpu.title
    assert [(line.label, line.last) for line in cpu.lines] == [("mean", "12%"), ("max", "90%")]
    assert load.empty  # a Windows host without load averages: no made-up zero line
    assert [line.label for line in mem.lines] == ["mean", "max", "swap"] and not mem.empty
    # the fullest four, fullest first; the others named with their latest value
    assert [line.label for line in disk.lines] == ["/f", "/e", "/d", "/c"]
    assert disk.note == "not drawn: /b 15%, /a 5%"
    (line,) = reports.lines
    # two leading empty buckets left out; the zero after the first report is drawn
    assert len(line.paths) == 1 and len(line.paths[0].split()) == 3 and line.last == "88"


def test_inventory_facts_are_plain_text_and_skip_what_is_unknown() -> None:
    reading = Reading(device="pc", host="pc", probe="agent", time=10 * DAY,
                      uptime_seconds=2.5 * DAY)
    facts = dict(inventory_facts({"os": "Windows", "os_release": "11", "os_version": "11",
                                  "cpu_model": "i5", "cpu_cores": 4, "memory_bytes": 8 * 2**30,
                                  "ips": [f"10.0.0.{i}" for i in range(10)],
                                  "disks": [{"device": "C:", "mountpoint": "C:\\",
                                             "total_bytes": 2**40}, "junk"],
                                  "time": 9 * DAY}, reading))
    assert facts["OS"] == "Windows 11" and facts["CPU"] == "i5 (4 cores)"
    assert facts["Memory"] == "8.0 GiB" and facts["Disks"] == "C: on C:\\, 1.0 TiB"
    assert facts["Addresses"].endswith("and 2 more")
    assert facts["Up since boot"].startswith("2d 12h (booted ")
    assert "Serial" not in facts and "Hardware" not in facts
    assert inventory_facts(None, None) == []


async def test_host_facts_know_an_enrolled_host_before_its_first_report(tmp_path: Path
                                                                       ) -> None:
    store = await AgentStore.open(tmp_path / DB_NAME)
    try:
        config = Config(path=tmp_path / "c.yaml",
                        collector=CollectorSettings(state_dir=tmp_path),
                        devices=(DeviceConfig(name="reception", host="pc-rec.hq.example.org"),))
        ingest = Ingest(store, IngestSettings(), config, [])
        printer = DeviceState(DeviceConfig(name="printer-1", host="192.0.2.9"))
        reception = DeviceState(config.devices[0])  # no reading since the restart
        assert await host_facts(ingest, reception) is None and await host_facts(None, printer) is None
        row, _ = await store.enroll("pc-rec", "127.0.0.1")  # maps to "reception" by host name
        assert await host_facts(ingest, reception) == []
        await store.put_inventory(row.id, 5.0, '{"os": "Linux", "memory_bytes": 1073741824}')
        assert await host_facts(ingest, reception) == [("OS", "Linux"), ("Memory", "1.0 GiB"),
                                                        ("Inventory of", time.strftime(
                                                            "%Y-%m-%d %H:%M",
                                                            time.localtime(5.0)))]
        assert await host_facts(ingest, printer) is None
        other = sqlite3.connect(tmp_path / DB_NAME)  # the database breaks under the page
        other.execute("DROP TABLE inventory")
        other.commit()
        other.close()
        assert await host_facts(ingest, reception) is None  # logged; readings alone decide
    finally:
        await store.close()


# --- queries against a real influxd --------------------------------------------------------


@pytest.fixture(scope="module")
def host_db(influxd: Influxd) -> str:
    db = f"hosts_{uuid.uuid4().hex[:8]}"
    influxd.query(f'CREATE DATABASE "{db}"')
    now = time.time()
    device = DeviceConfig(name=HOST, host="pc-hist", kind="workstation")
    other = DeviceConfig(name="pc-other", host="pc-other", kind="workstation")
    lines = [line for r in host_reports("a1", now) for line in report_lines(r, device)]
    lines += [line for r in host_reports("a2", now)[:8] for line in report_lines(r, other)]
    # hourly rollups of HOST's reports (written as the ingest would: every hour closed long
    # ago), and of "pc-late" only from the middle of an hour 12.3 days ago on (the rollup
    # feature arrived then); "pc-other" has none (an InfluxDB of raw points only)
    late = DeviceConfig(name=LATE, host="pc-late", kind="workstation")
    rollup = HourlyRollup(_discard, now=lambda: now + 2 * DAY)
    for r in host_reports("a1", now):
        rollup.add(r, device)
    for r in host_reports("a3", now):
        lines += report_lines(r, late)
        if r.time > now - 12.3 * DAY:
            rollup.add(r, late)
    lines += rollup.take()
    req = urllib.request.Request(f"{influxd.url}/write?db={db}", data="\n".join(lines).encode(),
                                 method="POST")
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 204
    return db


async def _run(influxd: Influxd, db: str, qs: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    reader = await InfluxQuery.create(StorageConfig(url=influxd.url))
    try:
        return {name: await reader.query(q, db=db) for name, q in qs.items()}
    finally:
        await reader.close()


async def test_host_queries_return_the_host_series(influxd: Influxd,
                                                   host_db: str) -> None:
    db = host_db
    rows = await _run(influxd, db, host_queries(HOST))
    regular = 29 * 4  # buckets with a report: the spike shares the newest one
    cpu = rows["cpu"]
    assert len(cpu) == regular
    assert cpu[0]["mean"] == 39 and max(r["max"] for r in cpu) == 97
    spiked = next(r for r in cpu if r["max"] == 97)
    assert spiked["mean"] == pytest.approx((10 + 97) / 2) and spiked["load1"] == 0.5
    assert len(rows["memory"]) == regular and {r["swap"] for r in rows["memory"]} == {5.0}
    by_mount: dict[str, list[float]] = {}
    for r in rows["disks"]:
        by_mount.setdefault(r["mountpoint"], []).append(r["used"])
    assert set(by_mount) == set(MOUNTS) and all(len(v) == regular for v in by_mount.values())
    assert by_mount["/"][0] == 40 and by_mount["/"][-1] == 69
    counts = [r["reports"] for r in rows["reports"]]
    assert sum(counts) == regular + 1  # "pc-other" is not mixed in
    first = next(i for i, c in enumerate(counts) if c)
    assert counts[first:].count(0) == 4  # the silent day's four buckets
    made = host_charts(rows, time.time())
    assert [len(c.lines) for c in made] == [2, 3, 4, 1, 1] and not any(c.empty for c in made)
    assert made[2].note == "not drawn: /data 10%, /srv 5%"


async def test_a_shorter_range_has_finer_buckets_and_keeps_the_spike(
        influxd: Influxd, host_db: str) -> None:
    db = host_db
    rows = await _run(influxd, db, host_queries(HOST, WINDOWS["24h"]))
    # the last day's four reports (6 h apart) in 15 min buckets; the spike shares one
    assert len(rows["cpu"]) == 4
    assert max(r["max"] for r in rows["cpu"]) == 97
    assert "GROUP BY time(15m)" in host_queries(HOST, WINDOWS["24h"])["cpu"]


async def _both(influxd: Influxd, db: str, device: str, key: str, now: float
                ) -> tuple[dict[str, list[dict[str, Any]]], dict[str, list[dict[str, Any]]]]:
    """(rows the page draws for ``key``: rollups + raw head and tail, rows of raw points
    only over the same range)."""
    w = WINDOWS[key]
    start, _ = host_span(now, w)
    reader = await InfluxQuery.create(StorageConfig(url=influxd.url))
    try:
        rolled = await host_rolled_rows(reader, db, device, w, now)
        raw = {name: await reader.query(q, db=db)
               for name, q in host_part_queries(device, w, start).items()}
    finally:
        await reader.close()
    return rolled, merge_host_rows([raw], start, now, w)


def _assert_same(rolled: dict[str, list[dict[str, Any]]],
                 raw: dict[str, list[dict[str, Any]]]) -> None:
    assert rolled.keys() == raw.keys()
    for name in raw:
        assert len(rolled[name]) == len(raw[name]), name
        for a, b in zip(rolled[name], raw[name], strict=True):
            assert a.keys() == b.keys()
            for k, v in b.items():
                same = a[k] == v if v is None or isinstance(v, str) else a[k] == pytest.approx(
                    v, rel=1e-12)
                assert same, (name, k, a, b)


@pytest.mark.parametrize("key", ["30d", "7d"])
@pytest.mark.parametrize("device", [HOST, LATE, "pc-other"])
async def test_rolled_charts_equal_the_raw_charts(influxd: Influxd, host_db: str, key: str,
                                                  device: str) -> None:
    """Rollups for the whole range (HOST), from the middle of an hour 12.3 days ago (LATE:
    raw before, rollups after), none ("pc-other"): the same rows, hence the same charts."""
    now = time.time()
    rolled, raw = await _both(influxd, host_db, device, key, now)
    _assert_same(rolled, raw)
    assert sum(r["reports"] for r in raw["reports"]) == (
        (8 if key == "30d" else 0) if device == "pc-other"
        else 29 * 4 + 1 if key == "30d" else 7 * 4 + 1)
    assert host_charts(rolled, now, WINDOWS[key]) == host_charts(raw, now, WINDOWS[key])
    if key == "30d" and device == HOST:  # what the old raw query draws, away from the edge
        old = await _run(influxd, host_db, host_queries(HOST))
        assert [r["max"] for r in old["cpu"]] == [r["max"] for r in rolled["cpu"]]
        assert [r["mean"] for r in old["cpu"]] == pytest.approx(
            [r["mean"] for r in rolled["cpu"]])


async def test_the_rolled_range_reads_rollups_after_the_first_rollup_hour(
        influxd: Influxd, host_db: str) -> None:
    """Which part comes from where, shown with points that disagree on purpose: the hour of
    the device's first segment is read raw (the feature may have started inside it), the
    later hours from host_1h even with no raw point behind them."""
    now = time.time()
    db = f"{host_db}_marker"
    influxd.query(f'CREATE DATABASE "{db}"')
    at = int(now - 20 * DAY) // (6 * 3600) * (6 * 3600) + 60  # early in a 6 h bucket
    tags = "device=pc-marker,kind=workstation"
    body = "\n".join([
        f"host_1h,{tags} reports=3i,cpu_n=3i,cpu_sum=3.0,cpu_max=1.0 {at * 10**9}",  # not read
        f"host_cpu,{tags} percent=99.0 {(at + 5) * 10**9}",  # read: the first hour is raw
        f"host_1h,{tags} reports=7i,cpu_n=7i,cpu_sum=70.0,cpu_max=42.0 "
        f"{(at + 6 * 3600) * 10**9}",  # read (no raw point behind it)
        f"host_cpu,{tags} percent=1.0 {(at + 6 * 3600 + 5) * 10**9}"])  # not read
    req = urllib.request.Request(f"{influxd.url}/write?db={db}", data=body.encode(),
                                 method="POST")
    await asyncio.to_thread(urllib.request.urlopen, req, timeout=30)
    reader = await InfluxQuery.create(StorageConfig(url=influxd.url))
    try:
        rows = await host_rolled_rows(reader, db, "pc-marker", WINDOWS["30d"], now)
    finally:
        await reader.close()
    assert [(r["mean"], r["max"]) for r in rows["cpu"]] == [(99.0, 99.0), (10.0, 42.0)]
    assert sum(r["reports"] for r in rows["reports"]) == 7


# --- the page, through the real ingest API and writer -------------------------------------


@pytest.fixture()
async def host_app(tmp_path: Path, influxd: Influxd
                   ) -> AsyncIterator[tuple[str, str, web.Application]]:
    db = f"hostpage_{uuid.uuid4().hex[:8]}"
    (tmp_path / "secret").write_text(SECRET + "\n")
    config = Config(path=tmp_path / "c.yaml",
                    collector=CollectorSettings(state_dir=tmp_path / "state"),
                    storage=StorageConfig(backend="influxdb_v1", url=influxd.url, database=db,
                                          flush_interval=0.2),
                    devices=(DeviceConfig(name="printer-1", host="192.0.2.9"),))
    app = build_app(config, AuthSettings(public_read=True),
                    ingest=IngestSettings(enroll_secret_file=tmp_path / "secret"))
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}", db, app
    finally:
        await runner.cleanup()


async def ingest_history(url: str, influxd: Influxd, db: str, http: aiohttp.ClientSession
                         ) -> None:
    """Enroll an agent "pc-hist" and POST :func:`host_reports` through the ingest API; return
    once the writer has put them all in influxd."""
    json_post = {"Content-Type": "application/json"}
    async with http.post(f"{url}/api/v1/agents/enroll", headers=json_post,
                         json={"secret": SECRET, "hostname": "pc-hist"}) as r:
        assert r.status == 200
        enrolled = await r.json()
    reports = host_reports(enrolled["agent_id"], time.time())
    body = {"version": 1, "reports": [x.model_dump(mode="json", exclude_none=True)
                                      for x in reports]}
    async with http.post(f"{url}/api/v1/agents/reports", json=body, headers={
            **json_post, "Authorization": f"Bearer {enrolled['token']}"}) as r:
        assert r.status == 200 and (await r.json())["accepted"] == len(reports)
    count = 'SELECT count("seq") FROM "host_system"'
    for _ in range(100):  # the writer flushes every 0.2 s
        rows = await _run(influxd, db, {"n": count})
        if rows["n"] and rows["n"][0]["count"] == len(reports):
            return
        await asyncio.sleep(0.1)
    pytest.fail("the reports never reached influxd")


async def test_host_device_page_shows_inventory_and_host_charts(
        influxd: Influxd, host_app: tuple[str, str, web.Application]) -> None:
    url, db, _ = host_app
    async with aiohttp.ClientSession() as http:
        await ingest_history(url, influxd, db, http)
        async with http.get(f"{url}/devices/pc-hist") as r:
            assert r.status == 200
            page = await r.text()
        async with http.get(f"{url}/devices/pc-hist?range=24h") as r:
            assert r.status == 200
            day = await r.text()
        async with http.get(f"{url}/devices/pc-hist?range=1y") as r:
            assert r.status == 400 and "24h, 7d, 30d" in await r.text()
        async with http.get(f"{url}/devices/printer-1") as r:
            printer_page = await r.text()

    assert page.count('<svg class="chart"') == 5
    for title in ("CPU, 30 days (mean and max per 6 h)", "Memory used, 30 days",
                  "Disk used, 30 days", "Load (1 min), 30 days",
                  "Agent reports received per 6 h, 30 days"):
        assert title in page
    assert re.search(r'<polyline class="series s2" points="[0-9., ]+"', page)  # CPU max
    assert "max: 97%" in page and "/: 69%" in page and "not drawn: /data 10%, /srv 5%" in page
    inventory = page.split('id="host-inventory"')[1].split("</dl>")[0]
    for text in ("Linux 6.1", "Xeon E-2224 (4 cores, 4 threads)", "16.0 GiB",
                 "/dev/sda1 on / (ext4), 512.0 GiB", "3d 0h (booted "):
        assert text in inventory
    assert "no data in this range" not in page
    assert "CPU, 24 hours (mean and max per 15 min)" in day and "max: 97%" in day
    assert '<strong aria-current="page">24 hours</strong>' in day
    # a printer without history stays a printer page: its three charts, no host section
    assert printer_page.count('<svg class="chart"') == 3 and "host-inventory" not in printer_page


async def test_host_page_in_chromium_at_420px(influxd: Influxd,
                                              host_app: tuple[str, str, web.Application],
                                              chromium_page: Page) -> None:  # noqa: F811
    url, db, _ = host_app
    async with aiohttp.ClientSession() as http:
        await ingest_history(url, influxd, db, http)
    page = chromium_page
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    await page.set_viewport_size({"width": 420, "height": 800})  # a phone
    await page.goto(f"{url}/devices/pc-hist")
    await expect(page.locator("#charts svg.chart")).to_have_count(5)
    await expect(page.locator("#host-inventory dt").first).to_be_visible()
    await expect(page.locator("#host-inventory")).to_contain_text("Xeon E-2224")
    assert await page.evaluate("document.documentElement.scrollWidth") <= 420
    box = await page.locator("#charts svg.chart").first.bounding_box()
    assert box is not None and box["width"] <= 420
    await screenshot(page, "host-device-420px")
    await page.click("#chart-ranges a >> text=24 hours")
    await page.wait_for_url(f"{url}/devices/pc-hist?range=24h")
    await expect(page.locator("#charts figcaption").first).to_contain_text("15 min")
    await page.set_viewport_size({"width": 1100, "height": 900})
    await screenshot(page, "host-device-24h")
    assert problems == []  # no CSP refusal, no script error


async def test_ingest_writes_rollups_and_the_page_draws_them(
        influxd: Influxd, host_app: tuple[str, str, web.Application]) -> None:
    """Reports through the real ingest API: the segments of the closed hours reach influxd
    (one flush, as the next tick does it), the page's 30 day rows from them equal the
    raw rows, and the page shows them."""
    url, db, app = host_app
    async with aiohttp.ClientSession() as http:
        await ingest_history(url, influxd, db, http)
        rollup = app[INGEST].rollup
        await rollup.flush()  # (a tick may have done it already: then this writes nothing)
        assert rollup.open_segments() <= 1  # the open hour's segment may wait
        writer = next(x for x in app[SINKS] if isinstance(x, InfluxWriter))
        await writer.flush()  # spool → influxd now
        q = 'SELECT sum("reports") AS "n" FROM "host_1h" WHERE "device" = \'pc-hist\''
        rows = await _run(influxd, db, {"n": q})
        n = rows["n"][0]["n"]
        assert n >= 29 * 4 - 1 and n <= 29 * 4 + 1
        now = time.time()
        rolled, raw = await _both(influxd, db, "pc-hist", "30d", now)
        _assert_same(rolled, raw)
        async with http.get(f"{url}/devices/pc-hist?range=30d") as r:
            assert r.status == 200
            page = await r.text()
    assert page.count('<svg class="chart"') == 5 and "max: 97%" in page and "/: 69%" in page


async def test_a_restart_mid_hour_and_late_reports_keep_the_rollups_whole(
        tmp_path: Path, influxd: Influxd) -> None:
    """Two lives of the collector (same state directory and database): the first stops
    cleanly in the middle of an hour (its open segments are written at stop), the second gets
    the rest of that hour and late reports for an hour the first already closed. Per hour the
    rollups count exactly the raw reports, and the 30 day rows equal the raw rows."""
    db = f"restart_{uuid.uuid4().hex[:8]}"
    (tmp_path / "secret").write_text(SECRET + "\n")
    config = Config(path=tmp_path / "c.yaml",
                    collector=CollectorSettings(state_dir=tmp_path / "state"),
                    storage=StorageConfig(backend="influxdb_v1", url=influxd.url, database=db,
                                          flush_interval=0.2))
    base = int(time.time()) // 3600 * 3600 - 5 * 86400
    first = [base + i * 300.0 for i in range(18)]  # hour 0 and half of hour 1
    second = [base + 5400 + i * 300.0 for i in range(18)]  # the rest of hour 1 and hour 2
    late = [base + 150 + i * 600.0 for i in range(6)]  # hour 0 again
    json_post = {"Content-Type": "application/json"}
    enrolled: dict[str, str] = {}
    seq = 0
    for life, times in enumerate((first, second + late)):
        app = build_app(config, AuthSettings(public_read=True),
                        ingest=IngestSettings(enroll_secret_file=tmp_path / "secret"))
        runner = web.AppRunner(app)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        url = f"http://127.0.0.1:{port}"
        try:
            async with aiohttp.ClientSession() as http:
                if life == 0:
                    async with http.post(f"{url}/api/v1/agents/enroll", headers=json_post,
                                         json={"secret": SECRET, "hostname": "pc-r"}) as r:
                        assert r.status == 200
                        enrolled = await r.json()
                reports = []
                for at in times:
                    seq += 1
                    reports.append(Report(agent_id=enrolled["agent_id"], seq=seq, time=at,
                                          snapshot=Snapshot(
                                              cpu=Cpu(percent=float(seq % 50), load1=0.2),
                                              memory=Memory(used_percent=30.0 + seq % 9),
                                              disks=[Disk(mountpoint="/",
                                                          used_percent=float(seq))])))
                body = {"version": 1, "reports": [x.model_dump(mode="json", exclude_none=True)
                                                  for x in reports]}
                async with http.post(f"{url}/api/v1/agents/reports", json=body, headers={
                        **json_post, "Authorization": f"Bearer {enrolled['token']}"}) as r:
                    assert r.status == 200 and (await r.json())["accepted"] == len(reports)
        finally:
            await runner.cleanup()  # the clean stop writes the open segments
    where = f"\"device\" = 'pc-r' AND time >= {base}s GROUP BY time(1h) fill(none)"
    got = await _run(influxd, db, {
        "rolled": f'SELECT sum("reports") AS "n", count("reports") AS "segments", '
                  f'max("cpu_max") AS "max" FROM "host_1h" WHERE {where}',
        "raw": f'SELECT count("percent") AS "n", max("percent") AS "max" FROM "host_cpu" '
               f"WHERE {where}"})
    assert [(r["time"], r["n"], r["max"]) for r in got["rolled"]] == [
        (r["time"], r["n"], r["max"]) for r in got["raw"]]
    assert [r["n"] for r in got["raw"]] == [12 + 6, 6 + 6, 12]
    # hour 0: the first life's closed segment and the late one; hour 1: one per life
    assert [r["segments"] for r in got["rolled"]][:2] == [2, 2]
    rolled, raw = await _both(influxd, db, "pc-r", "30d", time.time())
    _assert_same(rolled, raw)
    assert sum(r["reports"] for r in rolled["reports"]) == 42
