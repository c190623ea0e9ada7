"""`fleetwatch check` end to end: the real console script against snmpsim over UDP."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from collector.lab import Snmpsim, free_port
from tests.conftest import V3_USER, expected, requires_shared, shared_device_names

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
    ("handmade_switch", 3, "unknown"),
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


def test_unreachable_host_one_line_reason() -> None:
    port = free_port("udp")  # nothing listens there
    proc = run("127.0.0.1", "--port", str(port), "--timeout", "0.2", "--retries", "0", "--json")
    assert proc.returncode == 3 and "Traceback" not in proc.stderr
    data = json.loads(proc.stdout)
    assert data["reachable"] is False and data["status"] == "unreachable"
    assert data["error"].startswith("timeout") and "\n" not in data["error"]


def test_wrong_community_human(snmpsim: Snmpsim) -> None:
    proc = run(snmpsim.host, "--port", str(snmpsim.port), "--community", "wrong",
               "--timeout", "0.2", "--retries", "0")
    assert proc.returncode == 3
    assert "UNREACHABLE" in proc.stdout and "timeout" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_unresolvable_host() -> None:
    proc = run("no-such-host.invalid", "--timeout", "0.2", "--json")
    assert proc.returncode == 3 and "Traceback" not in proc.stderr
    assert json.loads(proc.stdout)["error"].startswith("bad_address")


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
    assert len(proc.stdout.strip().splitlines()) == 2  # header + one-line reason


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
    ["--v3-user", "u", "--auth-key", "short"],
    ["--timeout", "0"],
    ["--port", "70000"],
])
def test_bad_arguments_are_one_line(args: list[str]) -> None:
    proc = run("127.0.0.1", *args)
    assert proc.returncode == 3
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
