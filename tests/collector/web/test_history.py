"""The device page's history charts: the SVG geometry (pure), the InfluxQL queries against a
real influxd holding 30 days of known polls, and the page itself from the real app."""

from __future__ import annotations

import re
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
from collector.config import CollectorSettings, Config, DeviceConfig, StorageConfig
from collector.demo import Influxd, free_port
from collector.storage.lineproto import reading_lines
from collector.storage.query import InfluxQuery
from collector.web.charts import Series, line_chart
from collector.web.history import RANGE, charts, literal, queries
from probes.model import PageCounter
from tests.collector.conftest import down, printer, toner

DEVICE = "o'brien \\ lab"  # a quote and a backslash: the InfluxQL literal must hold
DAY = 86400.0


def test_chart_geometry_scales_breaks_gaps_and_marks_empty() -> None:
    c = line_chart("t", [Series("a", "black", [(0, 0), (50, 100), (100, 50), (400, 50),
                                               (450, 60)])],
                   start=0, end=400, unit="%", y_min=0, y_max=100, gap=100)
    (line,) = c.lines
    assert len(line.paths) == 2  # 100 → 400 is a gap of 300 s > 100
    first = [tuple(map(float, p.split(","))) for p in line.paths[0].split()]
    x0, y0, pw, ph = c.plot
    assert first[0] == (x0, y0 + ph) and first[1] == (x0 + pw / 8, y0)
    assert line.last == "60%" and not c.empty
    assert line_chart("e", [], start=0, end=1).empty
    lone = line_chart("d", [Series("a", "ok", [(0, 1.0)])], start=0, end=10).lines[0]
    assert lone.paths == () and len(lone.dots) == 1  # one point is drawn as a dot


def test_literal_escapes() -> None:
    assert literal("o'b\\x") == "'o\\'b\\\\x'"


@pytest.fixture(scope="module")
def history_db(influxd: Influxd) -> str:
    db = f"hist_{uuid.uuid4().hex[:8]}"
    influxd.query(f'CREATE DATABASE "{db}"')
    device = DeviceConfig(name=DEVICE, host="192.0.2.1", site="HQ")
    other = DeviceConfig(name="other", host="192.0.2.2", site="HQ")
    now = time.time()
    lines: list[str] = []
    for day, k in ((d, k) for d in range(29, -1, -1) for k in (3, 2, 1, 0)):
        at = now - day * DAY - k * 6 * 3600 - 60  # four polls a day, 6 h apart
        reading = printer(DEVICE, supplies=(toner(float(30 + day), index="1.1"),
                                            toner(float(60 + day), index="1.2", colour="cyan")))
        reading = replace(reading, time=at, page_counters=(PageCounter("1.1", 5000 - day),))
        lines += reading_lines(reading, device)
        if day == 3 and k == 0:  # one more poll, unanswered, in the same 6 h bucket
            lines += reading_lines(replace(down(DEVICE), time=at - 60), device)
        lines += reading_lines(replace(printer("other", supplies=(toner(1.0),)), time=at), other)
    req = urllib.request.Request(f"{influxd.url}/write?db={db}", data="\n".join(lines).encode(),
                                 method="POST")
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 204
    return db


async def test_history_queries_return_the_device_series(influxd: Influxd, history_db: str) -> None:
    reader = await InfluxQuery.create(StorageConfig(url=influxd.url))
    try:
        rows = {name: await reader.query(q, db=history_db) for name, q in queries(DEVICE).items()}
    finally:
        await reader.close()
    assert {(r["supply"], r["colour"]) for r in rows["supplies"]} == {("1.1", "black"),
                                                                       ("1.2", "cyan")}
    black = [r["percent"] for r in rows["supplies"] if r["colour"] == "black"]
    assert len(black) == 120 and black[0] == 59 and black[-1] == 30  # "other" not mixed in
    ups = [r["up"] for r in rows["availability"]]
    assert len(ups) == 120 and sorted(ups)[0] == pytest.approx(50.0) and ups.count(100.0) == 119
    assert [r["pages"] for r in rows["pages"]][-1] == 5000
    made = charts(rows, time.time())
    assert [len(c.lines) for c in made] == [2, 1, 1] and not any(c.empty for c in made)
    assert made[0].lines[0].last == "30%"


@pytest.fixture()
async def app_url(tmp_path: Path, influxd: Influxd, history_db: str) -> AsyncIterator[str]:
    config = Config(path=tmp_path / "c.yaml",
                    collector=CollectorSettings(state_dir=tmp_path / "state"),
                    storage=StorageConfig(backend="influxdb_v1", url=influxd.url,
                                          database=history_db),
                    devices=(DeviceConfig(name=DEVICE, host="192.0.2.1", site="HQ"),))
    runner = web.AppRunner(build_app(config, AuthSettings(public_read=True)))
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_device_page_draws_svg_charts(app_url: str) -> None:
    async with aiohttp.ClientSession() as http, http.get(
            f"{app_url}/devices/{DEVICE}") as r:
        assert r.status == 200
        page = await r.text()
    assert page.count("<svg class=\"chart\"") == 3
    assert re.search(r'<polyline class="series black" points="[0-9., ]+"', page)
    assert "black (1.1): 30%" in page and "no data in this range" not in page
    assert RANGE == 30 * DAY


@pytest.mark.parametrize(("points", "y_min", "labels"), [
    # a page count that barely moved: 15, 15, 16, 16, 16 before
    ([15.0, 16.0], None, ["15", "16", "17", "18", "19"]),
    ([15.0], None, ["15", "16", "17", "18", "19"]),
    # load from zero: 0, 0.1, 0.1, 0.2, 0.3 before
    ([0.3, 0.25], 0.0, ["0.0", "0.1", "0.2", "0.3", "0.4"]),
    # reports per bucket: 0, 1.2, 2.5, 3.8, 5 before
    ([5.0, 4.0], 0.0, ["0", "2", "4", "6", "8"]),
    ([6_350.0, 6_420.0], None, ["6,340", "6,360", "6,380", "6,400", "6,420"]),
    ([0.12, 0.135], None, ["0.120", "0.125", "0.130", "0.135", "0.140"]),
])
def test_fitted_axis_ticks_are_round_and_distinct(points: list[float], y_min: float | None,
                                                  labels: list[str]) -> None:
    c = line_chart("t", [Series("a", "other", [(float(i), v) for i, v in enumerate(points)])],
                   start=0, end=10, y_min=y_min)
    got = [label for _, label in c.y_ticks]
    assert got == labels
    assert len(set(got)) == 5
    ys = [y for y, _ in c.y_ticks]
    assert ys == sorted(ys, reverse=True)  # bottom to top
    for line in c.lines:  # every point inside the plot
        for _, y_ in line.dots:
            assert c.plot[1] <= float(y_) <= c.plot[1] + c.plot[3]
