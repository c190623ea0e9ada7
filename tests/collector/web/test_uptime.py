"""The uptime report: the accounting rules (pure, docs/uptime.md), its one InfluxQL query against
a real influxd holding a day of known polls, and the page, CSV and API from the real app."""

from __future__ import annotations

import csv
import datetime as dt
import io
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from collector.app import build_app
from collector.auth import AuthSettings
from collector.config import (
    CollectorSettings,
    Config,
    DeviceConfig,
    MaintenanceWindow,
    Schedule,
    StorageConfig,
    WeeklyWindow,
)
from collector.demo import Influxd, free_port
from collector.storage.lineproto import reading_lines
from collector.storage.query import InfluxQuery
from collector.uptime.report import BUCKETS, Bucket, account, bucket_query, devices_csv
from probes.model import Reading
from tests.collector.conftest import down, printer

END = 1_800_000_000.0  # 2027-01-15 08:00 UTC
DAY = 86400.0
P1 = DeviceConfig(name="p1", host="192.0.2.1", site="HQ")


def day_of(states: dict[int, tuple[int, int]], default: tuple[int, int] | None = (2, 2),
           ) -> list[Bucket]:
    """24 h of 1-minute buckets: (up, polls) per bucket index; None default = no data."""
    out = []
    for i in range(BUCKETS):
        up, polls = states.get(i, default) if default is not None or i in states else (0, 0)
        if polls:
            out.append(Bucket(END - DAY + 60 * i, up, polls))
    return out


def test_down_time_incidents_and_no_data() -> None:
    states = {i: (0, 2) for i in range(100, 105)} | {200: (1, 2)}
    buckets = day_of(states) [:1000]  # buckets 1000-1439 missing: no data
    report = account("24h", END, [P1], {}, {"p1": buckets},
                     tickets={"p1": [(7, END - DAY + 60 * 100 + 5)]})
    (d,) = report.devices
    assert d.tally.down == pytest.approx(5 * 60 + 30)
    assert d.tally.no_data == pytest.approx(440 * 60)
    assert d.tally.availability == pytest.approx(100 * (1000 * 60 - 330) / (1000 * 60))
    assert [(i.start - (END - DAY), i.duration, i.ticket) for i in d.incidents] == [
        (6000.0, 300.0, 7), (12000.0, 60.0, None)]
    assert report.sites["HQ"].availability == d.tally.availability


def test_maintenance_and_out_of_hours_are_apart() -> None:
    start = dt.datetime.fromtimestamp(END - DAY + 300 * 60, dt.UTC)
    window = MaintenanceWindow(start=start, end=start + dt.timedelta(hours=1), reason="swap")
    hours = WeeklyWindow(days=frozenset(range(7)), start=dt.time(6), end=dt.time(22))
    device = replace(P1, schedule=Schedule(business_hours=(hours,), maintenance=(window,)))
    states = {i: (0, 2) for i in range(300, 360)}  # down only inside the maintenance window
    report = account("24h", END, [device], {}, {"p1": day_of(states)})
    (d,) = report.devices
    assert d.tally.maintenance == pytest.approx(3600)
    assert d.tally.out_of_hours == pytest.approx(8 * 3600)  # 22:00-06:00 UTC
    assert d.tally.down == 0 and d.incidents == [] and d.tally.availability == 100.0


def test_a_device_with_no_data_has_no_availability() -> None:
    report = account("7d", END, [P1], {}, {})
    assert report.devices[0].tally.availability is None
    assert "p1,HQ,7d" in devices_csv(report) and ",,0,0," in devices_csv(report)


def never_heard(device: str) -> Reading:
    """A printer not heard since start-up: up=0, stale=1 ("no answer yet"); does not count."""
    return replace(down(device), stale=True)


@pytest.fixture(scope="module")
def uptime_db(influxd: Influxd) -> tuple[str, float]:
    db = f"uptime_{uuid.uuid4().hex[:8]}"
    influxd.query(f'CREATE DATABASE "{db}"')
    end = float(int(time.time()) // 60 * 60)
    lines: list[str] = []
    for minute in range(1440):  # one poll a minute for the last 24 h
        at = end - DAY + 60 * minute + 10
        if minute < 60:
            reading = never_heard("p1")  # the first hour: never heard yet (not counted)
        elif 600 <= minute < 630:
            reading = down("p1")  # a 30-minute outage
        elif 800 <= minute < 820:
            reading = printer("p1", stale=True)  # asleep: last values kept, counts as up
        else:
            reading = printer("p1")
        lines += reading_lines(replace(reading, time=at), P1)
    req = urllib.request.Request(f"{influxd.url}/write?db={db}", data="\n".join(lines).encode(),
                                 method="POST")
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 204
    return db, end


async def test_bucket_query_on_real_influxd(influxd: Influxd, uptime_db: tuple[str, float]) -> None:
    db, end = uptime_db
    reader = await InfluxQuery.create(StorageConfig(url=influxd.url))
    try:
        rows = await reader.query(bucket_query("24h", end), db=db)
    finally:
        await reader.close()
    buckets = [Bucket(r["time"] / 1e9, int(r["up"]), int(r["polls"])) for r in rows]
    assert len(buckets) == 1440 - 60 and sum(b.polls for b in buckets) == 1380
    report = account("24h", end, [P1], {}, {"p1": buckets})
    (d,) = report.devices
    assert d.tally.no_data == pytest.approx(3600)
    assert d.tally.down == pytest.approx(1800)
    assert [(i.start - (end - DAY), i.duration) for i in d.incidents] == [(36000.0, 1800.0)]
    assert d.tally.availability == pytest.approx(100 * (1380 - 30) / 1380)


@pytest.fixture()
async def app_url(tmp_path: Path, influxd: Influxd, uptime_db: tuple[str, float]
                  ) -> AsyncIterator[str]:
    config = Config(path=tmp_path / "c.yaml",
                    collector=CollectorSettings(state_dir=tmp_path / "state"),
                    storage=StorageConfig(backend="influxdb_v1", url=influxd.url,
                                          database=uptime_db[0]),
                    devices=(replace(P1, probes=()),))
    runner = web.AppRunner(build_app(config, AuthSettings(public_read=True)))
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_uptime_page_csv_and_api(app_url: str) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{app_url}/uptime.csv?range=24h") as r:
            assert r.status == 200 and r.content_type == "text/csv"
            (row,) = list(csv.DictReader(io.StringIO(await r.text())))
        assert row["device"] == "p1" and row["incidents"] == "1"
        assert 97.0 < float(row["availability_pct"]) < 98.0
        async with http.get(f"{app_url}/uptime.csv?range=24h&what=incidents") as r:
            (incident,) = list(csv.DictReader(io.StringIO(await r.text())))
        assert incident["duration_s"] in {"1800", "1860"}  # a minute either side of a bucket
        async with http.get(f"{app_url}/api/v1/uptime?range=90d") as r:
            body = await r.json()
        assert r.status == 200 and body["devices"][0]["down_s"] > 0
        async with http.get(f"{app_url}/api/v1/uptime?range=1y") as r:
            assert r.status == 400
        async with http.get(f"{app_url}/uptime?range=7d") as r:
            page = await r.text()
        assert r.status == 200 and 'id="uptime-devices"' in page and "p1" in page
