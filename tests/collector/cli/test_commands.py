"""The ``fleetwatch`` commands as a new user meets them: real subprocesses, real ports on
127.0.0.1, real snmpsim and influxd. A busy port, a closed pipe, a closed terminal and a killed
demo each end in one line and nothing left running."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from collector.cli.render import display_width, render
from collector.demo import Snmpsim, free_port
from probes.model import Reading
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[3]
EXE = [sys.executable, "-m", "collector.cli"]


def fleetwatch(*args: str, env: dict[str, str] | None = None, timeout: float = 60,
               ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*EXE, *args], capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT, env={**os.environ, **(env or {})})


def into_closed_pipe(*args: str, env: dict[str, str] | None = None
                     ) -> subprocess.CompletedProcess[str]:
    """Run with stdout a pipe whose reader has gone, as ``fleetwatch ... | head -1`` is once
    ``head`` has its line (closed first, so that every write fails, not only a late one)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run([*EXE, *args], stdout=write_end, stderr=subprocess.PIPE,
                              text=True, timeout=60, cwd=ROOT, env={**os.environ, **(env or {})})
    finally:
        os.close(write_end)


@pytest.fixture()
def busy_tcp() -> Iterator[int]:
    """A port on 127.0.0.1 that something else is listening on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.fixture()
def busy_udp() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


# reads and changes need a login or a token since issue 13: the shared collector.api_token
TOKEN = "cli-test-token"


def get(url: str) -> bytes:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=5) as resp:
        body: bytes = resp.read()
        return body


def wait_until_up(url: str, proc: subprocess.Popen[str], timeout: float = 30) -> None:
    def answers() -> bool:
        assert proc.poll() is None, proc.communicate()
        try:
            get(url)
        except OSError:
            return False
        return True

    wait_until(answers, timeout=timeout, interval=0.2, message=f"{url} answers")


# --- the collector command ---------------------------------------------------------------------
def collector_config(tmp_path: Path, port: int) -> Path:
    config = tmp_path / "fleet.yaml"
    config.write_text(f"collector: {{listen: 127.0.0.1:{port}, state_dir: state, "
                      f"api_token: {TOKEN}}}\nstorage: {{backend: none}}\ndevices: []\n")
    return config


@pytest.fixture()
def collector(real_service: None, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """A running ``fleetwatch collector`` (no devices, no storage) and its URL."""
    port = free_port()
    proc = subprocess.Popen([*EXE, "collector", "--config", str(collector_config(tmp_path, port))],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url + "/api/v1/health", proc)
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


@pytest.mark.service  # a collector subprocess
def test_collector_on_a_busy_port_says_so_in_one_line(tmp_path: Path, busy_tcp: int) -> None:
    proc = fleetwatch("collector", "--config", str(collector_config(tmp_path, busy_tcp)),
                      timeout=30)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [
        f"fleetwatch collector: cannot listen on 127.0.0.1:{busy_tcp} (collector.listen): "
        "address already in use"]
    assert not (tmp_path / "state").exists()  # refused before it started anything


def test_collector_stops_cleanly_on_sighup(
        collector: tuple[subprocess.Popen[str], str]) -> None:
    proc, _ = collector
    proc.send_signal(signal.SIGHUP)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert "Traceback" not in out


# --- output into a closed pipe (`fleetwatch ... | head -1`) ----------------------------------
def test_help_into_closed_pipe_is_quiet() -> None:
    # (A guard rather than a fix: argparse's help printer already ignores a closed pipe; exit 0.)
    for args in (["--help"], ["tickets", "list", "--help"], ["check", "--help"]):
        proc = into_closed_pipe(*args)
        assert (proc.returncode, proc.stderr) == (0, ""), args


def test_check_into_closed_pipe_is_quiet(snmpsim: Snmpsim) -> None:
    for extra in ((), ("--json",)):
        proc = into_closed_pipe("check", snmpsim.host, "--port", str(snmpsim.port),
                                "--community", "handmade_jam", *extra)
        assert (proc.returncode, proc.stderr) == (1, "")


def test_tickets_list_into_closed_pipe_is_quiet(
        collector: tuple[subprocess.Popen[str], str]) -> None:
    _, url = collector
    env = {"FLEETWATCH_URL": url, "FLEETWATCH_API_TOKEN": TOKEN}
    assert fleetwatch("tickets", "create", "Toner for room 12", env=env).returncode == 0
    proc = into_closed_pipe("tickets", "list", env=env)
    assert (proc.returncode, proc.stderr) == (1, "")


# --- tickets comment -m ------------------------------------------------------------------------
def test_tickets_comment_takes_m_like_ack(collector: tuple[subprocess.Popen[str], str]) -> None:
    _, url = collector
    env = {"FLEETWATCH_URL": url, "USER": "carol", "FLEETWATCH_API_TOKEN": TOKEN}
    made = fleetwatch("tickets", "create", "Jam in tray 2", "--json", env=env)
    ticket = json.loads(made.stdout)["ticket"]["id"]
    for args in (["-m", "on my way"], ["--message", "fixed the roller"], ["positional text"]):
        proc = fleetwatch("tickets", "comment", str(ticket), *args, env=env)
        assert proc.returncode == 0, proc.stderr
    shown = fleetwatch("tickets", "show", str(ticket), env=env).stdout
    for text in ("on my way", "fixed the roller", "positional text"):
        assert text in shown
    for args in ([], ["text", "-m", "and more"]):
        proc = fleetwatch("tickets", "comment", str(ticket), *args, env=env)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) <= 3, proc.stderr  # usage + one line


# --- check's hints are wrapped, not cut -------------------------------------------------------
def test_wrong_community_hint_is_wrapped_whole(snmpsim: Snmpsim) -> None:
    proc = fleetwatch("check", snmpsim.host, "--port", str(snmpsim.port), "--community",
                      "wrong", "--timeout", "0.2", "--retries", "0", env={"COLUMNS": "80"})
    assert proc.returncode == 3
    lines = proc.stdout.splitlines()
    assert all(display_width(line) <= 80 for line in lines), lines
    assert "…" not in proc.stdout
    text = " ".join(line.strip() for line in lines)
    assert "device off, wrong address, or wrong community/credentials)" in text


def test_long_problems_wrap_under_their_bullet() -> None:
    problem = "Yellow Toner Cartridge HP 415A (W2032A) is low (4% left): order a " \
              "replacement before it runs out during the quarterly report print run"
    reading = Reading(device="p1", host="10.1.0.21", probe="snmp_printer", status="warning",
                      problems=(problem,))
    lines = render(reading, width=60).splitlines()
    at = next(n for n, line in enumerate(lines) if line.startswith("  - "))
    wrapped = [lines[at]] + [line for line in lines[at + 1:] if line.startswith("    ")]
    assert all(display_width(line) <= 60 for line in lines), lines
    assert " ".join(line.strip() for line in wrapped) == "- " + problem


# --- the demo ----------------------------------------------------------------------------------
def demo_config(tmp_path: Path, listen: int, influx: int, snmp: int) -> Path:
    config = tmp_path / "demo.yaml"
    config.write_text(
        f"collector: {{listen: 127.0.0.1:{listen}, state_dir: state}}\n"
        f"storage: {{backend: influxdb_v1, url: 'http://127.0.0.1:{influx}', database: demo,"
        " flush_interval: 2s}\n"
        "devices:\n"
        f"  - {{name: t-01, host: 127.0.0.1, port: {snmp}, community: t-01, kind: printer,"
        " probes: [{kind: snmp_printer, interval: 15s, timeout: 2s}]}\n")
    return config


def children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found |= {int(p) for p in (task / "children").read_text().split()}
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_gone(pids: set[int], timeout: float = 30) -> set[int]:
    """Those of ``pids`` still alive after waiting up to ``timeout`` s for all to end."""
    with contextlib.suppress(TimeoutError):
        wait_until(lambda: not any(alive(p) for p in pids), timeout=timeout, interval=0.2)
    return {p for p in pids if alive(p)}


@pytest.fixture()
def demo(real_service: None, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], set[int], list[str]]]:
    """A running ``fleetwatch demo`` with one simulated printer on free ports: the process, the
    processes it started (influxd, snmpsim) and the lines it printed so far."""
    config = demo_config(tmp_path, free_port(), free_port(), free_port("udp"))
    proc = subprocess.Popen([*EXE, "demo", "--config", str(config)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    assert proc.stdout is not None
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "demo is running" in line:
                ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    started: set[int] = set()
    try:
        assert ready.wait(90), "".join(lines)
        started = children(proc.pid)
        assert len(started) == 3, started  # influxd, snmpsim and the real workstation agent
        yield proc, started, lines
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for pid in started:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        reader.join(10)


def test_demo_stops_everything_on_sighup(
        demo: tuple[subprocess.Popen[str], set[int], list[str]]) -> None:
    proc, started, lines = demo
    proc.send_signal(signal.SIGHUP)  # the terminal was closed
    assert proc.wait(60) == 0, "".join(lines)
    assert not wait_gone(started, timeout=5)
    assert "Traceback" not in "".join(lines)


def test_demo_processes_die_with_a_killed_demo(
        demo: tuple[subprocess.Popen[str], set[int], list[str]]) -> None:
    proc, started, _ = demo
    proc.kill()
    proc.wait(10)
    assert not wait_gone(started)


@pytest.mark.service  # a demo subprocess (which must start nothing more)
@pytest.mark.parametrize("busy", ["listen", "influx", "snmp"])
def test_demo_refuses_busy_ports_before_starting_anything(
        tmp_path: Path, busy_tcp: int, busy_udp: int, busy: str) -> None:
    ports = {"listen": free_port(), "influx": free_port(), "snmp": free_port("udp"),
             busy: busy_udp if busy == "snmp" else busy_tcp}
    proc = subprocess.Popen([*EXE, "demo", "--config", str(demo_config(tmp_path, **ports))],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    spawned: set[int] = set()
    deadline = time.monotonic() + 30
    while proc.poll() is None and time.monotonic() < deadline:  # note whatever it starts
        with contextlib.suppress(OSError):
            spawned |= children(proc.pid)
        time.sleep(0.05)
    out, err = proc.communicate(timeout=60)
    for pid in spawned:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
    assert proc.returncode == 2, out + err
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    assert err.startswith("fleetwatch demo: ")
    assert f"127.0.0.1:{ports[busy]}" in err
    assert {"listen": "collector.listen", "influx": "storage.url", "snmp": "t-01"}[busy] in err
    assert not spawned
