"""Real path: snmpsim serves real recordings over UDP; the printer probe polls them.

For every device in shared/devices, everything its expected/<name>.json says is asserted.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from collector.demo import Snmpsim
from probes.model import Reading
from probes.printer import PrinterProbe
from probes.secret import Secret
from probes.snmp import SnmpClient, SnmpCredentials, SnmpTarget
from tests.conftest import HANDMADE as HANDMADE_DIR
from tests.conftest import V3_USER, expected, requires_shared, shared_device_names


def norm(text: str | None) -> str:
    return re.sub(r"\s+", "", (text or "").replace("\x00", "")).lower()


def matches(ours: str, theirs: str) -> bool:
    a, b = norm(ours), norm(theirs)
    return a in b or b in a


@pytest.fixture(scope="session")
async def client() -> AsyncIterator[SnmpClient]:
    c = await SnmpClient.create()
    yield c
    c.close()


async def poll(client: SnmpClient, sim: Snmpsim, community: str, **kw: Any) -> Reading:
    target = SnmpTarget(sim.host, sim.port, SnmpCredentials(community=Secret(community), **kw),
                        timeout=2.0, retries=1)
    return await PrinterProbe(client).collect(target, device=community)


def assert_rows(ours: dict[str, Any], want: list[dict[str, Any]], what: str) -> None:
    for row in want:
        idx = row["index"]
        assert idx in ours, f"{what} {idx} missing; have {sorted(ours)}"
        got = ours[idx]
        assert matches(got.description, row["description"]), (
            f"{what} {idx}: description {got.description!r} vs {row['description']!r}")
        assert got.level == row["level"], f"{what} {idx} level"
        assert got.capacity == row["capacity"], f"{what} {idx} capacity"
        if "percent" in row:
            if row["percent"] is None:
                assert got.percent is None, f"{what} {idx}: sentinel turned into a number"
            else:
                assert got.percent == pytest.approx(row["percent"], abs=1.0), f"{what} {idx} %"
        if "state" in row:
            assert got.state == row["state"], f"{what} {idx} state"


@requires_shared
@pytest.mark.parametrize("name", shared_device_names())
async def test_real_device_matches_expected(client: SnmpClient, snmpsim: Snmpsim,
                                            name: str) -> None:
    want = expected(name)
    reading = await poll(client, snmpsim, name)
    assert reading.reachable, reading.error
    assert reading.error is None
    assert norm(reading.identity.sys_descr) == norm(want["sys_descr"])
    if want["faults"] is None:
        assert reading.faults is None
    else:
        assert reading.faults == set(want["faults"])
    assert_rows({s.index: s for s in reading.supplies}, want["supplies"], "supply")
    assert_rows({t.index: t for t in reading.trays}, want["trays"], "tray")
    assert reading.cost.pdus >= 2 and reading.cost.duration_s > 0


HANDMADE: dict[str, dict[str, Any]] = {
    "handmade_jam": dict(status="critical", faults={"jammed"}, device_status="down",
                         alert_codes={"jam"}, serial="HM-JAM-0001", page_count=12345),
    "handmade_door": dict(status="critical", faults={"door_open"}, alert_codes={"door_open"}),
    "handmade_notoner": dict(
        status="critical", faults={"no_toner"},
        supplies={"1.1": ("cyan", "ok", 50.0, "HM301C"), "1.4": ("black", "empty", 0.0, "HM301K"),
                  "1.5": (None, "near_full", 5.0, None), "1.6": (None, "ok", 50.0, None),
                  "1.7": (None, "some_remaining", None, None),
                  "1.8": (None, "other", None, None)},
        trays={"1.1": ("empty", True), "1.2": ("empty", False)}),
    "handmade_twooctet": dict(
        status="critical",
        faults={"service_requested", "output_tray_missing", "overdue_prevent_maint"},
        supplies={"1.1": ("black", "ok", 50.0, None), "1.2": (None, "full", 0.0, None),
                  "1.3": (None, "unknown", None, None)},
        trays={"1.1": ("unknown", False)}),
}


@pytest.mark.parametrize("name", sorted(HANDMADE))
async def test_handmade_faults(client: SnmpClient, snmpsim: Snmpsim, name: str) -> None:
    want = HANDMADE[name]
    reading = await poll(client, snmpsim, name)
    assert reading.status == want["status"], reading.problems
    assert reading.faults == want["faults"]
    if "device_status" in want:
        assert reading.device_status == want["device_status"]
    if "alert_codes" in want:
        assert {a.code for a in reading.alerts} == want["alert_codes"]
        assert all(a.severity == "critical" for a in reading.alerts)
    if "serial" in want:
        assert reading.identity.serial == want["serial"]
        assert reading.page_count == want["page_count"]
    supplies = {s.index: s for s in reading.supplies}
    for idx, (colour, state, percent, part) in want.get("supplies", {}).items():
        s = supplies[idx]
        assert (s.colour, s.state, s.percent, s.part_number) == (colour, state, percent, part), idx
    trays = {t.index: t for t in reading.trays}
    for idx, (state, manual) in want.get("trays", {}).items():
        assert (trays[idx].state, trays[idx].manual) == (state, manual)


async def test_hex_description_with_nul_padding(client: SnmpClient, snmpsim: Snmpsim) -> None:
    reading = await poll(client, snmpsim, "handmade_notoner")
    drum = next(s for s in reading.supplies if s.index == "1.6")
    assert drum.description == "Drum Unit"
    assert drum.type == "opc" and drum.unit == "impressions"


async def test_non_printer_is_reported_not_crashed(client: SnmpClient, snmpsim: Snmpsim) -> None:
    reading = await poll(client, snmpsim, "handmade_switch")
    assert reading.reachable and reading.status == "unknown"
    assert reading.error and "not a printer" in reading.error


async def test_print_queues_without_printer_mib_are_not_a_printer(
        client: SnmpClient, snmpsim: Snmpsim) -> None:
    # hrPrinterTable alone (a Windows host's "Microsoft Print to PDF") is not a printer.
    reading = await poll(client, snmpsim, "handmade_winhost")
    assert reading.reachable and reading.status == "unknown"
    assert reading.error and "not a printer" in reading.error
    assert reading.identity.sys_name == "hm-winhost"
    assert reading.supplies == () and reading.faults is None


async def test_printer_by_host_resources_alone(client: SnmpClient, snmpsim: Snmpsim) -> None:
    # An hrDevicePrinter row and no processors: a printer whose agent lacks Printer-MIB. Its
    # own hrDeviceStatus (warning) counts; it has no supplies to show.
    reading = await poll(client, snmpsim, "handmade_hronly")
    assert reading.reachable and reading.error is None
    assert reading.status == "warning" and reading.device_status == "warning"
    assert reading.identity.model == "Hand-made LFP 1.04"
    assert reading.supplies == () and reading.faults is None


@requires_shared
@pytest.mark.parametrize(("name", "index"), [("ricoh_mpc2503", "1.2"), ("canonprinter_tm", "1.6")])
async def test_waste_level_is_remaining_space(client: SnmpClient, snmpsim: Snmpsim, name: str,
                                              index: str) -> None:
    # Both printers are running with error state 00; their waste containers have room left.
    reading = await poll(client, snmpsim, name)
    waste = next(s for s in reading.supplies if s.index == index)
    assert waste.supply_class == "filled" and waste.state == "ok"
    assert not any(waste.description in p for p in reading.problems), reading.problems


async def test_wrong_community_times_out_as_data(client: SnmpClient, snmpsim: Snmpsim) -> None:
    target = SnmpTarget(snmpsim.host, snmpsim.port,
                        SnmpCredentials(community=Secret("no-such-community")),
                        timeout=0.3, retries=1)
    reading = await PrinterProbe(client).collect(target)
    assert not reading.reachable and reading.status == "unreachable"
    assert reading.result == "timeout" and reading.error
    assert reading.cost.pdus == 2 and reading.cost.retries == 1


async def test_snmp_v1_walks_with_getnext(client: SnmpClient, snmpsim: Snmpsim) -> None:
    reading = await poll(client, snmpsim, "handmade_notoner", version="1")
    assert reading.reachable, reading.error
    assert len(reading.supplies) == 8 and reading.faults == {"no_toner"}


def v3(**over: Any) -> SnmpCredentials:
    base: dict[str, Any] = dict(
        version="3", user=V3_USER["user"], auth_protocol="sha",
        auth_key=Secret(V3_USER["auth-key"]), priv_protocol="aes",
        priv_key=Secret(V3_USER["priv-key"]), context="handmade_jam")
    base.update(over)
    return SnmpCredentials(**base)


async def test_snmp_v3_auth_priv(client: SnmpClient, snmpsim: Snmpsim) -> None:
    target = SnmpTarget(snmpsim.host, snmpsim.port, v3(), timeout=2.0, retries=1)
    reading = await PrinterProbe(client).collect(target)
    assert reading.reachable, reading.error
    assert reading.faults == {"jammed"} and reading.identity.serial == "HM-JAM-0001"


@pytest.mark.parametrize("bad", [dict(auth_key=Secret("wrong-auth-key")),
                                 dict(priv_key=Secret("wrong-priv-key")),
                                 dict(user="nobody")])
async def test_snmp_v3_wrong_credentials_fail_cleanly(client: SnmpClient, snmpsim: Snmpsim,
                                                      bad: dict[str, Any]) -> None:
    target = SnmpTarget(snmpsim.host, snmpsim.port, v3(**bad), timeout=0.5, retries=0)
    reading = await PrinterProbe(client).collect(target)
    assert not reading.reachable and reading.status == "unreachable"
    assert reading.error and reading.result in {"auth_failed", "timeout"}


async def test_dynamic_poll_reuses_static_columns(client: SnmpClient, snmpsim: Snmpsim) -> None:
    probe = PrinterProbe(client)
    target = SnmpTarget(snmpsim.host, snmpsim.port,
                        SnmpCredentials(community=Secret("handmade_notoner")))
    full = await probe.collect(target, full=True)
    light = await probe.collect(target, full=False)
    assert light.cost.pdus <= full.cost.pdus
    assert [s.description for s in light.supplies] == [s.description for s in full.supplies]
    assert [s.level for s in light.supplies] == [s.level for s in full.supplies]
    assert light.identity.serial == full.identity.serial


HANDMADE_NAMES = sorted(p.stem for p in HANDMADE_DIR.glob("*.snmprec"))


@pytest.mark.parametrize("name", shared_device_names() + HANDMADE_NAMES)
async def test_light_poll_reads_what_a_full_poll_reads(client: SnmpClient, snmpsim: Snmpsim,
                                                       name: str) -> None:
    """A light poll (one GET of the known rows' levels and states, a short alert walk) gives the
    same reading as a full walk, on every recording, with fewer varbinds to decode."""
    probe = PrinterProbe(client)
    target = SnmpTarget(snmpsim.host, snmpsim.port, SnmpCredentials(community=Secret(name)),
                        timeout=2.0, retries=1)
    full = await probe.collect(target, device=name, full=True)
    light = await probe.collect(target, device=name, full=False)
    assert light.cost.pdus <= full.cost.pdus

    def comparable(reading: Reading) -> dict[str, Any]:
        data = reading.to_json()
        for key in ("time", "cost", "uptime_seconds"):  # the uptime ticks on between polls
            data.pop(key)
        return data

    assert comparable(light) == comparable(full)
