"""Firmware and MAC of a printer (probes.parsing.parse_firmware / parse_mac).

Pure decoders from tables of rows; then the real path: snmpsim serving the shared recordings and
the hand-made ``handmade_entity`` (ENTITY-MIB firmware, three interfaces), polled over the lean
v1/v2c transport and over pysnmp (SNMPv3, and v2c with ``lean=False``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, cast

import pytest

from collector.demo import Snmpsim
from probes import printer_mib as mib
from probes.errors import SnmpError
from probes.model import Reading
from probes.parsing import firmware_from_text, format_mac, parse_firmware, parse_mac
from probes.printer import PrinterProbe
from probes.secret import Secret
from probes.snmp import SnmpClient, SnmpCredentials, SnmpTarget
from tests.conftest import SHARED_DEVICES, V3_USER, requires_shared, shared_device_names

IFT, IFP, IPX = mib.IF_TYPE, mib.IF_PHYS_ADDRESS, mib.IP_AD_ENT_IF_INDEX
FW, SW = mib.ENT_PHYSICAL_FIRMWARE_REV, mib.ENT_PHYSICAL_SOFTWARE_REV


# --- pure decoders -----------------------------------------------------------------------------
@pytest.mark.parametrize(("value", "want"), [
    (bytes.fromhex("3C2AF4BFF51B"), "3c:2a:f4:bf:f5:1b"),
    (b"", None), (b"\x00" * 6, None), (b"\xff" * 6, None),
    (bytes.fromhex("0011223344"), None),          # 5 octets: not a MAC-48
    (bytes.fromhex("00112233445566"), None),      # 7 octets (an EUI-64 prefix, a garbled row)
    ("1.3.6.1", None), (12, None), (None, None),
])
def test_format_mac(value: Any, want: str | None) -> None:
    assert format_mac(value) == want


MAC1, MAC2, MAC3 = bytes.fromhex("020000000001"), bytes.fromhex("020000000002"), \
    bytes.fromhex("020000000003")


@pytest.mark.parametrize(("rows", "host", "want"), [
    # the interface that carries the polled address wins, whatever its place
    ({f"{IFT}.1": 6, f"{IFP}.1": MAC1, f"{IFT}.2": 6, f"{IFP}.2": MAC2,
      f"{IPX}.10.0.0.5": 2}, "10.0.0.5", "02:00:00:00:00:02"),
    # ... even when its type is not ethernet-like (it carries the address)
    ({f"{IFT}.1": 6, f"{IFP}.1": MAC1, f"{IFT}.2": 53, f"{IFP}.2": MAC2,
      f"{IPX}.10.0.0.5": 2}, "10.0.0.5", "02:00:00:00:00:02"),
    # it is a loopback without an address: the first ethernet-like one
    ({f"{IFT}.1": 24, f"{IFP}.1": b"", f"{IFT}.2": 6, f"{IFP}.2": MAC2,
      f"{IPX}.127.0.0.1": 1}, "127.0.0.1", "02:00:00:00:00:02"),
    # polled by name: no ipAdEntIfIndex lookup
    ({f"{IFT}.1": 6, f"{IFP}.1": MAC1, f"{IPX}.10.0.0.5": 9}, "printer.example", "02:00:00:00:00:01"),
    # the deprecated ethernet types (RFC 3635) and Wi-Fi count, lowest ifIndex first
    ({f"{IFT}.3": 71, f"{IFP}.3": MAC3, f"{IFT}.2": 7, f"{IFP}.2": MAC2}, None,
     "02:00:00:00:00:02"),
    ({f"{IFT}.4": 117, f"{IFP}.4": MAC3}, None, "02:00:00:00:00:03"),
    ({f"{IFT}.4": 62, f"{IFP}.4": MAC3}, None, "02:00:00:00:00:03"),
    # a tunnel or a PPP link with an address-like value, an all-zero MAC, no ifType: nothing
    ({f"{IFT}.1": 131, f"{IFP}.1": MAC1, f"{IFT}.2": 6, f"{IFP}.2": b"\x00" * 6}, None, None),
    ({f"{IFP}.1": MAC1}, None, None),
    ({}, "10.0.0.5", None),
])
def test_parse_mac(rows: dict[str, Any], host: str | None, want: str | None) -> None:
    assert parse_mac(rows, host) == want


@pytest.mark.parametrize(("text", "want"), [
    # rule 1: labels naming the device's software (mib.FIRMWARE_LABELS)
    ("Brother NC-8300h, Firmware Ver.1.14  (14.11.06),MID 8C5-F01,FID 2", "1.14"),
    ("RICOH SP 230SFNw, Firmware Ver.D  ,MID 8C5-KE5FID 2", "D"),
    ("Acme 9, F/W 3.2.1", "3.2.1"),
    ("Xerox AltaLink C8045; SS 100.002.057.09608, NC 100.002.09608, ME 063.022.000",
     "100.002.057.09608"),
    ("Xerox Phaser 3300MFP; OS 1.50.00.14   07-16-2009, Engine 1.05.44", "1.50.00.14"),
    ("Xerox WorkCentre 7556 v1 Multifunction System; System Software 061.121.225.14700, ESS 0",
     "061.121.225.14700"),
    ("Xerox WorkCentre 3325;Sys SW Version WC3325_V51.004.05.000 JAN-10-2014,MCB V2.50",
     "WC3325_V51.004.05.000"),
    ("Dell S5830dn version NH62.YS.N636 kernel 3.0.0 All-N-1", "NH62.YS.N636"),
    ("Xerox Phaser 5550DN; OS 7.92, PS 4.1.0, PCL 5e/6 Version 7.0.1", "7.92"),  # OS before
    # rule 2: Rev., the attached printer's over the print server's
    ("OKI OkiLAN 9450g Rev.00.69 10/100/1000BASE Ethernet PrintServer: Attached to MC873 "
     "Rev.07.87 : Copyright (c) 2015 Oki Data Corporation.", "07.87"),
    ("OKI OkiLAN 8100e Rev.01.02 print server", "01.02"),
    # rule 3: an unlabelled version after the model, or a whole field
    ("RICOH MP C2503 1.35 / RICOH Network Printer C model / RICOH Network Scanner C model",
     "1.35"),
    ("RICOH SP C252DN V1.02 / RICOH Network Printer C model", "V1.02"),
    ("Samsung M4080FX; V11.01.03.04_02-27-2017;Engine V1.00.06 01-19-2017_V1.00;NIC ;S/N ",
     "V11.01.03.04_02-27-2017"),
    # nothing to read: never a guess
    ("HP ETHERNET MULTI-ENVIRONMENT,ROM none,JETDIRECT,JD149,EEPROM JDI99999999,CIDATE 05/28/2018",
     None),
    ("HP ETHERNET MULTI-ENVIRONMENT,SN:AAA0A00000,FN:1G11F33,SVCID:26267,PID:Color Laser", None),
    ("Canon TM-5300 /P", None), ("KONICA MINOLTA bizhub C3110", None), ("EPSON Built-in", None),
    ("Firmware update pending", None),              # a word after the label is no version
    ("Acme 12, System ready", None), ("Acme LaserJet 4250", None),
    ("Sassy Printer 2000", None),                     # "SS" only as a field's label
    ("", None), (None, None),
])
def test_firmware_from_text(text: str | None, want: str | None) -> None:
    assert firmware_from_text(text) == want


def test_entity_mib_comes_first_and_empty_rows_are_skipped() -> None:
    descr = {mib.SYS_DESCR: b"Acme 1, Firmware Ver.0.99"}
    assert parse_firmware({**descr, f"{FW}.1": b"", f"{FW}.2": b"2.31.7",
                           f"{SW}.1": b"9.9"}) == "2.31.7"
    assert parse_firmware({**descr, f"{FW}.1": b"N/A", f"{SW}.3": b"4.0 build 7"}) == "4.0 build 7"
    assert parse_firmware({**descr, f"{FW}.1": b""}) == "0.99"  # an empty table: the text
    # the printer's hrDeviceDescr when sysDescr tells nothing
    assert parse_firmware({mib.SYS_DESCR: b"EPSON Built-in"}, "EPSON WF-1 Rev.2.10") == "2.10"
    assert parse_firmware({}) is None


# --- real path ---------------------------------------------------------------------------------
# What each shared recording holds, read by hand from /work/shared/devices/<name>.snmprec (the
# tests poll it at 127.0.0.1, so ipAdEntIfIndex.127.0.0.1 is the row that counts).
SHARED: dict[str, tuple[str | None, str | None]] = {
    # sysDescr "Firmware Ver.1.14"; ifType 7 (iso88023Csmacd) on if1..3, no row for 127.0.0.1
    "brother": ("1.14", "3c:2a:f4:bf:f5:1b"),
    "canonprinter_tm": (None, "74:bf:c0:da:4a:3d"),  # "Canon TM-5300 /P": no version
    # "version NH62.YS.N636"; 127.0.0.1 is on if1, a loopback (24) without address: if2
    "dell-laser_s5830dn": ("NH62.YS.N636", "00:21:b7:43:f5:81"),
    "epson": (None, "9c:ae:d3:aa:d6:c5"),
    # 127.0.0.1 on if5, which ifTable lacks; if1 is type 7
    "fujifilmprinter_c7580": (None, "1c:7d:22:65:c8:50"),
    "jetdirect": (None, "94:57:a5:34:df:33"),      # if1 loopback, if2 first ethernet
    "jetdirect_m880": (None, "10:e7:c6:62:70:8e"),  # EEPROM JDI... is the card's: not read
    "konica": (None, "00:20:6b:67:ef:7c"),          # 127.0.0.1 on if2, a loopback
    "okilan_9450g": ("07.87", "00:25:36:d1:a6:5e"),  # "Attached to MC873 Rev.07.87"
    "ricoh_mpc2503": ("1.35", "58:38:79:2a:3d:fb"),  # "RICOH MP C2503 1.35 / ..."
    "samsungprinter_m4080fx": ("V11.01.03.04_02-27-2017", "84:25:19:1d:eb:52"),
    "sharp": (None, "24:31:84:c8:46:6a"),
    "xerox": ("100.002.057.09608", None),           # "SS 100.002.057.09608"; no ifTable
}
KNOWN = [n for n in shared_device_names() if n in SHARED]


@pytest.fixture(scope="module")
async def client() -> AsyncIterator[SnmpClient]:
    c = await SnmpClient.create()
    yield c
    c.close()


@pytest.fixture(scope="module")
async def engine_client() -> AsyncIterator[SnmpClient]:
    c = await SnmpClient.create(lean=False)  # v1/v2c through pysnmp's engine
    yield c
    c.close()


def target(sim: Snmpsim, community: str, **kw: Any) -> SnmpTarget:
    return SnmpTarget(sim.host, sim.port, SnmpCredentials(community=Secret(community), **kw),
                      timeout=2.0, retries=1)


def v3(sim: Snmpsim, context: str) -> SnmpTarget:
    return SnmpTarget(sim.host, sim.port, SnmpCredentials(
        version="3", user=V3_USER["user"], auth_protocol="sha",
        auth_key=Secret(V3_USER["auth-key"]), priv_protocol="aes",
        priv_key=Secret(V3_USER["priv-key"]), context=context), timeout=2.0, retries=1)


async def both(probe: PrinterProbe, t: SnmpTarget, name: str) -> tuple[Reading, Reading]:
    """A full poll, then a light one (which reuses what the full poll read)."""
    full = await probe.collect(t, device=name, full=True)
    return full, await probe.collect(t, device=name, full=False)


@requires_shared
@pytest.mark.parametrize("name", KNOWN)
async def test_shared_recordings(client: SnmpClient, engine_client: SnmpClient,
                                 snmpsim: Snmpsim, name: str) -> None:
    want = SHARED[name]
    for c, kw in ((client, {}), (client, {"version": "1"}), (engine_client, {})):
        for reading in await both(PrinterProbe(c), target(snmpsim, name, **kw), name):
            assert reading.reachable, reading.error
            assert (reading.identity.firmware, reading.identity.mac) == want, (kw, c)
    for reading in await both(PrinterProbe(client), v3(snmpsim, name), name):
        assert (reading.identity.firmware, reading.identity.mac) == want, "v3"


def _recording(name: str) -> dict[str, str]:
    rows = {}
    for line in (SHARED_DEVICES / f"{name}.snmprec").read_text(errors="replace").splitlines():
        oid, _, rest = line.partition("|")
        tag, _, value = rest.partition("|")
        rows[oid] = value.lower() if tag == "4x" else value
    return rows


@requires_shared
@pytest.mark.parametrize("name", shared_device_names())
async def test_any_recording_reads_only_what_it_holds(client: SnmpClient, snmpsim: Snmpsim,
                                                      name: str) -> None:
    """On every recording (also ones this file has no table entry for): the MAC is one of the
    recording's ifPhysAddress values, the firmware a piece of its sysDescr, hrDeviceDescr or
    ENTITY-MIB text."""
    reading = await PrinterProbe(client).collect(target(snmpsim, name), device=name)
    assert reading.reachable, reading.error
    rows = _recording(name)
    if reading.identity.mac is not None:
        phys = {v for k, v in rows.items() if k.startswith(IFP + ".")}
        assert reading.identity.mac.replace(":", "") in phys
    if reading.identity.firmware is not None:
        texts = [v for k, v in rows.items() if k == mib.SYS_DESCR
                 or k.startswith((mib.HR_DEVICE_DESCR + ".", FW + ".", SW + "."))]
        assert any(reading.identity.firmware in t for t in texts), texts


async def test_handmade_entity_firmware_and_mac(client: SnmpClient, engine_client: SnmpClient,
                                                snmpsim: Snmpsim) -> None:
    # ENTITY-MIB row 2's firmware over sysDescr's "Firmware Ver.0.99"; the MAC of interface 3,
    # which carries 127.0.0.1, over interface 2's (the first ethernet one)
    want = ("2.31.7", "02:00:00:a0:b0:02")
    for c, t in ((client, target(snmpsim, "handmade_entity")),
                 (client, target(snmpsim, "handmade_entity", version="1")),
                 (engine_client, target(snmpsim, "handmade_entity")),
                 (client, v3(snmpsim, "handmade_entity"))):
        for reading in await both(PrinterProbe(c), t, "hm"):
            assert reading.result == "ok", reading.error
            assert (reading.identity.firmware, reading.identity.mac) == want
            assert reading.to_json()["identity"]["mac"] == want[1]


async def test_no_extra_requests_for_a_device_without_these_tables(
        client: SnmpClient, snmpsim: Snmpsim) -> None:
    """handmade_jam has no ifTable, ipAddrTable or ENTITY-MIB: a v2c full poll is still one GET
    and one GETBULK (the walk's columns end in its first answer), no retries; a light poll asks
    for none of them."""
    probe = PrinterProbe(client)
    full, light = await both(probe, target(snmpsim, "handmade_jam"), "jam")
    assert (full.cost.pdus, full.cost.retries) == (2, 0)
    assert (full.identity.firmware, full.identity.mac) == (None, None)
    assert light.cost.pdus == 2 and light.cost.retries == 0


class _ErrsOnIpAddrTable:
    """A fake transport over a recording's rows: its GET answers error-status genErr when asked
    for an ipAddrTable row (an agent quirk), as SnmpClient raises it."""

    def __init__(self, rows: dict[str, Any], err_on_entity: bool = False) -> None:
        self.rows = rows
        self.err_on_entity = err_on_entity  # ... and its GETBULK errs on ENTITY-MIB columns
        self.gets: list[tuple[str, ...]] = []
        self.walks: list[tuple[str, ...]] = []

    async def get(self, target: SnmpTarget, oids: Any, cost: Any = None) -> dict[str, Any]:
        self.gets.append(tuple(oids))
        if any(o.startswith(IPX + ".") for o in oids):
            raise SnmpError("snmp_error", "error-status 5 at index 6")
        return {o: self.rows[o] for o in oids if o in self.rows}

    async def walk_columns(self, target: SnmpTarget, columns: Any, cost: Any = None,
                           max_repetitions: int | None = None) -> dict[str, Any]:
        self.walks.append(tuple(columns))
        if self.err_on_entity and mib.ENT_PHYSICAL_FIRMWARE_REV in columns:
            raise SnmpError("snmp_error", "error-status 5 at index 30")
        return {o: v for o, v in self.rows.items() if o.startswith(tuple(c + "." for c in columns))}


async def test_an_error_status_for_the_ipaddrtable_row_does_not_fail_the_poll() -> None:
    rows = {mib.SYS_DESCR: b"Acme 1, Firmware Ver.3.2", mib.SYS_UPTIME: 100,
            f"{mib.PRT_SERIAL}.1": b"SN1", f"{IFT}.1": 6, f"{IFP}.1": MAC1,
            f"{mib.PRT_MARKER_LIFE_COUNT}.1.1": 10}
    fake = _ErrsOnIpAddrTable(rows)
    reading = await PrinterProbe(cast(SnmpClient, fake)).collect(
        SnmpTarget("10.0.0.5", 161), full=True)
    assert reading.result == "ok", reading.error
    assert (reading.identity.firmware, reading.identity.mac) == ("3.2", "02:00:00:00:00:01")
    assert fake.gets == [(*mib.SYSTEM_SCALARS, f"{IPX}.10.0.0.5"), mib.SYSTEM_SCALARS]
    assert len(fake.walks) == 1


async def test_an_error_status_for_the_identity_columns_does_not_fail_the_poll() -> None:
    rows = {mib.SYS_DESCR: b"Acme 1, Firmware Ver.3.2", mib.SYS_UPTIME: 100,
            f"{mib.PRT_SERIAL}.1": b"SN1", f"{IFT}.1": 6, f"{IFP}.1": MAC1,
            f"{mib.PRT_MARKER_LIFE_COUNT}.1.1": 10}
    fake = _ErrsOnIpAddrTable(rows, err_on_entity=True)
    reading = await PrinterProbe(cast(SnmpClient, fake)).collect(
        SnmpTarget("printer.example", 161), full=True)
    assert reading.result == "ok", reading.error
    assert (reading.identity.serial, reading.identity.firmware, reading.identity.mac) == (
        "SN1", "3.2", None)  # the sysDescr rule still reads; no interface columns, no MAC
    assert reading.page_count == 10 and len(fake.walks) == 2
    assert not set(mib.IDENTITY_COLUMNS) & set(fake.walks[1])
