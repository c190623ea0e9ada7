"""The asset list: rows from the latest readings and the hosts' inventories (pure), its CSV
(formula cells defused), and the page, CSV and JSON from the real app over HTTP: a printer polled
by the scheduler from snmpsim (firmware, MAC) and a host whose agent reported its inventory."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from agent.schema import Inventory, InventoryDisk, Report
from collector.app import build_app
from collector.assets.inventory import COLUMNS, asset, assets, hardware_of, make_of, to_csv
from collector.auth import AuthSettings
from collector.config import CollectorSettings, Config, DeviceConfig, SnmpProfile
from collector.demo import Snmpsim, free_port
from collector.ingest.service import HostInventory
from collector.keys import INGEST, STATE
from collector.state import DeviceState
from probes.model import Identity, PageCounter, Reading
from probes.registry import probe_settings
from probes.secret import Secret
from tests.collector.conftest import down, printer
from tests.collector.ingest.helpers import ADMIN, Server, batch, report, serve
from tests.waiting import async_wait_until

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


# --- firmware, MAC, hosts ----------------------------------------------------------------------
PC = DeviceConfig(name="pc-7", host="pc-7", kind="workstation", site="HQ")
INV = Inventory(hostname="pc-7", os="Linux", os_release="6.1.0-13-amd64",
                os_version="#1 SMP Debian", cpu_model="Intel(R) Core(TM) i5-8500 CPU @ 3.00GHz",
                cpu_cores=6, cpu_threads=6, memory_bytes=16 * 2**30,
                disks=[InventoryDisk(device="/dev/sda1", mountpoint="/", fstype="ext4",
                                     total_bytes=512 * 2**30)],
                macs=["52:54:00:12:34:56", "52:54:00:ab:cd:ef"],
                ips=["fe80::1", "192.0.2.70"], manufacturer="LENOVO", model="ThinkCentre M720q",
                serial="PC0XYZ12")


def agent_reading(at: float) -> Reading:
    return Reading(device="pc-7", host="pc-7", probe="agent", time=at,
                   metrics=(("cpu_percent", 3.0),))


def test_printer_firmware_and_mac_from_its_identity() -> None:
    st = DeviceState(HP, {"snmp_printer": replace(hp_reading(), identity=Identity(
        sys_object_id="1.3.6.1.4.1.11.2", firmware="2409048_052887", mac="94:57:a5:34:df:33"))})
    a = asset(st)
    assert (a.firmware, a.mac, a.os, a.hardware) == ("2409048_052887", "94:57:a5:34:df:33",
                                                    "", "")


def test_host_row_from_its_inventory() -> None:
    host = HostInventory(PC, 1_800_000_000.0, 1_800_000_005.0, INV)
    a = asset(DeviceState(PC, {"agent": agent_reading(1_800_000_010.0)}), host)
    assert (a.make, a.model, a.serial, a.os) == ("LENOVO", "ThinkCentre M720q", "PC0XYZ12",
                                                 "Linux 6.1.0-13-amd64")
    assert a.mac == "52:54:00:12:34:56 52:54:00:ab:cd:ef"
    assert a.ip == "192.0.2.70 fe80::1"  # the host is a name: the agent's addresses, IPv4 first
    assert a.last_seen == 1_800_000_010.0 and a.page_count is None and a.firmware == ""
    assert a.hardware == ("Intel(R) Core(TM) i5-8500 CPU @ 3.00GHz; 6 cores / 6 threads; "
                          "16.0 GiB RAM; disks: / 512.0 GiB ext4")
    # a configured address wins over the agent's list
    fixed = asset(DeviceState(replace(PC, host="10.1.2.3")), host)
    assert fixed.ip == "10.1.2.3"
    # no report since the collector started: listed from the agents database alone
    (only,) = assets([], {"pc-7": host})
    assert only.device == "pc-7" and only.last_seen == 1_800_000_005.0 and only.serial


def test_host_without_dmi_strings_keeps_empty_cells() -> None:
    bare = Inventory(hostname="pc-8", os="Windows", os_release="10", cpu_cores=4)
    a = asset(DeviceState(PC), HostInventory(PC, 1.0, None, bare))
    assert (a.make, a.model, a.serial, a.mac, a.ip) == ("", "", "", "", "pc-7")
    assert a.os == "Windows 10" and hardware_of(bare) == "4 cores"


async def test_assets_through_a_real_poll_and_a_real_agent_report(
        tmp_path: Path, snmpsim: Snmpsim) -> None:
    """The scheduler polls the hand-made ENTITY-MIB printer in snmpsim; an agent enrolls and
    reports its inventory over HTTP; /assets.csv and /api/v1/assets show both."""
    mfp = DeviceConfig(
        name="mfp", host=snmpsim.host, port=snmpsim.port, site="HQ",
        snmp=SnmpProfile(name="p", community=Secret("handmade_entity"), timeout=1.0, retries=1),
        probes=(probe_settings("snmp_printer", interval=0.5, timeout=3.0, full_every=4),))
    async for server in serve(tmp_path, devices=(mfp,)):
        agent_id, token = await server.enroll("pc-7")
        r = Report.model_validate({**report(agent_id, 1).model_dump(), "inventory": INV})
        status, body = await server.call("POST", "/api/v1/agents/reports", batch(r),
                                         token=token)
        assert status == 200 and body["accepted"] == 1, body
        # a second agent, never reported, whose stored inventory no longer validates: left
        # out, no failure
        other, _ = await server.enroll("pc-old")
        app = server.app
        await app[INGEST].store.put_inventory(other, 1.0, '{"cpu_cores": -5}')

        async def polled(app: web.Application = app) -> bool:
            st = app[STATE].get("mfp")
            return bool(st and "snmp_printer" in st.readings)

        await async_wait_until(polled, timeout=20, message="the printer was not polled")
        rows = await csv_rows(server)
        # by site, then name: the agent's own device has no site
        assert [r["device"] for r in rows] == ["pc-7", "mfp"]
        pc, mfp_row = rows
        assert (mfp_row["firmware"], mfp_row["mac"], mfp_row["serial"]) == (
            "2.31.7", "02:00:00:a0:b0:02", "HM-ENT-0500")
        assert (pc["make"], pc["model"], pc["serial"], pc["os"], pc["kind"]) == (
            "LENOVO", "ThinkCentre M720q", "PC0XYZ12", "Linux 6.1.0-13-amd64", "workstation")
        assert pc["mac"] == "52:54:00:12:34:56 52:54:00:ab:cd:ef"
        assert "16.0 GiB RAM" in pc["hardware"] and pc["last_seen"]
        status, body = await server.call("GET", "/api/v1/assets", token=ADMIN)
        assert status == 200 and body["count"] == 2
        assert body["assets"][0]["os"] == "Linux 6.1.0-13-amd64"
        status, page = await server.call("GET", "/assets", token=ADMIN)
        assert status == 200 and "ThinkCentre M720q" in page and "2.31.7" in page
        # the printer's own page names them too
        status, page = await server.call("GET", "/devices/mfp", token=ADMIN)
        assert status == 200, page
        assert "<th>Firmware</th><td>2.31.7</td>" in page
        assert "<th>MAC</th><td>02:00:00:a0:b0:02</td>" in page


async def csv_rows(server: Server) -> list[dict[str, str]]:
    status, text = await server.call("GET", "/assets.csv", token=ADMIN)
    assert status == 200, text
    rows = list(csv.reader(io.StringIO(text)))
    assert tuple(rows[0]) == COLUMNS
    return [dict(zip(COLUMNS, row, strict=True)) for row in rows[1:]]


def test_csv_defuses_formulas_in_host_inventory() -> None:
    evil = Inventory(manufacturer="=cmd|' /C calc'!A0", model="@SUM(1)", serial="-2+3")
    (row,) = [dict(zip(COLUMNS, r, strict=True)) for r in
              list(csv.reader(io.StringIO(to_csv([asset(DeviceState(PC), HostInventory(
                  PC, 1.0, None, evil))]))))[1:]]
    assert row["make"].startswith("'=") and row["model"] == "'@SUM(1)"
    assert row["serial"] == "'-2+3"
