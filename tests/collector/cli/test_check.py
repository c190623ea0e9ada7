"""`fleetwatch check` end to end: the real console script against snmpsim over UDP."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import unicodedata
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from collector.cli.check import exit_code
from collector.cli.render import render
from collector.demo import Snmpsim, free_port
from probes import printer_mib as mib
from probes.model import Alert, Identity, Reading, Supply, Tray
from probes.printer import PrinterProbe
from probes.secret import Secret
from probes.snmp import SnmpClient, SnmpCredentials, SnmpTarget
from tests.conftest import HANDMADE, V3_USER, expected, requires_shared, shared_device_names

EXE = [sys.executable, "-m", "collector.cli"]
TOP_KEYS = {"host", "reachable", "error", "status", "identity", "uptime_seconds", "page_count",
            "faults", "alerts", "supplies", "trays"}
SUPPLY_KEYS = {"index", "description", "type", "colour", "unit", "level", "capacity", "percent",
               "state", "part_number"}
TRAY_KEYS = {"index", "description", "media", "level", "capacity", "percent", "state"}


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*EXE, "check", *args], capture_output=True, text=True, timeout=timeout)


def check_json(sim: Snmpsim, community: str, *extra: str) -> tuple[int, dict[str, Any]]:
    proc = run(sim.host, "--port", str(sim.port), "--community", community, "--json", *extra)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


@requires_shared
@pytest.mark.parametrize("name", shared_device_names())
def test_json_for_every_real_device(snmpsim: Snmpsim, name: str) -> None:
    code, data = check_json(snmpsim, name)
    want = expected(name)
    assert TOP_KEYS <= set(data)
    assert set(data["identity"]) >= {"sys_descr", "sys_name", "model", "serial"}
    assert data["reachable"] is True and data["error"] is None
    assert code == {"ok": 0, "warning": 1, "critical": 2}[data["status"]]
    assert data["faults"] == (None if want["faults"] is None else sorted(want["faults"]))
    supplies = {s["index"]: s for s in data["supplies"]}
    for row in want["supplies"]:
        got = supplies[row["index"]]
        assert SUPPLY_KEYS <= set(got)
        assert (got["level"], got["capacity"]) == (row["level"], row["capacity"])
        if row.get("percent") is None and "state" in row:
            assert got["percent"] is None and got["state"] == row["state"]
        elif "percent" in row:
            assert got["percent"] == pytest.approx(row["percent"], abs=1.0)
    trays = {t["index"]: t for t in data["trays"]}
    for row in want["trays"]:
        assert TRAY_KEYS <= set(trays[row["index"]])
        assert trays[row["index"]]["level"] == row["level"]


@pytest.mark.parametrize(("community", "code", "status"), [
    ("handmade_jam", 2, "critical"), ("handmade_twooctet", 2, "critical"),
    ("handmade_switch", 3, "unknown"), ("handmade_winhost", 3, "unknown"),
])
def test_exit_codes_follow_nagios(snmpsim: Snmpsim, community: str, code: int,
                                  status: str) -> None:
    got, data = check_json(snmpsim, community)
    assert (got, data["status"]) == (code, status)


@requires_shared
def test_warning_exit_code(snmpsim: Snmpsim) -> None:
    code, data = check_json(snmpsim, "sharp")
    assert (code, data["status"], data["faults"]) == (1, "warning", ["low_toner"])


def test_human_output_fits_80_columns(snmpsim: Snmpsim) -> None:
    proc = run(snmpsim.host, "--port", str(snmpsim.port), "--community", "handmade_notoner")
    assert proc.returncode == 2
    lines = proc.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), max(lines, key=len)
    text = proc.stdout
    for needle in ("CRITICAL", "Handmade Color 300", "HM-NT-0003", "Black Toner HM301K",
                   "empty", "Faults: no_toner", "marker_toner_empty", "pages: 12,345"):
        assert needle in text


def test_human_output_names_firmware_and_mac(snmpsim: Snmpsim) -> None:
    # the hand-made ENTITY-MIB printer: entPhysicalFirmwareRev and the polled interface's MAC
    proc = run(snmpsim.host, "--port", str(snmpsim.port), "--community", "handmade_entity")
    assert "firmware: 2.31.7" in proc.stdout and "mac:      02:00:00:a0:b0:02" in proc.stdout, (
        proc.stdout)


def test_unreachable_host_one_line_reason() -> None:
    port = free_port("udp")  # nothing listens there
    proc = run("127.0.0.1", "--port", str(port), "--timeout", "0.2", "--retries", "0", "--json")
    assert proc.returncode == 3 and "Traceback" not in proc.stderr
    data = json.loads(proc.stdout)
    assert data["reachable"] is False and data["status"] == "unreachable"
    assert data["result"] == "timeout" and data["error"].startswith("timeout")
    assert "\n" not in data["error"]


def test_wrong_community_human(snmpsim: Snmpsim) -> None:
    proc = run(snmpsim.host, "--port", str(snmpsim.port), "--community", "wrong",
               "--timeout", "0.2", "--retries", "0")
    assert proc.returncode == 3
    assert "UNREACHABLE" in proc.stdout and "timeout" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_unresolvable_host() -> None:
    proc = run("no-such-host.invalid", "--timeout", "0.2", "--json")
    assert proc.returncode == 3 and "Traceback" not in proc.stderr
    assert json.loads(proc.stdout)["result"] == "bad_address"


@pytest.fixture()
def garbage_agent() -> Iterator[int]:
    """A UDP 'agent' that answers every request with bytes that are not SNMP."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                _, addr = sock.recvfrom(65535)
            except TimeoutError:
                continue
            sock.sendto(b"\x30\x03\x02\x01\xff garbage", addr)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield sock.getsockname()[1]
    stop.set()
    thread.join()
    sock.close()


def test_malformed_answer(garbage_agent: int) -> None:
    proc = run("127.0.0.1", "--port", str(garbage_agent), "--timeout", "0.3", "--retries", "0")
    assert proc.returncode == 3 and "Traceback" not in proc.stderr + proc.stdout
    _, first, *more = proc.stdout.strip().splitlines()  # header + the reason, wrapped at 80
    assert first.startswith("  error: malformed_answer"), proc.stdout
    assert all(line.startswith(" " * len("  error: ")) for line in more), proc.stdout


def test_snmp_v3_cli(snmpsim: Snmpsim) -> None:
    args = [snmpsim.host, "--port", str(snmpsim.port), "--v3-user", V3_USER["user"],
            "--auth-proto", "sha", "--auth-key", V3_USER["auth-key"], "--priv-proto", "aes",
            "--priv-key", V3_USER["priv-key"], "--context", "handmade_door", "--json"]
    proc = run(*args)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["faults"] == ["door_open"]
    bad = list(args)
    bad[bad.index(V3_USER["auth-key"])] = "not-the-key"
    proc = run(*bad, "--timeout", "0.5", "--retries", "0")
    assert proc.returncode == 3 and "Traceback" not in proc.stderr
    assert json.loads(proc.stdout)["error"].startswith(("auth_failed", "timeout"))


@pytest.mark.parametrize("args", [
    ["127.0.0.1", "--v3-user", "u", "--auth-key", "short"],
    ["127.0.0.1", "--timeout", "0"],
    ["127.0.0.1", "--timeout", "nan"],
    ["127.0.0.1", "--timeout", "inf"],
    ["127.0.0.1", "--timeout", "-inf"],
    ["127.0.0.1", "--timeout", "1e12"],
    ["127.0.0.1", "--timeout", "61"],
    ["127.0.0.1", "--timeout", "soon"],
    ["127.0.0.1", "--retries", "-1"],
    ["127.0.0.1", "--retries", "1000000"],
    ["127.0.0.1", "--port", "70000"],
    ["127.0.0.1", "--port", "0"],
    ["127.0.0.1", "--port", "abc"],
    ["127.0.0.1", "--auth-proto", "rot13"],
    ["127.0.0.1", "--snmp-version", "4"],
    ["127.0.0.1", "--no-such-option"],
    ["127.0.0.1", "extra-host"],
    [],  # no HOST
])
def test_bad_arguments_are_one_line(args: list[str]) -> None:
    proc = subprocess.run([*EXE, "check", *args], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3, proc.stderr  # Nagios UNKNOWN, not 2 (CRITICAL)
    assert "Traceback" not in proc.stderr and "usage:" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fleetwatch check: "), proc.stderr
    assert proc.stdout == ""


def test_check_accepts_the_bounds(snmpsim: Snmpsim) -> None:
    code, data = check_json(snmpsim, "handmade_jam", "--timeout", "60", "--retries", "10")
    assert (code, data["status"]) == (2, "critical")


@pytest.mark.parametrize("args", [["config", "--bogus"], ["config"], ["no-such-command"]])
def test_other_commands_keep_argparse_exit_2(args: list[str]) -> None:
    proc = subprocess.run([*EXE, *args], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "usage:" in proc.stderr


# --- human output width ------------------------------------------------------------------------
def display_width(text: str) -> int:
    """Terminal columns: East Asian wide/fullwidth characters take two, combining marks none."""
    return sum(0 if unicodedata.combining(c) else
               2 if unicodedata.east_asian_width(c) in {"W", "F"} else 1 for c in text)


def assert_fits(text: str, width: int = 80) -> None:
    for line in text.splitlines():
        assert display_width(line) <= width, f"{display_width(line)} columns: {line!r}"


@pytest.fixture()
async def client() -> AsyncIterator[SnmpClient]:
    c = await SnmpClient.create()
    yield c
    c.close()


HANDMADE_NAMES = sorted(p.stem for p in HANDMADE.glob("*.snmprec"))


@pytest.mark.parametrize("name", shared_device_names() + HANDMADE_NAMES)
async def test_every_device_fits_80_columns(client: SnmpClient, snmpsim: Snmpsim,
                                            name: str) -> None:
    target = SnmpTarget(snmpsim.host, snmpsim.port,
                        SnmpCredentials(community=Secret(name)), timeout=2.0, retries=1)
    reading = await PrinterProbe(client).collect(target, device=name)
    assert reading.reachable, reading.error
    text = render(reading, width=80)
    assert_fits(text)
    bars = set()
    for s in reading.supplies:  # the state of a supply row is never cut
        row = next(line for line in text.splitlines() if line.startswith(f"  {s.index} "))
        assert s.state in row, row
        bars.add(display_width(row[: row.rindex("[")]))
    assert len(bars) <= 1, "supply bars not in one column (wide characters padded by count)"


def _supply(index: str, description: str, state: str = "ok", supply_class: str = "consumed",
            level: int = 50, percent: float | None = 50.0) -> Supply:
    return Supply(index=index, description=description, type="toner", supply_class=supply_class,
                  colour=None, unit="percent", level=level, capacity=100, percent=percent,
                  state=state, part_number=None)


def test_human_output_fits_with_every_fault_and_wide_text() -> None:
    faults = frozenset(mib.ERROR_BITS)  # what error state ffff decodes to
    reading = Reading(
        device="d", host="printer-with-a-rather-long-host-name.example.org", probe="snmp_printer",
        status="critical",
        identity=Identity(model="理光 MP C2503 多功能數位複合機 彩色雷射印表機 " * 2,
                          sys_name="名" * 60, serial="S" * 100),
        device_status="down", printer_status="other", faults=faults, error_state_hex="ffff",
        supplies=(_supply("1.1", "黑色碳粉" * 10, state="low", level=5, percent=5.0),
                  _supply("1.2", "Black Toner Cartridge " * 4, state="some_remaining",
                          level=-3, percent=None),
                  _supply("1.3", "廢棄碳粉", state="near_full", supply_class="filled",
                          level=5, percent=5.0),
                  _supply("1.10", "e\u0301" * 50)),
        trays=(Tray(index="1.1", description="紙匣" * 20, media="普通紙" * 5, level=0,
                    capacity=500, percent=0.0, state="empty", manual=False),),
        alerts=(Alert(index="1", severity="warning_binary_change_event", group="marker_supplies",
                      group_index=1, location=0,
                      code="marker_waste_toner_receptacle_almost_full",
                      description="廢棄碳粉即將滿了" * 5),),
        problems=tuple(f"問題 {n} " * 20 for n in range(3)),
    )
    text = render(reading, width=80)
    assert_fits(text)
    fault_text = " ".join(line for line in text.splitlines()
                          if line.startswith(("Faults:", "        ")))
    for name in mib.ERROR_BITS:  # wrapped, not cut
        assert name in fault_text, name
    assert "some_remaining" in text and "some_remaini…" not in text
    assert "near_full" in text
    for width in (40, 60, 100, 120):
        assert_fits(render(reading, width=width), width)


def test_filled_supply_row_says_percent_is_space_left() -> None:
    reading = Reading(device="d", host="h", probe="snmp_printer", faults=frozenset(),
                      supplies=(_supply("1.1", "Black Toner"),
                                _supply("1.2", "Waste Toner Box", state="near_full",
                                        supply_class="filled", level=5, percent=5.0)))
    rows = {line.split()[0]: line for line in render(reading, width=80).splitlines()
            if line.startswith("  1.")}
    assert "space left" in rows["1.2"] and "near_full" in rows["1.2"]
    assert "space left" not in rows["1.1"]


@pytest.mark.parametrize(("result", "status", "code"), [
    ("ok", "ok", 0), ("ok", "warning", 1), ("ok", "critical", 2), ("ok", "unknown", 3),
    ("malformed_answer", "unreachable", 3), ("timeout", "unreachable", 3),
    ("parse_error", "unknown", 3),
    # whatever status a reading carries, a poll that did not end ok is UNKNOWN to Nagios
    ("parse_error", "ok", 3), ("malformed_answer", "critical", 3),
])
def test_exit_code_follows_the_result_first(result: str, status: str, code: int) -> None:
    reading = Reading(device="d", host="h", probe="snmp_printer", result=result,  # type: ignore[arg-type]
                      status=status)  # type: ignore[arg-type]
    assert exit_code(reading) == code
