"""The benchmark scripts still run end to end at tiny sizes (real snmpd, snmpsim and
prometheus-snmp-exporter on loopback). Only "it ran and polled something" is asserted: speed
figures are reported by the scripts (docs/benchmarks.md), never asserted here."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bench.common import EXPORTER, SNMPD

ROOT = Path(__file__).resolve().parents[2]



@pytest.fixture(autouse=True, scope="module")
def _tools_installed(real_service: None) -> None:
    """scripts/install-deps.sh installs all of these; a missing one is a failure, not a skip."""
    missing = [p for p in (SNMPD, EXPORTER) if not os.path.exists(p)]
    if shutil.which("snmpsim-command-responder", path=str(Path(sys.executable).parent)) is None:
        missing.append("snmpsim-command-responder (venv)")
    assert not missing, f"not installed: {', '.join(missing)} (run scripts/install-deps.sh)"


def run_bench(module: str, out: Path, *args: str) -> dict[str, object]:
    """Run ``python -m bench.<module>``; on a hang, SIGTERM first so that the script's own
    ``finally`` stops the simulators and the exporter it started."""
    proc = subprocess.Popen([sys.executable, "-m", f"bench.{module}", *args, "--json", str(out)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        output, _ = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=15)
        pytest.fail(f"bench.{module} did not finish in 60 s:\n{output}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, output
    assert "polls per CPU-second" in output
    result: dict[str, object] = json.loads(out.read_text())
    return result


def completed(result: dict[str, object]) -> dict[str, int]:
    phases = result["phases"]
    assert isinstance(phases, list)
    return {p["name"]: p["ok"] for p in phases}


def test_printer_poll_runs(tmp_path: Path) -> None:
    result = run_bench("printer_poll", tmp_path / "poll.json", "--printers", "5", "--cycles", "1",
                       "--simulator", "snmpd", "--concurrency", "5")
    polls = completed(result)
    assert set(polls) == {"fleetwatch full", "fleetwatch dynamic", "snmp_exporter 0.21"}
    assert all(n > 0 for n in polls.values()), polls


def test_fleet_runs(tmp_path: Path) -> None:
    result = run_bench("fleet", tmp_path / "fleet.json", "--printers", "5", "--cycles", "1",
                       "--concurrency", "5", "--experiment", "gc-freeze,engine-register")
    polls = completed(result)
    assert set(polls) == {"fleetwatch", "fleetwatch +gc-freeze+engine-register",
                          "snmp_exporter 0.21"}
    assert all(n > 0 for n in polls.values()), polls


def test_printer_poll_on_snmpsim(tmp_path: Path) -> None:
    result = run_bench("printer_poll", tmp_path / "sim.json", "--printers", "5", "--cycles", "1",
                       "--skip-dynamic", "--skip-exporter")
    assert completed(result)["fleetwatch full"] > 0
