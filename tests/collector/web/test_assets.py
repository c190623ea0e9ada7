"""The asset list: rows from the latest readings (pure), its CSV (formula cells defused), and
the page, CSV and JSON from the real app over HTTP."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from collector.app import build_app
from collector.assets.inventory import COLUMNS, asset, make_of, to_csv
from collector.auth import AuthSettings
from collector.config import CollectorSettings, Config, DeviceConfig
from collector.demo import free_port
from collector.keys import STATE
from collector.state import DeviceState
from probes.model import Identity, PageCounter
from tests.collector.conftest import down, printer

HP = DeviceConfig(name="hq-1", host="10.0.0.5", site="HQ", location="Room 2")
ODD = DeviceConfig(name="odd", host="10.0.0.6", site="Annex")


def hp_reading(at: float = 1_800_000_000.0):  # type: ignore[no-untyped-def]
    return replace(printer("hq-1"), time=at, identity=Identity(
        sys_object_id="1.3.6.1.4.1.11.2.3.9.1", model="HP LaserJet M404dn", serial="PHB12345"),
        page_counters=(PageCounter("1.1", 12345),))


def test_asset_row_from_readings() -> None:
    st = DeviceState(HP, {"snmp_printer": hp_reading()})
    a = asset(st)
    assert (a.make, a.model, a.serial, a.ip, a.location, a.page_count, a.last_seen) == (
        "HP", "HP LaserJet M404dn", "PHB12345", "10.0.0.5", "Room 2", 12345, 1_800_000_000.0)
    never = asset(DeviceState(ODD, {"snmp_printer": down("odd")}))
    assert never.last_seen is None and never.make == "" and never.model == ""
    assert make_of("1.3.6.1.4.1.99999.1") == "" and make_of("1.3.6.1.4.1.1602.4") == "Canon"


def test_csv_has_header_and_defuses_formulas() -> None:
    st = DeviceState(ODD, {"snmp_printer": replace(printer("odd"), identity=Identity(
        model="=HYPERLINK(\"http://evil\")", serial="+1"))})
    rows = list(csv.reader(io.StringIO(to_csv([asset(st)]))))
    assert tuple(rows[0]) == COLUMNS
    row = dict(zip(COLUMNS, rows[1], strict=True))
    assert row["model"] == "'=HYPERLINK(\"http://evil\")" and row["serial"] == "'+1"


@pytest.fixture()
async def url(tmp_path: Path) -> AsyncIterator[tuple[str, web.Application]]:
    config = Config(path=tmp_path / "c.yaml",
                    collector=CollectorSettings(state_dir=tmp_path / "state"),
                    devices=(replace(HP, probes=()), replace(ODD, probes=())))
    app = build_app(config, AuthSettings(public_read=True))
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        await runner.cleanup()


async def test_assets_page_csv_and_api(url: tuple[str, web.Application]) -> None:
    base, app = url
    await app[STATE].handle(hp_reading(), HP)  # the sink the scheduler feeds
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/assets.csv") as r:
            assert r.status == 200 and r.content_type == "text/csv"
            assert "attachment" in r.headers["Content-Disposition"]
            rows = list(csv.DictReader(io.StringIO(await r.text())))
        assert [row["device"] for row in rows] == ["odd", "hq-1"]  # by site, then name
        assert rows[1]["serial"] == "PHB12345" and rows[1]["last_seen"].startswith("2027-01-15")
        async with http.get(f"{base}/api/v1/assets") as r:
            body = await r.json()
        assert body["count"] == 2 and body["assets"][1]["page_count"] == 12345
        async with http.get(f"{base}/assets") as r:
            page = await r.text()
        assert r.status == 200 and "PHB12345" in page and 'href="/assets.csv"' in page
