"""Every Grafana panel query runs against a real influxd holding real polls, and returns data."""

from __future__ import annotations

import asyncio
import json
import re
import urllib.request
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from collector.config import DeviceConfig, SnmpProfile
from collector.demo import Influxd, Snmpsim
from collector.storage.lineproto import reading_lines
from dashboards import build
from probes import connectivity
from probes.printer import PrinterProbe
from probes.secret import Secret
from probes.snmp import SnmpClient

DASHBOARD_DIR = Path(build.__file__).resolve().parent


def queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    return [(p["title"], t["query"]) for p in dashboard["panels"] for t in p["targets"]]


def substitute(query: str) -> str:
    query = query.replace("$timeFilter", "time > now() - 1h").replace("$__interval", "10s")
    return re.sub(r"\$(site|device)\b", ".*", query)


def test_json_is_built_from_build_py() -> None:
    for name, make in build.DASHBOARDS.items():
        assert (DASHBOARD_DIR / name).read_text() == build.render(make), (
            f"dashboards/{name} is stale: run python dashboards/build.py")


@pytest.fixture(scope="module")
async def database(influxd: Influxd, snmpsim: Snmpsim) -> str:
    db = f"dash_{uuid.uuid4().hex[:8]}"
    influxd.query(f'CREATE DATABASE "{db}"')
    client = await SnmpClient.create()
    probe = PrinterProbe(client)
    lines: list[str] = []
    try:
        for name in ("handmade_jam", "handmade_notoner", "handmade_twooctet"):
            device = DeviceConfig(name=name, host=snmpsim.host, port=snmpsim.port, site="HQ",
                                  snmp=SnmpProfile(name="p", community=Secret(name)))
            for age in (60, 0):  # two polls a minute apart, so that differences exist
                reading = await probe.collect(device.snmp_target(), name)
                assert reading.reachable
                lines += reading_lines(replace(reading, time=reading.time - age), device)
        ping_device = DeviceConfig(name="gateway", host="127.0.0.1", kind="network", site="HQ")
        lines += reading_lines(await connectivity.ping("127.0.0.1", device="gateway"),
                               ping_device)
    finally:
        client.close()
    await asyncio.to_thread(write, influxd, db, lines)
    return db


def write(influxd: Influxd, db: str, lines: list[str]) -> None:
    req = urllib.request.Request(f"{influxd.url}/write?db={db}", data="\n".join(lines).encode(),
                                 method="POST")
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 204


@pytest.mark.parametrize("name", sorted(build.DASHBOARDS))
def test_every_panel_query_returns_data(influxd: Influxd, database: str, name: str) -> None:
    dashboard = json.loads((DASHBOARD_DIR / name).read_text())
    for title, query in queries(dashboard):
        result = influxd.query(substitute(query), db=database)
        statement = result["results"][0]  # type: ignore[index]
        assert "error" not in statement, f"{title}: {statement}"
        assert statement.get("series"), f"{title}: no data for {substitute(query)}"
    for var in dashboard["templating"]["list"][1:]:
        result = influxd.query(substitute(var["query"]), db=database)
        assert result["results"][0].get("series"), var["name"]  # type: ignore[index]
