"""The optional uvloop event loop (``fast`` extra): chosen by FLEETWATCH_EVENT_LOOP, and the
collector and ``fleetwatch check`` work on either loop through the real path (subprocesses,
snmpsim)."""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from collector.demo import Snmpsim, free_port
from probes import eventloop
from probes.eventloop import EventLoopError, chosen, loop_name

ROOT = Path(__file__).resolve().parents[2]
EXE = [sys.executable, "-m", "collector.cli"]


def test_auto_prefers_uvloop_when_installed() -> None:
    assert chosen("auto") == ("uvloop" if eventloop._uvloop() else "asyncio")
    assert chosen("") == chosen("auto")
    assert chosen("asyncio") == "asyncio"
    assert chosen(" UVLOOP ") == "uvloop"  # the test extra installs uvloop


def test_unknown_loop_is_a_clear_error() -> None:
    with pytest.raises(EventLoopError, match="FLEETWATCH_EVENT_LOOP='tokio': choose one of"):
        chosen("tokio")


def test_missing_uvloop_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(eventloop, "_uvloop", lambda: None)
    assert chosen("auto") == "asyncio"
    with pytest.raises(EventLoopError, match=r"pip install 'fleetwatch\[fast\]'"):
        chosen("uvloop")


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_run_uses_the_chosen_loop(monkeypatch: pytest.MonkeyPatch, loop: str) -> None:
    monkeypatch.setenv("FLEETWATCH_EVENT_LOOP", loop)

    async def which() -> str:
        return loop_name()

    # (run in a thread: pytest-asyncio's own loop is running in this one)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        assert pool.submit(eventloop.run, which()).result() == loop


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_collector_polls_on_either_loop(tmp_path: Path, snmpsim: Snmpsim, loop: str) -> None:
    port = free_port()
    config = tmp_path / "fleet.yaml"
    config.write_text(
        f"collector: {{listen: 127.0.0.1:{port}, state_dir: state, jitter: 0}}\n"
        "storage: {backend: none}\nauth: {public_read: true}\n"
        f"devices:\n  - {{name: jam, host: {snmpsim.host}, port: {snmpsim.port}, "
        "community: handmade_jam, kind: printer}\n")
    env = {**os.environ, "FLEETWATCH_EVENT_LOOP": loop}
    proc = subprocess.Popen([*EXE, "collector", "--config", str(config)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        device: dict[str, Any] = {}
        while time.monotonic() < deadline and device.get("status") != "critical":
            assert proc.poll() is None, proc.communicate()
            with contextlib.suppress(OSError):
                device = _get(f"http://127.0.0.1:{port}/api/v1/devices/jam")
            time.sleep(0.2)
        assert device.get("status") == "critical", device  # polled over SNMP: the jam
        assert "jammed" in device["readings"]["snmp_printer"]["faults"]
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert f"(event loop: {loop})" in out


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_check_on_either_loop(snmpsim: Snmpsim, loop: str) -> None:
    proc = subprocess.run([*EXE, "check", snmpsim.host, "--port", str(snmpsim.port),
                           "--community", "handmade_jam", "--json"], capture_output=True,
                          text=True, timeout=60, cwd=ROOT,
                          env={**os.environ, "FLEETWATCH_EVENT_LOOP": loop})
    assert proc.returncode == 2, proc.stderr
    assert "jammed" in json.loads(proc.stdout)["faults"]


def test_check_with_a_bad_loop_name_is_one_line(snmpsim: Snmpsim) -> None:
    proc = subprocess.run([*EXE, "check", snmpsim.host, "--port", str(snmpsim.port)],
                          capture_output=True, text=True, timeout=60, cwd=ROOT,
                          env={**os.environ, "FLEETWATCH_EVENT_LOOP": "tokio"})
    assert proc.returncode == 3
    assert proc.stderr.splitlines() == [
        "fleetwatch check: FLEETWATCH_EVENT_LOOP='tokio': choose one of auto, asyncio, uvloop"]
