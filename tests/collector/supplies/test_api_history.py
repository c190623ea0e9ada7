"""The supplies routes and the start-up history through the real path: the collector app with a
real influxd (history and page counts written there first), stock changed over HTTP, bad input
answered 400 with a message."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from dataclasses import replace
from pathlib import Path

import aiohttp

from collector.app import build_app
from collector.auth import AuthSettings
from collector.config import CollectorSettings, Config, DeviceConfig, StorageConfig
from collector.demo import Influxd, free_port
from collector.keys import SUPPLIES
from probes.model import PageCounter
from probes.secret import Secret
from tests.apps import start
from tests.collector.conftest import printer, toner

DAY = 86_400


def cli(*argv: str) -> str:
    """``fleetwatch ARGV`` as a process; its stdout (exit 0 required)."""
    proc = subprocess.run([sys.executable, "-m", "collector.cli", *argv], capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_stock_cli(tmp_path: Path) -> None:
    d = str(tmp_path)
    assert cli("supplies", "stock", "add", "CF258A", "3", "--state-dir", d).strip() == "CF258A: 3"
    assert cli("supplies", "stock", "remove", "CF258A", "--state-dir", d).strip() == "CF258A: 2"
    assert cli("supplies", "stock", "set", "W2030A", "5", "--state-dir", d).strip() == "W2030A: 5"
    listing = cli("supplies", "stock", "list", "--state-dir", d).split()
    assert listing == ["CF258A", "2", "W2030A", "5"]
    bad = subprocess.run([sys.executable, "-m", "collector.cli", "supplies", "stock", "add",
                          "two words", "--state-dir", d], capture_output=True, text=True,
                         timeout=60, check=False)
    assert bad.returncode == 2 and "bad part number" in bad.stderr


def write(influxd: Influxd, db: str, lines: list[str]) -> None:
    influxd.query(f'CREATE DATABASE "{db}"')
    req = urllib.request.Request(f"{influxd.url}/write?{urllib.parse.urlencode({'db': db})}",
                                 data="\n".join(lines).encode(), method="POST")
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 204


async def test_routes_and_history(influxd: Influxd, tmp_path: Path) -> None:
    db = f"supapi_{uuid.uuid4().hex[:8]}"
    now = int(time.time()) // 3600 * 3600
    lines = []
    for h in range(10 * 24, 0, -1):  # ten days, 4 %/day, hourly
        t = now - h * 3600
        pct = 90 - 4 * (10 * 24 - h) / 24
        ns = t * 10**9
        lines.append(f"supply,device=p1,kind=printer,supply=1.1,type=toner,colour=black "
                     f"percent={pct},level={int(pct)}i {ns}")
        lines.append(f"pages,device=p1,kind=printer,marker=1.1 count={100_000 + (240 - h) * 12}i "
                     f"{ns}")
    write(influxd, db, lines)
    port = free_port()
    config = Config(path=tmp_path / "t.yaml",
                    collector=CollectorSettings(listen_port=port, state_dir=tmp_path,
                                                api_token=Secret("tech-token")),
                    auth=AuthSettings(public_read=True),
                    storage=StorageConfig(backend="influxdb_v1", url=influxd.url, database=db,
                                          flush_interval=0.2, timeout=5.0))
    app = build_app(config)
    runner, base = await start(app, port)
    try:
        track = app[SUPPLIES].track("p1", "1.1")
        assert track is not None and len(track.history()) >= 200  # seeded from InfluxDB
        reading = replace(printer(supplies=[toner(50.0)]), time=time.time(),
                          page_counters=(PageCounter("1.1", 103_000),))
        await app[SUPPLIES].handle(reading, DeviceConfig(name="p1", host="192.0.2.1"))
        f = track.forecast
        assert f is not None and f.status == "ok" and f.basis == "this_cartridge"
        assert f.days_left is not None and abs(f.days_left - 50 / 4) < 1.0
        async with aiohttp.ClientSession(headers={"Authorization": "Bearer tech-token"}) as http:
            async with http.post(f"{base}/api/v1/supplies/stock",
                                 json={"part": "CF258A", "add": 3, "by": "t"}) as r:
                assert r.status == 200 and (await r.json())["quantity"] == 3
            async with http.post(f"{base}/api/v1/supplies/stock",
                                 json={"part": "CF258A", "remove": 1}) as r:
                assert (await r.json())["quantity"] == 2
            for bad, why in (({"part": "CF258A"}, "exactly one"),
                             ({"part": "CF258A", "add": -1}, ">= 0"),
                             ({"part": "two words", "set": 1}, "bad part"),
                             ({"part": "X", "add": 1, "colour": "red"}, "unknown field")):
                async with http.post(f"{base}/api/v1/supplies/stock", json=bad) as r:
                    assert r.status == 400 and why in (await r.json())["error"], bad
            async with http.post(f"{base}/api/v1/supplies/stock", data=b"{not json",
                                 headers={"Content-Type": "application/json"}) as r:
                assert r.status == 400
            async with http.get(f"{base}/api/v1/supplies/stock") as r:
                assert {"part": "CF258A", "quantity": 2}.items() <= (
                    await r.json())["stock"][0].items()
            async with http.get(f"{base}/api/v1/supplies/pages?months=2") as r:
                pages = (await r.json())["pages"]
            assert pages and all(p["device"] == "p1" for p in pages)
            assert 2000 <= sum(p["pages"] for p in pages) <= 2900  # 239 hours x 12
            async with http.get(f"{base}/api/v1/supplies/pages?months=x") as r:
                assert r.status == 400
            async with http.get(f"{base}/supplies/pages.csv") as r:
                text = await r.text()
            assert text.splitlines()[0] == "device,month,pages,markers"
            async with http.get(f"{base}/api/v1/supplies") as r:
                assert (await r.json())["supplies"] is not None
            async with http.get(f"{base}/supplies") as r:
                assert r.status == 200 and "Supplies" in await r.text()
            async with http.get(f"{base}/supplies.csv") as r:
                assert (await r.text()).startswith("device,site,supply")
        # the CLI over the same API
        out = await asyncio.to_thread(cli, "supplies", "forecast", "--url", base, "--csv")
        assert out.splitlines()[0].startswith("device,site,supply")
        assert any(line.startswith("p1,") for line in out.splitlines()[1:])
        table = await asyncio.to_thread(cli, "supplies", "forecast", "--url", base)
        assert "p1" in table and "CF258A" in table
        header, *rows = table.splitlines()
        # every heading starts where its column does (the values are cut to their width)
        assert header.index("Days") == header.index("Level") + 7
        assert header.index("Stock") == header.index("Reorder") + 9
        assert all(len(r) <= len(header) + 5 for r in rows), table
        pages = await asyncio.to_thread(cli, "supplies", "pages", "--url", base)
        assert pages.splitlines()[0].split() == ["Device", "Month", "Pages", "Markers"]
        pages_csv = await asyncio.to_thread(cli, "supplies", "pages", "--url", base, "--csv")
        assert pages_csv.splitlines()[1].startswith("p1,")
    finally:
        await runner.cleanup()
