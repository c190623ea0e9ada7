"""A real ``fleetwatch-agent`` process, a real ``fleetwatch collector`` process and a real influxd.

Reports land; with the collector stopped the agent queues them on disk and sends them when it is
back; the agent is SIGKILLed while a send is in flight (the collector frozen with SIGSTOP, so the
request sits unanswered) and restarted. At the end every report the agent queued is stored once:
in the collector's (agent, seq) table and as one point in InfluxDB.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from collector.demo import Influxd, free_port

ROOT = Path(__file__).resolve().parents[2]
SECRET = "e2e-secret"
HOST = "e2e-pc"


def wait_for(what: str, check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


class Collector:
    def __init__(self, tmp: Path, influxd: Influxd, db: str) -> None:
        self.port = free_port()
        self.config = tmp / "collector.yaml"
        self.config.write_text(
            f"collector: {{listen: 127.0.0.1:{self.port}, state_dir: '{tmp / 'state'}'}}\n"
            f"storage: {{backend: influxdb_v1, url: '{influxd.url}', database: {db},"
            " flush_interval: 200ms}\n"
            "auth: {public_read: true}\n"  # (the test reads /api/v1/agents without a login)
            "devices: []\n")
        self.log = tmp / "collector.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "FLEETWATCH_ENROLL_SECRET": SECRET, "PYTHONPATH": str(ROOT)}
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "collector.cli", "collector", "--config",
                 str(self.config)], stdout=out, stderr=subprocess.STDOUT, env=env)
        wait_for("the collector to listen", lambda: self.agents() is not None)

    def stop(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(30) == 0, self.log.read_text()

    def agents(self) -> list[dict[str, Any]] | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/v1/agents",
                                        timeout=2) as r:
                agents: list[dict[str, Any]] = json.load(r)["agents"]
                return agents
        except OSError:
            return None

    def reports(self) -> int:
        agents = self.agents() or []
        return sum(a["reports"] for a in agents)


class AgentProcess:
    def __init__(self, tmp: Path, url: str) -> None:
        self.state = tmp / "agent-state"
        (tmp / "secret").write_text(SECRET)
        self.args = [sys.executable, "-m", "agent", "--collector-url", url, "--interval", "1",
                     "--state-dir", str(self.state), "--enroll-secret-file",
                     str(tmp / "secret"), "--hostname", HOST, "--log-level", "DEBUG"]
        self.log = tmp / "agent.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(self.args, stdout=out, stderr=subprocess.STDOUT,
                                         env={**os.environ, "PYTHONPATH": str(ROOT)})

    def queued(self) -> int:
        return len(list((self.state / "queue").glob("*.json")))

    def logged_seqs(self) -> set[int]:
        return {int(m) for m in re.findall(r"queued report (\d+)", self.log.read_text())}


@pytest.fixture()
def procs(tmp_path: Path, influxd: Influxd) -> Iterator[tuple[Collector, AgentProcess, str]]:
    db = f"agent_e2e_{uuid.uuid4().hex[:8]}"
    collector = Collector(tmp_path, influxd, db)
    agent = AgentProcess(tmp_path, f"http://127.0.0.1:{collector.port}")
    try:
        yield collector, agent, db
    finally:
        for p in (agent.proc, collector.proc):
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGCONT)
                p.kill()
                p.wait()


def influx_seqs(influxd: Influxd, db: str) -> list[int]:
    result: Any = influxd.query(f"SELECT seq FROM host_system WHERE device = '{HOST}'", db=db)
    series = result["results"][0].get("series", [])
    return sorted(int(v[1]) for s in series for v in s["values"])


def test_every_report_arrives_exactly_once(procs: tuple[Collector, AgentProcess, str],
                                           influxd: Influxd) -> None:
    collector, agent, db = procs
    collector.start()
    agent.start()
    wait_for("3 reports", lambda: collector.reports() >= 3)

    # the collector goes away: the agent queues on disk
    collector.stop()
    wait_for("the agent to queue 3 reports", lambda: agent.queued() >= 3)
    collector.start()
    wait_for("the queue to drain", lambda: agent.queued() == 0)

    # freeze the collector so that a send hangs unanswered, then SIGKILL the agent mid-send
    assert collector.proc is not None and agent.proc is not None
    collector.proc.send_signal(signal.SIGSTOP)
    time.sleep(2.5)  # a report is queued and its POST is in flight
    agent.proc.kill()
    agent.proc.wait()
    collector.proc.send_signal(signal.SIGCONT)
    in_flight = agent.queued()
    assert in_flight >= 1  # the POST was never answered: still queued
    target = collector.reports() + in_flight + 2
    agent.start()
    wait_for("a few more reports", lambda: collector.reports() >= target)
    agent.proc.send_signal(signal.SIGTERM)
    assert agent.proc.wait(30) == 0, agent.log.read_text()[-2000:]
    assert agent.queued() == 0  # sent before it stopped

    logged = agent.logged_seqs()
    [row] = collector.agents() or []
    assert row["reports"] >= len(logged)
    collector.stop()  # flushes InfluxDB

    stored = influx_seqs(influxd, db)
    assert len(stored) == len(set(stored)) == row["reports"]  # once each
    assert logged <= set(stored), sorted(logged - set(stored))  # none lost
    # When the frozen collector read the killed agent's request and stored it, the restarted
    # agent's resend is a duplicate, recognised and not stored twice (the counts above). Whether
    # the request was read before the kill depends on timing: since the request gate and the
    # accounts middleware were merged it is often not, so the duplicate itself is not asserted
    # here (tests/collector/ingest/test_api.py sends one on purpose).


def test_host_appears_in_the_asset_list(procs: tuple[Collector, AgentProcess, str]) -> None:
    """The real agent's inventory (its first report carries one) reaches /assets.csv: the row of
    its host says what the agent reported, as the collector's agents API shows it."""
    collector, agent, _ = procs
    collector.start()
    agent.start()
    wait_for("a report with an inventory",
             lambda: any(a.get("inventory") for a in collector.agents() or []))
    [row] = collector.agents() or []
    inv = row["inventory"]
    with urllib.request.urlopen(f"http://127.0.0.1:{collector.port}/assets.csv",
                                timeout=5) as r:
        text = r.read().decode()
    rows = {r["device"]: r for r in csv.DictReader(io.StringIO(text))}
    host = rows[HOST]
    assert host["kind"] == "workstation" and host["last_seen"]
    assert host["os"] == " ".join(x for x in (inv.get("os"), inv.get("os_release")) if x)
    assert host["mac"] == " ".join(inv.get("macs", []))
    assert host["serial"] == inv.get("serial", "") and host["model"] == inv.get("model", "")
    if inv.get("cpu_cores") is not None:
        assert f"{inv['cpu_cores']} cores" in host["hardware"]
    for ip in inv.get("ips", []):
        assert ip in host["ip"].split()
